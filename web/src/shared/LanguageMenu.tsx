import { branding } from "./branding";
import { LANGUAGES, LANGUAGE_NAMES, language, setLanguage, supportedLanguage, t, type Language } from "./i18n";

/**
 * The languages a menu offers: `offered` in its order (unknown tags left
 * out), always with the current language, so that a page never shows a
 * language the menu cannot keep. Every language when `offered` has none.
 */
export function offeredLanguages(current: Language, offered: readonly string[]): Language[] {
  const list: Language[] = [];
  for (const tag of offered) {
    const lang = supportedLanguage(tag);
    if (lang && !list.includes(lang)) list.push(lang);
  }
  if (list.length === 0) return [...LANGUAGES];
  if (!list.includes(current)) list.push(current);
  return list;
}

export interface LanguageMenuProps {
  /**
   * Offer only the languages the clinic offers patients (the branding's),
   * plus the current one: the patient app's menu. Staff apps offer all.
   */
  brandLanguages?: boolean;
}

/** The language menu: a labelled native select; the choice is remembered on this device. */
export function LanguageMenu({ brandLanguages = false }: LanguageMenuProps) {
  const current = language.value;
  const choices = brandLanguages ? offeredLanguages(current, branding.value.languages) : LANGUAGES;
  // Nothing to choose from: no menu.
  if (choices.length < 2) return null;
  return (
    <div class="hcw-language">
      <label for="hcw-language-select">{t("app.language")}</label>
      <select
        id="hcw-language-select"
        value={current}
        onChange={(e) => void setLanguage((e.currentTarget as HTMLSelectElement).value, { persist: true })}
      >
        {choices.map((code) => (
          <option key={code} value={code} lang={code}>
            {LANGUAGE_NAMES[code]}
          </option>
        ))}
      </select>
    </div>
  );
}
