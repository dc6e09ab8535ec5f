// @vitest-environment happy-dom
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  LANGUAGES,
  LANGUAGE_STORAGE_KEY,
  applyPreferredLanguage,
  chooseLanguage,
  dir,
  formatDate,
  isPlural,
  language,
  resetI18nForTests,
  setLanguage,
  supportedLanguage,
  t,
} from "./i18n";

const srcDir = path.resolve(import.meta.dirname, "..");
const catalogueDir = path.join(import.meta.dirname, "i18n");

type Tree = { [key: string]: string | Tree };

function readCatalogue(lang: string): Tree {
  return JSON.parse(readFileSync(path.join(catalogueDir, `${lang}.json`), "utf8")) as Tree;
}

/** key -> string, or key -> plural forms, for every leaf of a catalogue. */
function flatten(tree: Tree, prefix = ""): Map<string, string | Record<string, string>> {
  const out = new Map<string, string | Record<string, string>>();
  for (const [k, v] of Object.entries(tree)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === "string") out.set(key, v);
    else if (isPlural(v)) out.set(key, v as Record<string, string>);
    else for (const [kk, vv] of flatten(v, key)) out.set(kk, vv);
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return /\.(ts|tsx)$/.test(name) && !/\.test\.tsx?$/.test(name) ? [full] : [];
  });
}

