import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { APP_IDS, APP_TITLES } from "./apps";

const webDir = path.resolve(import.meta.dirname, "..", "..");

describe.each(APP_IDS)("app %s", (app) => {
  const html = readFileSync(path.join(webDir, "apps", app, "index.html"), "utf8");

  it("has an HTML page fit for the CSP and for assistive technology", () => {
    expect(html).toMatch(/<html lang="en">/);
    expect(html).toContain(`<body data-app="${app}">`);
    expect(html).toContain('<div id="app"></div>');
    expect(html).toContain(`<title>HCW@Home — ${APP_TITLES[app]}</title>`);
    expect(html).not.toMatch(/<style\b/i);
    expect(html).not.toMatch(/\sstyle\s*=/i);
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    expect(scripts).toHaveLength(1);
    expect(scripts[0]?.[1]).toContain(`type="module" src="/src/${app}/main.tsx"`);
    expect(scripts[0]?.[2]?.trim()).toBe("");
  });

  it("has an entry module", () => {
    expect(existsSync(path.join(webDir, "src", app, "main.tsx"))).toBe(true);
  });
});
