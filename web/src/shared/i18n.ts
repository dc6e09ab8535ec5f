/**
 * A small i18n layer: message catalogues per language (src/shared/i18n/<lang>.json,
 * nested objects of strings), `t(key, params)` with {name} placeholders and
 * plurals through Intl.PluralRules, dates and times through
 * Intl.DateTimeFormat in a given time zone, and the page's lang and dir.
 *
 * English is bundled (it is also the fallback of a missing key); the other
 * catalogues are separate chunks loaded when chosen. `t` reads signals, so a
 * component that calls it re-renders when the language changes.
 *
 * A plural message is an object whose keys are CLDR plural categories and
 * that has "other": {"one": "{count} minute", "other": "{count} minutes"};
 * t picks the form with params.count. src/shared/i18n.test.ts fails when a
 * key used in src/ is missing from a catalogue, when the catalogues' keys
 * differ, or when a plural lacks a form its language needs.
 */
import { computed, signal, type ReadonlySignal } from "@preact/signals";
import en from "./i18n/en.json";

/** The languages the apps speak, in the order the language menu lists them. */
export const LANGUAGES = ["en", "fr", "de", "es", "it", "ar"] as const;
export type Language = (typeof LANGUAGES)[number];
export const DEFAULT_LANGUAGE: Language = "en";

/** Each language's name in itself, for the language menu. */
export const LANGUAGE_NAMES: Readonly<Record<Language, string>> = {
  en: "English",
  fr: "Français",
  de: "Deutsch",
  es: "Español",
  it: "Italiano",
  ar: "العربية",
};

/** Where an explicit choice of language is kept. */
export const LANGUAGE_STORAGE_KEY = "hcw.language";

const RTL = new Set(["ar", "fa", "he", "ps", "ur", "ckb", "dv", "yi"]);

const PLURAL_CATEGORIES = new Set(["zero", "one", "two", "few", "many", "other"]);

type Catalogue = typeof en;
interface CatalogueTree {
  [key: string]: string | CatalogueTree;
}

/** Keys of a nested catalogue down to its strings and plural objects. */
type Leaves<T> = {
  [K in keyof T & string]: T[K] extends string ? K : T[K] extends { other: string } ? K : `${K}.${Leaves<T[K]>}`;
}[keyof T & string];

/** Every message key (from the English catalogue). */
export type MessageKey = Leaves<Catalogue>;

export type MessageParams = Readonly<Record<string, string | number>>;

const loaders = import.meta.glob<CatalogueTree>(["./i18n/*.json", "!./i18n/en.json"], { import: "default" });

const languageSig = signal<Language>(DEFAULT_LANGUAGE);
const catalogueSig = signal<CatalogueTree>(en as CatalogueTree);

/** The current language. */
export const language: ReadonlySignal<Language> = languageSig;
/** "rtl" for right-to-left languages. */
export const dir: ReadonlySignal<"ltr" | "rtl"> = computed(() => (RTL.has(languageSig.value) ? "rtl" : "ltr"));

/** Maps a BCP 47 tag (fr-CH, pt_BR, AR) to a supported language, or null. */
export function supportedLanguage(tag: string | null | undefined): Language | null {
  if (!tag) return null;
  const base = tag.trim().toLowerCase().split(/[-_]/)[0] ?? "";
  return (LANGUAGES as readonly string[]).includes(base) ? (base as Language) : null;
}

function lookup(tree: CatalogueTree, key: string): string | CatalogueTree | undefined {
  let node: string | CatalogueTree | undefined = tree;
  for (const part of key.split(".")) {
    if (typeof node !== "object") return undefined;
    node = node[part];
  }
  return node;
}

/** True for a plural object ({"one": ..., "other": ...}). */
export function isPlural(node: unknown): node is Record<string, string> {
  if (typeof node !== "object" || node === null || !("other" in node)) return false;
  return Object.entries(node).every(([k, v]) => PLURAL_CATEGORIES.has(k) && typeof v === "string");
}

const pluralRules = new Map<string, Intl.PluralRules>();
const numberFormats = new Map<string, Intl.NumberFormat>();

function plural(lang: string, n: number): Intl.LDMLPluralRule {
  let r = pluralRules.get(lang);
  if (!r) pluralRules.set(lang, (r = new Intl.PluralRules(lang)));
  return r.select(n);
}

function formatNumber(lang: string, n: number): string {
  let f = numberFormats.get(lang);
  if (!f) numberFormats.set(lang, (f = new Intl.NumberFormat(lang)));
  return f.format(n);
}

function resolve(tree: CatalogueTree, lang: string, key: string, params?: MessageParams): string | undefined {
  const node = lookup(tree, key);
  if (typeof node === "string") return node;
  if (isPlural(node)) {
    const count = params?.["count"];
    const form = typeof count === "number" ? node[plural(lang, count)] : undefined;
    return form ?? node["other"];
  }
  return undefined;
}

