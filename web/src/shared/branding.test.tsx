// @vitest-environment happy-dom
import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { VersionInfo } from "./api";
import { AppShell } from "./AppShell";
import {
  applyBranding,
  branding,
  brandProperties,
  contrastRatio,
  darkenForContrast,
  DEFAULT_BRANDING,
  PAGE_BACKGROUND,
  parseBranding,
  readableTextOn,
  relativeLuminance,
  resetBrandingForTests,
  startBranding,
} from "./branding";
import { resetI18nForTests, setLanguage } from "./i18n";
import { LanguageMenu, offeredLanguages } from "./LanguageMenu";

let container: HTMLElement;

const BODY = {
  product_name: "CareLink",
  clinic_name: "Clinique du Lac",
  primary_color: "#FFCC00",
  accent_color: "#123456",
  logo_url: "/api/v1/branding/logo?v=0123456789abcdef",
  languages: ["fr", "en"],
};

function json(body: unknown, code = 200): Response {
  return new Response(JSON.stringify(body), { status: code, headers: { "Content-Type": "application/json" } });
}

const never = () => new Promise<VersionInfo>(() => {});

beforeEach(() => {
  resetI18nForTests();
  resetBrandingForTests();
  container = document.createElement("div");
  document.body.appendChild(container);
  document.title = "HCW@Home — Patient";
});

afterEach(() => {
  render(null, container);
  container.remove();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  resetBrandingForTests();
  resetI18nForTests();
});

describe("colours", () => {
  it("computes WCAG relative luminance and contrast", () => {
    expect(relativeLuminance("#000000")).toBe(0);
    expect(relativeLuminance("#ffffff")).toBeCloseTo(1, 10);
    expect(contrastRatio("#000000", "#ffffff")).toBeCloseTo(21, 5);
    expect(contrastRatio("#777777", "#ffffff")).toBeCloseTo(4.48, 2);
    expect(contrastRatio("#0b5cad", "#0b5cad")).toBe(1);
  });

  it("writes black or white on a colour, whichever contrasts more: always AA", () => {
    expect(readableTextOn("#0b5cad")).toBe("#ffffff"); // the default primary keeps its white text
    expect(readableTextOn("#ffcc00")).toBe("#000000");
    expect(readableTextOn("#00ff00")).toBe("#000000");
    expect(readableTextOn("#7f0000")).toBe("#ffffff");
    for (let v = 0; v < 256; v += 5) {
      for (const c of [`#${v.toString(16).padStart(2, "0").repeat(3)}`, `#${v.toString(16).padStart(2, "0")}8040`]) {
        expect(contrastRatio(c, readableTextOn(c)), c).toBeGreaterThanOrEqual(4.5);
      }
    }
  });

  it("darkens a light primary for the page's text, and leaves a dark one alone", () => {
    expect(darkenForContrast("#0b5cad")).toBe("#0b5cad");
    const ink = darkenForContrast("#ffcc00");
    expect(ink).not.toBe("#ffcc00");
    expect(contrastRatio(ink, PAGE_BACKGROUND)).toBeGreaterThanOrEqual(4.5);
    expect(contrastRatio(ink, readableTextOn(ink))).toBeGreaterThanOrEqual(4.5);
    expect(brandProperties({ primaryColor: "#FFCC00", accentColor: "#123456" })).toEqual({
      "--hcw-brand-header": "#ffcc00",
      "--hcw-brand-header-contrast": "#000000",
      "--hcw-brand-primary": ink,
      "--hcw-brand-primary-contrast": "#ffffff",
      "--hcw-brand-accent": "#123456",
    });
  });
});

