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

/** The rules of a stylesheet, each with the @media condition it sits in ("" at the top level). */
function cssRules(css: string): Array<{ media: string; selectors: string[]; decls: Map<string, string> }> {
  const src = css.replace(/\/\*[\s\S]*?\*\//g, "");
  const out: Array<{ media: string; selectors: string[]; decls: Map<string, string> }> = [];
  const walk = (text: string, media: string) => {
    let i = 0;
    while (i < text.length) {
      const open = text.indexOf("{", i);
      if (open < 0) return;
      const head = text.slice(i, open).trim();
      let depth = 1;
      let j = open + 1;
      while (j < text.length && depth > 0) {
        if (text[j] === "{") depth++;
        else if (text[j] === "}") depth--;
        j++;
      }
      const body = text.slice(open + 1, j - 1);
      if (head.startsWith("@media")) walk(body, head.slice("@media".length).trim());
      else if (!head.startsWith("@")) {
        const decls = new Map<string, string>();
        for (const d of body.split(";")) {
          const k = d.indexOf(":");
          if (k > 0) decls.set(d.slice(0, k).trim(), d.slice(k + 1).trim());
        }
        out.push({ media, selectors: head.split(",").map((s) => s.trim()), decls });
      }
      i = j;
    }
  };
  walk(src, "");
  return out;
}

describe("the call's layout (call.css)", () => {
  const rules = cssRules(readFileSync(path.join(webDir, "src", "shared", "call.css"), "utf8"));
  const PORTRAIT = "(max-width: 40rem) and (orientation: portrait)";
  const decl = (media: string, selector: string, prop: string) =>
    rules.filter((r) => r.media === media && r.selectors.includes(selector)).map((r) => r.decls.get(prop)).filter((v) => v !== undefined).at(-1);

  it("keeps the controls in the flow, below the pictures, at every width: never over a face", () => {
    const floating = rules.filter(
      (r) => r.selectors.some((s) => /hcw-call-(bar|button)/.test(s)) && /absolute|fixed|sticky/.test(r.decls.get("position") ?? ""),
    );
    expect(floating).toEqual([]);
    // Nothing is laid over the whole call (the one overlay, the self view, sits in a corner of the one-to-one stage).
    const overlays = rules.filter((r) => /absolute|fixed/.test(r.decls.get("position") ?? "")).flatMap((r) => r.selectors);
    expect(overlays.sort()).toEqual(
      [
        ".hcw-call-caption",
        ".hcw-call-placeholder",
        ".hcw-call-self",
        ".hcw-call-stage > .hcw-call-tile",
        ".hcw-call-gallery .hcw-call-muted-text", // visually hidden, inside the caption
        ".hcw-precall-nocamera",
      ].sort(),
    );
  });

  it("gives the self view its own tile in a gallery, not laid over someone", () => {
    expect(decl("", ".hcw-call-tile-self .hcw-call-self", "position")).toBe("static");
  });

  it("on a phone held upright: the stage leaves room for the bar, the gallery is a grid of upright tiles, a shared screen stays wide", () => {
    expect(rules.some((r) => r.media === PORTRAIT)).toBe(true);
    expect(decl(PORTRAIT, ".hcw-call-stage", "max-block-size")).toBe("60vh");
    expect(decl(PORTRAIT, ".hcw-call-gallery", "grid-template-columns")).toBe("repeat(2, minmax(0, 1fr))");
    expect(decl(PORTRAIT, ".hcw-call-gallery .hcw-call-tile", "aspect-ratio")).toBe("3 / 4");
    expect(decl(PORTRAIT, ".hcw-call-gallery-strip", "grid-template-columns")).toBe("repeat(3, minmax(0, 1fr))");
    // Names at the bottom of a tile, away from the face.
    expect(decl("", ".hcw-call-gallery .hcw-call-caption", "inset-block-end")).toBeDefined();
    expect(decl(PORTRAIT, ".hcw-call-stage.hcw-call-screen-stage", "aspect-ratio")).toBe("16 / 9");
    // A shared screen is never cropped.
    expect(decl("", ".hcw-call-screen", "object-fit")).toBe("contain");
  });

  it("lays the gallery out as a responsive grid", () => {
    expect(decl("", ".hcw-call-gallery", "display")).toBe("grid");
    expect(decl("", ".hcw-call-gallery", "grid-template-columns")).toMatch(/^repeat\(auto-fit, minmax\(/);
    expect(decl("", ".hcw-call-tile-speaking", "outline")).toMatch(/^4px solid/);
  });
});