/**
 * The message for key in the current language, with {name} replaced by
 * params.name (numbers formatted for the language). Falls back to English,
 * then to the key itself.
 */
export function t(key: MessageKey, params?: MessageParams): string {
  const lang = languageSig.value;
  const text =
    resolve(catalogueSig.value, lang, key, params) ??
    resolve(en as CatalogueTree, DEFAULT_LANGUAGE, key, params) ??
    key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const v = params[name];
    if (v === undefined) return whole;
    return typeof v === "number" ? formatNumber(lang, v) : v;
  });
}

/** Loads a language's catalogue (English is always there). */
export async function loadCatalogue(lang: Language): Promise<CatalogueTree> {
  if (lang === DEFAULT_LANGUAGE) return en as CatalogueTree;
  const load = loaders[`./i18n/${lang}.json`];
  if (!load) throw new Error(`no catalogue for ${lang}`);
  return load();
}

function storage(): Storage | null {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // storage disabled (privacy settings)
  }
}

/** The language the user chose explicitly on this device, if any. */
export function storedLanguage(): Language | null {
  try {
    return supportedLanguage(storage()?.getItem(LANGUAGE_STORAGE_KEY));
  } catch {
    return null;
  }
}

/** Sets <html lang dir> for the current language. */
function applyToDocument(lang: Language): void {
  const html = globalThis.document?.documentElement;
  if (!html) return;
  html.lang = lang;
  html.dir = RTL.has(lang) ? "rtl" : "ltr";
}

export interface SetLanguageOptions {
  /** Remember it on this device (an explicit choice in the language menu). */
  persist?: boolean;
}

/**
 * Switches the language: loads its catalogue, updates <html lang dir>, and
 * with persist remembers it. An unknown tag falls back to English.
 */
export async function setLanguage(tag: string, options: SetLanguageOptions = {}): Promise<Language> {
  const lang = supportedLanguage(tag) ?? DEFAULT_LANGUAGE;
  let catalogue: CatalogueTree;
  try {
    catalogue = await loadCatalogue(lang);
  } catch (err) {
    // A chunk that failed to load (offline): stay readable in English.
    console.error(`i18n: could not load ${lang}`, err);
    return setLanguage(DEFAULT_LANGUAGE, {});
  }
  catalogueSig.value = catalogue;
  languageSig.value = lang;
  applyToDocument(lang);
  if (options.persist) {
    try {
      storage()?.setItem(LANGUAGE_STORAGE_KEY, lang);
    } catch {
      // Not remembered; still switched.
    }
  }
  return lang;
}

/**
 * Picks the language at start-up: the user's explicit choice on this device,
 * else `preferred` (a patient's invite language, a staff member's setting),
 * else the browser's languages, else English.
 */
export function chooseLanguage(preferred?: string | null, browser?: readonly string[]): Language {
  const fromBrowser = (browser ?? globalThis.navigator?.languages ?? []).map(supportedLanguage).find((l) => l !== null);
  return storedLanguage() ?? supportedLanguage(preferred) ?? fromBrowser ?? DEFAULT_LANGUAGE;
}

/**
 * Applies `preferred` unless the user chose a language explicitly on this
 * device (their choice wins). Use it once the invite's or the user's
 * language is known.
 */
export async function applyPreferredLanguage(preferred: string | null | undefined): Promise<Language> {
  const lang = storedLanguage() ?? supportedLanguage(preferred);
  if (!lang || lang === languageSig.value) return languageSig.value;
  return setLanguage(lang);
}

export type DateStyle = "date" | "time" | "datetime" | "weekday-datetime";

const DATE_OPTIONS: Readonly<Record<DateStyle, Intl.DateTimeFormatOptions>> = {
  date: { dateStyle: "long" },
  time: { timeStyle: "short" },
  datetime: { dateStyle: "medium", timeStyle: "short" },
  "weekday-datetime": { weekday: "long", day: "numeric", month: "long", hour: "numeric", minute: "2-digit" },
};

const dateFormats = new Map<string, Intl.DateTimeFormat>();

/**
 * Formats a date in the current language, in timeZone (IANA, e.g.
 * Europe/Zurich; default the browser's).
 */
export function formatDate(value: Date | string | number, style: DateStyle = "datetime", timeZone?: string): string {
  const lang = languageSig.value;
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return "";
  const cacheKey = `${lang}|${style}|${timeZone ?? ""}`;
  let f = dateFormats.get(cacheKey);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat(lang, { ...DATE_OPTIONS[style], ...(timeZone ? { timeZone } : {}) });
    } catch {
      f = new Intl.DateTimeFormat(lang, DATE_OPTIONS[style]); // unknown zone: the browser's
    }
    dateFormats.set(cacheKey, f);
  }
  return f.format(date);
}

/** For tests: back to English, nothing remembered. */
export function resetI18nForTests(): void {
  catalogueSig.value = en as CatalogueTree;
  languageSig.value = DEFAULT_LANGUAGE;
}
