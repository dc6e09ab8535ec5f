import "../shared/theme.css";
import "../shared/call.css";
import "./doctor.css";
import { render } from "preact";
import { PRODUCT_NAME } from "../shared/apps";
import { pageTitle, startBranding } from "../shared/branding";
import { chooseLanguage, setLanguage } from "../shared/i18n";
import { DoctorApp } from "./App";
import { DoctorAuth } from "./auth";

/** Starts the doctor app in #app: language, then a setup link, a session or the sign-in form. */
export async function startDoctorApp(root: HTMLElement | null = document.getElementById("app")): Promise<DoctorAuth> {
  if (!root) throw new Error(`${PRODUCT_NAME} doctor: no #app element in the page`);
  document.body.dataset["app"] = "doctor";
  document.title = pageTitle("doctor");
  // In parallel with the language; applied whenever it answers.
  void startBranding("doctor");
  await setLanguage(chooseLanguage());
  const auth = new DoctorAuth();
  render(<DoctorApp auth={auth} />, root);
  await auth.start(location.pathname, location.hash);
  return auth;
}

void startDoctorApp();