describe("the API's branding", () => {
  it("is read with a default for each missing or malformed field", () => {
    expect(parseBranding(BODY)).toEqual({
      productName: "CareLink",
      clinicName: "Clinique du Lac",
      primaryColor: "#ffcc00",
      accentColor: "#123456",
      logoUrl: BODY.logo_url,
      languages: ["fr", "en"],
    });
    expect(parseBranding({ product_name: " ", primary_color: "red", logo_url: "https://evil.example/x.png", languages: ["xx"] })).toEqual({
      ...DEFAULT_BRANDING,
    });
    expect(parseBranding({ logo_url: "//evil.example/x.png", languages: ["de-CH", "de", "ar"] })).toMatchObject({ logoUrl: null, languages: ["de", "ar"] });
    expect(() => parseBranding([])).toThrow();
  });

  it("is fetched once, then sets the colours, the title and the signal", async () => {
    const fetch = vi.fn(async () => json(BODY));
    vi.stubGlobal("fetch", fetch);
    const [a, b] = [startBranding("patient"), startBranding("patient")];
    expect(await a).toEqual(await b);
    await startBranding("patient");
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(fetch).toHaveBeenCalledWith("/api/v1/branding", expect.objectContaining({ method: "GET" }));
    const style = document.documentElement.style;
    expect(style.getPropertyValue("--hcw-brand-header")).toBe("#ffcc00");
    expect(style.getPropertyValue("--hcw-brand-header-contrast")).toBe("#000000");
    expect(style.getPropertyValue("--hcw-brand-accent")).toBe("#123456");
    expect(document.title).toBe("CareLink — Patient");
    expect(branding.value.productName).toBe("CareLink");
  });

  it("keeps the built-in defaults when it fails, saying so only at debug level", async () => {
    const debug = vi.spyOn(console, "debug").mockImplementation(() => undefined);
    const error = vi.spyOn(console, "error");
    vi.stubGlobal("fetch", vi.fn(async () => json({ error: { code: "unavailable", message: "settings unavailable" } }, 503)));
    expect(await startBranding("doctor")).toEqual(DEFAULT_BRANDING);
    expect(branding.value).toEqual(DEFAULT_BRANDING);
    expect(document.documentElement.style.getPropertyValue("--hcw-brand-header")).toBe("");
    expect(document.title).toBe("HCW@Home — Patient");
    expect(debug).toHaveBeenCalledTimes(1);
    expect(error).not.toHaveBeenCalled();

    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new TypeError("offline"))));
    resetBrandingForTests();
    expect(await startBranding("doctor")).toEqual(DEFAULT_BRANDING);
    expect(debug).toHaveBeenCalledTimes(2);
  });
});

describe("the shell's header", () => {
  it("shows the built-in product name by default, without a logo", async () => {
    await act(() => render(<AppShell app="patient" loadVersion={never} />, container));
    expect(container.querySelector(".hcw-brand")!.textContent).toBe("HCW@Home");
    expect(container.querySelector(".hcw-logo")).toBeNull();
  });

  it("shows the logo named by the clinic, the product and the clinic", async () => {
    await act(() => render(<AppShell app="patient" loadVersion={never} />, container));
    await act(() => applyBranding(parseBranding(BODY)));
    const logo = container.querySelector<HTMLImageElement>("header img.hcw-logo")!;
    expect(logo.getAttribute("src")).toBe(BODY.logo_url);
    expect(logo.alt).toBe("Clinique du Lac");
    expect(container.querySelector(".hcw-brand-name")!.textContent).toBe("CareLink");
    expect(container.querySelector(".hcw-brand-clinic")!.textContent).toBe("Clinique du Lac");

    // No clinic: the logo is named by the product.
    await act(() => applyBranding(parseBranding({ ...BODY, clinic_name: "" })));
    expect(container.querySelector<HTMLImageElement>("header img")!.alt).toBe("CareLink");
    expect(container.querySelector(".hcw-brand-clinic")).toBeNull();
  });
});

describe("language menu", () => {
  it("offers the clinic's languages in its order, always with the current one", () => {
    expect(offeredLanguages("en", ["fr", "en"])).toEqual(["fr", "en"]);
    expect(offeredLanguages("de", ["fr", "en"])).toEqual(["fr", "en", "de"]);
    expect(offeredLanguages("en", ["fr", "fr-CH", "xx"])).toEqual(["fr", "en"]);
    expect(offeredLanguages("en", [])).toEqual(["en", "fr", "de", "es", "it", "ar"]);
  });

  const options = () => [...container.querySelectorAll("#hcw-language-select option")].map((o) => (o as HTMLOptionElement).value);

  it("in the patient app, follows the branding; staff apps offer every language", async () => {
    await act(() => render(<LanguageMenu brandLanguages />, container));
    expect(options()).toEqual(["en", "fr", "de", "es", "it", "ar"]);
    await act(() => applyBranding(parseBranding({ ...BODY, languages: ["fr", "it"] })));
    expect(options()).toEqual(["fr", "it", "en"]); // English is the current language: kept
    await act(async () => void (await setLanguage("it")));
    expect(options()).toEqual(["fr", "it"]);
    expect(container.querySelector<HTMLSelectElement>("#hcw-language-select")!.value).toBe("it");

    render(null, container);
    await act(() => render(<LanguageMenu />, container));
    expect(options()).toEqual(["en", "fr", "de", "es", "it", "ar"]);
  });

  it("is left out when there is nothing to choose", async () => {
    await act(() => applyBranding(parseBranding({ ...BODY, languages: ["en"] })));
    await act(() => render(<LanguageMenu brandLanguages />, container));
    expect(container.querySelector("#hcw-language-select")).toBeNull();
  });
});
