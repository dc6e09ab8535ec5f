/**
 * The instance's branding in every app: product and clinic name, the two
 * colours, the logo and the languages offered to patients, from the public
 * GET /api/v1/branding, fetched once at start. Until it answers, and when it
 * fails, the built-in defaults stay (the failure is only logged at debug
 * level: the apps work the same without it).
 *
 * The colours become CSS custom properties on <html> (the CSSOM, which the
 * CSP's style-src 'self' allows): theme.css reads --hcw-brand-* with its
 * own values as fallbacks. The text on a colour is black or white, which
 * ever contrasts more by WCAG relative luminance, and the primary used for
 * text and buttons on the page is darkened when needed so that it keeps a
 * 4.5:1 contrast there (the header keeps the exact colour).
 */
import { signal, type ReadonlySignal } from "@preact/signals";
import { getJson, requireObject, type RequestOptions } from "./api";
import type { components } from "./api-schema";
import { APP_TITLES, PRODUCT_NAME, type AppId } from "./apps";
import { LANGUAGES, supportedLanguage, type Language } from "./i18n";

export interface Branding {
  productName: string;
  /** Empty when none is set. */
  clinicName: string;
  /** #rrggbb */
  primaryColor: string;
  /** #rrggbb */
  accentColor: string;
  /** Same-origin path of the logo, null without one. */
  logoUrl: string | null;
  /** The languages offered to patients, in the order to offer them (never empty). */
  languages: Language[];
}

export const DEFAULT_PRIMARY = "#0b5cad";
export const DEFAULT_ACCENT = "#f2a900";

export const DEFAULT_BRANDING: Readonly<Branding> = Object.freeze({
  productName: PRODUCT_NAME,
  clinicName: "",
  primaryColor: DEFAULT_PRIMARY,
  accentColor: DEFAULT_ACCENT,
  logoUrl: null,
  languages: [...LANGUAGES],
});

const brandingSig = signal<Branding>(DEFAULT_BRANDING);

/** The branding in force (the defaults until the API answers). */
export const branding: ReadonlySignal<Branding> = brandingSig;

// ---------------------------------------------------------------- colours

const HEX = /^#[0-9a-f]{6}$/i;

export function isHexColor(v: string): boolean {
  return HEX.test(v);
}

function channels(hex: string): [number, number, number] {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function toHex(rgb: readonly number[]): string {
  return `#${rgb.map((c) => Math.round(c).toString(16).padStart(2, "0")).join("")}`;
}

/** WCAG relative luminance of #rrggbb, 0 (black) to 1 (white). */
export function relativeLuminance(hex: string): number {
  const [r, g, b] = channels(hex).map((c) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG contrast ratio of two #rrggbb colours, 1 to 21. */
export function contrastRatio(a: string, b: string): number {
  const la = relativeLuminance(a);
  const lb = relativeLuminance(b);
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

/** Black or white, whichever is more readable on background. */
export function readableTextOn(background: string): "#000000" | "#ffffff" {
  return contrastRatio(background, "#ffffff") >= contrastRatio(background, "#000000") ? "#ffffff" : "#000000";
}

/** The page's background in the light theme (theme.css --hcw-color-bg), the darkest a primary text sits on. */
export const PAGE_BACKGROUND = "#f6f8fa";

/** color, darkened step by step towards black until it reaches min contrast on background. */
export function darkenForContrast(color: string, background = PAGE_BACKGROUND, min = 4.5): string {
  const rgb = channels(color);
  for (let k = 0; k <= 20; k++) {
    const c = toHex(rgb.map((v) => v * (1 - k / 20)));
    if (contrastRatio(c, background) >= min) return c;
  }
  return "#000000";
}

/** The custom properties that carry the branding's colours (read by theme.css). */
export function brandProperties(b: Pick<Branding, "primaryColor" | "accentColor">): Record<string, string> {
  const primary = isHexColor(b.primaryColor) ? b.primaryColor.toLowerCase() : DEFAULT_PRIMARY;
  const accent = isHexColor(b.accentColor) ? b.accentColor.toLowerCase() : DEFAULT_ACCENT;
  const ink = darkenForContrast(primary);
  return {
    "--hcw-brand-header": primary,
    "--hcw-brand-header-contrast": readableTextOn(primary),
    "--hcw-brand-primary": ink,
    "--hcw-brand-primary-contrast": readableTextOn(ink),
    "--hcw-brand-accent": accent,
  };
}

// ---------------------------------------------------------------- the API's answer

function text(v: unknown, fallback: string): string {
  return typeof v === "string" && v.trim() !== "" ? v.trim() : fallback;
}

function colour(v: unknown, fallback: string): string {
  return typeof v === "string" && isHexColor(v) ? v.toLowerCase() : fallback;
}

/** Reads GET /branding (the Branding schema), keeping a default for each field that is missing or malformed. */
export function parseBranding(body: unknown): Branding {
  const obj: Partial<Record<keyof components["schemas"]["Branding"], unknown>> = requireObject(body);
  const langs = Array.isArray(obj["languages"]) ? obj["languages"] : [];
  const languages = [...new Set(langs.map((l) => (typeof l === "string" ? supportedLanguage(l) : null)).filter((l): l is Language => l !== null))];
  const logo = obj["logo_url"];
  return {
    productName: text(obj["product_name"], PRODUCT_NAME),
    clinicName: text(obj["clinic_name"], ""),
    primaryColor: colour(obj["primary_color"], DEFAULT_PRIMARY),
    accentColor: colour(obj["accent_color"], DEFAULT_ACCENT),
    // Same origin only (the CSP would refuse any other anyway).
    logoUrl: typeof logo === "string" && logo.startsWith("/") && !logo.startsWith("//") ? logo : null,
    languages: languages.length > 0 ? languages : [...LANGUAGES],
  };
}

// ---------------------------------------------------------------- applying it

let currentApp: AppId | null = null;

/** The page title: "<product> — <app>". */
export function pageTitle(app: AppId, productName = brandingSig.value.productName, title = APP_TITLES[app]): string {
  return `${productName} — ${title}`;
}

/**
 * Puts b in force: the colours on <html>, the signal the shell and the
 * language menu read, and the page title of the app started.
 */
export function applyBranding(b: Branding, doc: Document | undefined = globalThis.document): void {
  brandingSig.value = b;
  if (!doc) return;
  const style = doc.documentElement.style;
  for (const [name, value] of Object.entries(brandProperties(b))) style.setProperty(name, value);
  if (currentApp) doc.title = pageTitle(currentApp, b.productName);
}

let started: Promise<Branding> | null = null;

/**
 * Fetches the branding once and applies it; later calls answer the same
 * promise. Never rejects: on failure the defaults stay.
 */
export function startBranding(app: AppId, options: RequestOptions = {}): Promise<Branding> {
  currentApp = app;
  started ??= getJson("/branding", parseBranding, options).then(
    (b) => {
      applyBranding(b);
      return b;
    },
    (err: unknown) => {
      console.debug("branding: keeping the built-in defaults", err);
      return brandingSig.value;
    },
  );
  return started;
}

/** For tests: the defaults again, nothing fetched, no properties on <html>. */
export function resetBrandingForTests(): void {
  started = null;
  currentApp = null;
  brandingSig.value = DEFAULT_BRANDING;
  const style = globalThis.document?.documentElement.style;
  if (style) for (const name of Object.keys(brandProperties(DEFAULT_BRANDING))) style.removeProperty(name);
}
