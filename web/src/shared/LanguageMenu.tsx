import { LANGUAGES, LANGUAGE_NAMES, language, setLanguage, t } from "./i18n";

/** The language menu: a labelled native select; the choice is remembered on this device. */
export function LanguageMenu() {
  const current = language.value;
  return (
    <div class="hcw-language">
      <label for="hcw-language-select">{t("app.language")}</label>
      <select
        id="hcw-language-select"
        value={current}
        onChange={(e) => void setLanguage((e.currentTarget as HTMLSelectElement).value, { persist: true })}
      >
        {LANGUAGES.map((code) => (
          <option key={code} value={code} lang={code}>
            {LANGUAGE_NAMES[code]}
          </option>
        ))}
      </select>
    </div>
  );
}
