import { render } from "preact";
import { AppShell, type AppShellProps } from "./AppShell";
import { PRODUCT_NAME, type AppId } from "./apps";
import { pageTitle, startBranding } from "./branding";

/** Renders an app into #app (as laid out in apps/<app>/index.html). */
export function mountApp(app: AppId, props: Omit<AppShellProps, "app"> = {}): void {
  const root = document.getElementById("app");
  if (!root) throw new Error(`${PRODUCT_NAME} ${app}: no #app element in the page`);
  document.body.dataset["app"] = app;
  document.title = pageTitle(app, undefined, props.title);
  void startBranding(app);
  render(<AppShell app={app} {...props} />, root);
}