/** Every key passed literally to t(...) in the app sources. */
function usedKeys(): Map<string, string[]> {
  const used = new Map<string, string[]>();
  for (const file of sourceFiles(srcDir)) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/\bt\(\s*(['"`])([^'"`$]+)\1/g)) {
      const key = m[2]!;
      used.set(key, [...(used.get(key) ?? []), path.relative(srcDir, file)]);
    }
  }
  return used;
}

function placeholders(value: string | Record<string, string>): Set<string> {
  const texts = typeof value === "string" ? [value] : Object.values(value);
  return new Set(texts.flatMap((s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!)));
}

const catalogues = Object.fromEntries(LANGUAGES.map((l) => [l, flatten(readCatalogue(l))]));

describe("message catalogues", () => {
  it("exist for every language and nothing else", () => {
    const files = readdirSync(catalogueDir).filter((f) => f.endsWith(".json")).map((f) => f.replace(/\.json$/, ""));
    expect(files.sort()).toEqual([...LANGUAGES].sort());
  });

  it("hold every key the sources use", () => {
    const used = usedKeys();
    expect(used.size).toBeGreaterThan(50); // the scan found the calls
    const missing: string[] = [];
    for (const lang of LANGUAGES) {
      for (const [key, files] of used) {
        if (!catalogues[lang]!.has(key)) missing.push(`${lang}: ${key} (used in ${files.join(", ")})`);
      }
    }
    expect(missing).toEqual([]);
  });

  it.each(LANGUAGES.filter((l) => l !== "en"))("%s has exactly the keys of en", (lang) => {
    const en = [...catalogues["en"]!.keys()].sort();
    const other = [...catalogues[lang]!.keys()].sort();
    expect({ missing: en.filter((k) => !other.includes(k)), extra: other.filter((k) => !en.includes(k)) }).toEqual({
      missing: [],
      extra: [],
    });
  });

  it.each(LANGUAGES)("%s: plurals have every form the language needs, strings are not empty", (lang) => {
    const needed = new Intl.PluralRules(lang).resolvedOptions().pluralCategories;
    const problems: string[] = [];
    for (const [key, value] of catalogues[lang]!) {
      if (typeof value === "string") {
        if (value.trim() === "") problems.push(`${key}: empty`);
        continue;
      }
      for (const cat of needed) if (!(cat in value)) problems.push(`${key}: no "${cat}" form`);
    }
    expect(problems).toEqual([]);
  });

  it.each(LANGUAGES.filter((l) => l !== "en"))("%s uses only the placeholders of en", (lang) => {
    const problems: string[] = [];
    for (const [key, value] of catalogues[lang]!) {
      const want = placeholders(catalogues["en"]!.get(key) ?? "");
      const got = placeholders(value);
      for (const p of got) if (!want.has(p)) problems.push(`${key}: unknown {${p}}`);
      // A plural may spell its number out ("deux minutes"); a plain string may not drop one.
      if (typeof value === "string") for (const p of want) if (!got.has(p)) problems.push(`${key}: no {${p}}`);
    }
    expect(problems).toEqual([]);
  });

  it("a plural is told apart from a nested group", () => {
    expect(isPlural({ one: "a", other: "b" })).toBe(true);
    expect(isPlural({ title: "a", other: "b" })).toBe(false);
    expect(isPlural({ one: "a" })).toBe(false);
  });
});

describe("t", () => {
  beforeEach(() => {
    localStorage.clear();
    resetI18nForTests();
  });
  afterEach(() => resetI18nForTests());

  it("looks up nested keys and fills placeholders", async () => {
    expect(t("chat.send")).toBe("Send");
    expect(t("room.queue", { name: "Cardiology" })).toBe("Service: Cardiology");
    await setLanguage("fr");
    expect(t("chat.send")).toBe("Envoyer");
    expect(t("room.queue", { name: "Cardiologie" })).toBe("Service : Cardiologie");
  });

  it("picks the plural form of the language", async () => {
    expect(t("room.ahead", { count: 1 })).toBe("1 person is ahead of you.");
    expect(t("room.ahead", { count: 3 })).toBe("3 people are ahead of you.");
    await setLanguage("fr");
    expect(t("room.ahead", { count: 0 })).toBe("0 personne passe avant vous."); // French: 0 is singular
    expect(t("room.ahead", { count: 2 })).toBe("2 personnes passent avant vous.");
    await setLanguage("ar");
    expect(t("room.ahead", { count: 2 })).toBe("يوجد شخصان قبلك.");
    expect(t("room.ahead", { count: 1 })).toBe("يوجد شخص واحد قبلك.");
    expect(t("room.ahead", { count: 5 })).toContain("أشخاص"); // "few"
  });

  it("formats numbers for the language", async () => {
    await setLanguage("de");
    expect(t("chat.tooLong", { max: 10000 })).toBe("Eine Nachricht darf höchstens 10.000 Zeichen enthalten.");
  });

  it("falls back to the key when nothing matches", () => {
    // @ts-expect-error: an unknown key is a type error too
    expect(t("no.such.key")).toBe("no.such.key");
  });

  it("sets <html lang dir>, rtl for Arabic", async () => {
    await setLanguage("ar");
    expect(document.documentElement.lang).toBe("ar");
    expect(document.documentElement.dir).toBe("rtl");
    expect(dir.value).toBe("rtl");
    await setLanguage("it-CH");
    expect(language.value).toBe("it");
    expect(document.documentElement.dir).toBe("ltr");
  });

  it("falls back to English for an unknown language", async () => {
    await setLanguage("kk");
    expect(language.value).toBe("en");
  });

  it("remembers only an explicit choice", async () => {
    await setLanguage("de");
    expect(localStorage.getItem(LANGUAGE_STORAGE_KEY)).toBeNull();
    await setLanguage("es", { persist: true });
    expect(localStorage.getItem(LANGUAGE_STORAGE_KEY)).toBe("es");
  });
});

describe("choosing the language", () => {
  beforeEach(() => {
    localStorage.clear();
    resetI18nForTests();
  });

  it("prefers the stored choice, then the invite's or user's language, then the browser's", () => {
    expect(chooseLanguage(null, ["kk", "de-CH", "fr"])).toBe("de");
    expect(chooseLanguage("fr-CH", ["de"])).toBe("fr");
    expect(chooseLanguage(undefined, [])).toBe("en");
    localStorage.setItem(LANGUAGE_STORAGE_KEY, "ar");
    expect(chooseLanguage("fr", ["de"])).toBe("ar");
  });

  it("applies a language learnt later unless the user chose one", async () => {
    await applyPreferredLanguage("it");
    expect(language.value).toBe("it");
    localStorage.setItem(LANGUAGE_STORAGE_KEY, "es");
    await applyPreferredLanguage("fr");
    expect(language.value).toBe("es");
  });

  it("normalises tags", () => {
    expect(supportedLanguage("AR")).toBe("ar");
    expect(supportedLanguage("pt_BR")).toBeNull();
    expect(supportedLanguage("")).toBeNull();
  });
});

describe("formatDate", () => {
  beforeEach(() => resetI18nForTests());

  it("formats in the given time zone and language", async () => {
    const at = "2025-03-01T09:30:00Z";
    expect(formatDate(at, "time", "Europe/Zurich")).toMatch(/10:30/);
    expect(formatDate(at, "time", "America/New_York")).toMatch(/4:30/);
    expect(formatDate(at, "date", "Pacific/Auckland")).toContain("March 1"); // 22:30 there, same day
    expect(formatDate("2025-03-01T12:00:00Z", "date", "Pacific/Kiritimati")).toContain("March 2");
    await setLanguage("fr");
    expect(formatDate(at, "date", "Europe/Zurich")).toBe("1 mars 2025");
    await setLanguage("de");
    expect(formatDate(at, "time", "Europe/Zurich")).toBe("10:30");
  });

  it("returns nothing for an invalid date and survives an unknown zone", () => {
    expect(formatDate("not a date")).toBe("");
    expect(formatDate("2025-03-01T09:30:00Z", "time", "Mars/Olympus")).not.toBe("");
  });
});
