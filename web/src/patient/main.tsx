import "../shared/theme.css";
import "../shared/call.css";
import "./patient.css";
import { render } from "preact";
import { PRODUCT_NAME } from "../shared/apps";
import { pageTitle, startBranding } from "../shared/branding";
import { chooseLanguage, setLanguage } from "../shared/i18n";
import { PatientApp } from "./App";
import { PatientFlow } from "./flow";

/** Starts the patient app in #app: language first, then the screen the path asks for. */
export async function startPatientApp(root: HTMLElement | null = document.getElementById("app")): Promise<PatientFlow> {
  if (!root) throw new Error(`${PRODUCT_NAME} patient: no #app element in the page`);
  document.body.dataset["app"] = "patient";
  document.title = pageTitle("patient");
  // In parallel with the language; applied whenever it answers.
  void startBranding("patient");
  await setLanguage(chooseLanguage());
  const flow = new PatientFlow();
  render(<PatientApp flow={flow} />, root);
  await flow.start(location.pathname);
  return flow;
}

void startPatientApp();
