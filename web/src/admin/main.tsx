import "../shared/theme.css";
import "../shared/call.css";
import "./admin.css";
import { render } from "preact";
import { PRODUCT_NAME } from "../shared/apps";
import { pageTitle, startBranding } from "../shared/branding";
import { chooseLanguage, setLanguage } from "../shared/i18n";
import { DoctorAuth } from "../doctor/auth";
import { AdminApp } from "./App";

/** Starts the admin app in #app: language, then a setup link, a session or the sign-in form. */
export async function startAdminApp(root: HTMLElement | null = document.getElementById("app")): Promise<DoctorAuth> {
  if (!root) throw new Error(`${PRODUCT_NAME} admin: no #app element in the page`);
  document.body.dataset["app"] = "admin";
  document.title = pageTitle("admin");
  // In parallel with the language; applied whenever it answers.
  void startBranding("admin");
  await setLanguage(chooseLanguage());
  // The same sign-in steps and /api/v1/auth routes as the doctor app.
  const auth = new DoctorAuth();
  render(<AdminApp auth={auth} />, root);
  await auth.start(location.pathname, location.hash);
  return auth;
}

void startAdminApp();
