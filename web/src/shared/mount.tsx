import { render } from "preact";
import { AppShell, type AppShellProps } from "./AppShell";
import { APP_TITLES, PRODUCT_NAME, type AppId } from "./apps";

/** Renders an app into #app (as laid out in apps/<app>/index.html). */
export function mountApp(app: AppId, props: Omit<AppShellProps, "app"> = {}): void {
  const root = document.getElementById("app");
  if (!root) throw new Error(`${PRODUCT_NAME} ${app}: no #app element in the page`);
  document.body.dataset["app"] = app;
  document.title = `${PRODUCT_NAME} — ${props.title ?? APP_TITLES[app]}`;
  render(<AppShell app={app} {...props} />, root);
}
