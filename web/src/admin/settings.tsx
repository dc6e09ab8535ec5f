/**
 * The instance settings: branding (names, colours with a live preview,
 * logo), the languages offered to patients, how long closed consultations
 * are kept and the invite timing. A save puts the new branding in force in
 * this app at once; the other apps read it when they next start.
 */
import { useEffect, useRef } from "preact/hooks";
import { useSignal } from "@preact/signals";
import { Confirm } from "../shared/confirm";
import { applyBranding, brandProperties, contrastRatio, isHexColor, readableTextOn, type Branding } from "../shared/branding";
import { LANGUAGES, LANGUAGE_NAMES, supportedLanguage, t, type Language } from "../shared/i18n";
import { LOGO_MAX_BYTES, LOGO_TYPES, type AdminApi, type LogoInfo, type SettingsBody } from "./api";
import { draftOf, failureOf, settingsOf, SETTINGS_LIMITS, type Failure, type SettingsDraft } from "./models";
import { FailureLine, FieldError, invalidProps, Outcome, refocus, useAction, type FieldTexts } from "./ui";

/** The branding a settings body puts in force. */
export function brandingOf(body: SettingsBody): Branding {
  const s = body.settings;
  const languages = s.languages.map((l) => supportedLanguage(l)).filter((l): l is Language => l !== null);
  return {
    productName: s.product_name,
    clinicName: s.clinic_name,
    primaryColor: s.primary_color,
    accentColor: s.accent_color,
    logoUrl: body.logo?.url ?? null,
    languages: languages.length > 0 ? languages : [...LANGUAGES],
  };
}

/** Each field the API may refuse: the element that takes the focus, and its error's text. */
const FIELD_INPUT: Readonly<Record<string, string>> = {
  product_name: "set-product",
  clinic_name: "set-clinic",
  primary_color: "set-primary-hex",
  accent_color: "set-accent-hex",
  closed_consultation_retention_days: "set-retention",
  languages: `set-lang-${LANGUAGES[0]}`,
  invite_ttl_minutes: "set-ttl",
  invite_early_minutes: "set-early",
};

const SETTINGS_FIELDS: FieldTexts = {
  product_name: () => t("admin.settings.error.productName", { max: SETTINGS_LIMITS.productName }),
  clinic_name: () => t("admin.settings.error.clinicName", { max: SETTINGS_LIMITS.clinicName }),
  primary_color: () => t("admin.settings.error.colour"),
  accent_color: () => t("admin.settings.error.colour"),
  closed_consultation_retention_days: () =>
    t("admin.settings.error.retention", { min: SETTINGS_LIMITS.retentionMin, max: SETTINGS_LIMITS.retentionMax }),
  languages: () => t("admin.settings.error.languages"),
  invite_ttl_minutes: () => t("admin.settings.error.ttl", { min: SETTINGS_LIMITS.ttlMin, max: SETTINGS_LIMITS.ttlMax }),
  invite_early_minutes: () => t("admin.settings.error.early", { max: SETTINGS_LIMITS.earlyMax }),
};

function focusField(failure: Failure | null): void {
  const id = failure?.field ? FIELD_INPUT[failure.field] : undefined;
  if (id) refocus(id);
}

/** The instance settings and the logo. */
export function SettingsSection({ api }: { api: AdminApi }) {
  const body = useSignal<SettingsBody | null>(null);
  const loadFailure = useSignal<Failure | null>(null);
  const load = async () => {
    loadFailure.value = null;
    try {
      body.value = await api.getSettings();
    } catch (err) {
      loadFailure.value = failureOf(err);
    }
  };
  useEffect(() => void load(), [api]);
  const changed = (b: SettingsBody) => {
    body.value = b;
    applyBranding(brandingOf(b));
  };
  const current = body.value;
  return (
    <section id="admin-settings" class="hcw-card" aria-labelledby="admin-settings-title">
      <h2 id="admin-settings-title" tabIndex={-1}>
        {t("admin.settings.title")}
      </h2>
      {current === null ? (
        loadFailure.value ? (
          <div>
            <FailureLine failure={loadFailure.value} id="settings-load-error" />
            <button type="button" id="settings-retry" class="hcw-button hcw-button-secondary" onClick={() => void load()}>
              {t("common.retry")}
            </button>
          </div>
        ) : (
          <p role="status">{t("common.loading")}</p>
        )
      ) : (
        <>
          <SettingsForm api={api} initial={current} logoUrl={current.logo?.url ?? null} onSaved={changed} />
          <LogoForm api={api} logo={current.logo ?? null} onChanged={changed} onRemoved={() => changed({ ...current, logo: null })} />
        </>
      )}
    </section>
  );
}

/** A colour: the browser's picker and the same colour as text (#rrggbb), for keyboards and pasting. */
function ColourField({
  id,
  legend,
  value,
  fallback,
  failure,
  field,
  onInput,
}: {
  id: string;
  legend: string;
  value: string;
  fallback: string;
  failure: Failure | null;
  field: string;
  onInput: (v: string) => void;
}) {
  return (
    <fieldset class="admin-colour">
      <legend>{legend}</legend>
      <div class="admin-colour-inputs">
        <div class="hcw-field">
          <label for={id}>{t("admin.settings.colourPicker")}</label>
          <input id={id} type="color" value={isHexColor(value) ? value.toLowerCase() : fallback} onInput={(e) => onInput(e.currentTarget.value)} />
        </div>
        <div class="hcw-field">
          <label for={`${id}-hex`}>{t("admin.settings.colourCode")}</label>
          <input
            id={`${id}-hex`}
            value={value}
            maxLength={7}
            spellcheck={false}
            autoComplete="off"
            {...invalidProps(failure, field, `${id}-error`, "set-colour-hint")}
            onInput={(e) => onInput(e.currentTarget.value)}
          />
        </div>
      </div>
      <FieldError failure={failure} field={field} id={`${id}-error`} fields={SETTINGS_FIELDS} />
    </fieldset>
  );
}

/** Header and page as they would look with the colours typed. */
function Preview({ draft, fallback, logoUrl }: { draft: SettingsDraft; fallback: SettingsDraft; logoUrl: string | null }) {
  const primary = isHexColor(draft.primary) ? draft.primary.toLowerCase() : fallback.primary;
  const accent = isHexColor(draft.accent) ? draft.accent.toLowerCase() : fallback.accent;
  const props = brandProperties({ primaryColor: primary, accentColor: accent });
  const ratio = Math.round(contrastRatio(primary, readableTextOn(primary)) * 10) / 10;
  const darkened = props["--hcw-brand-primary"] !== primary;
  return (
    <figure class="admin-preview" aria-labelledby="set-preview-title">
      <figcaption id="set-preview-title">{t("admin.settings.preview")}</figcaption>
      <div id="set-preview" class="admin-preview-frame" style={props} data-primary={primary} data-accent={accent}>
        <div class="admin-preview-header">
          {logoUrl && <img class="hcw-logo" src={logoUrl} alt="" />}
          <span class="hcw-brand-name">{draft.productName.trim() || fallback.productName}</span>
          {draft.clinicName.trim() !== "" && <span class="hcw-brand-clinic">{draft.clinicName.trim()}</span>}
        </div>
        <div class="admin-preview-page">
          <span class="admin-preview-button">{t("admin.settings.previewButton")}</span>
          <span class="admin-preview-link">{t("admin.settings.previewLink")}</span>
        </div>
      </div>
      <p id="set-contrast" class="hcw-hint">
        {readableTextOn(primary) === "#ffffff" ? t("admin.settings.contrastWhite", { ratio }) : t("admin.settings.contrastBlack", { ratio })}
        {darkened && ` ${t("admin.settings.darkened")}`}
      </p>
    </figure>
  );
}

/** A number of minutes that may be left to the environment's default. */
function MinutesField({
  id,
  legend,
  hint,
  useDefault,
  value,
  defaultMinutes,
  min,
  max,
  failure,
  field,
  onDefault,
  onInput,
}: {
  id: string;
  legend: string;
  hint: string;
  useDefault: boolean;
  value: string;
  defaultMinutes: number;
  min: number;
  max: number;
  failure: Failure | null;
  field: string;
  onDefault: (v: boolean) => void;
  onInput: (v: string) => void;
}) {
  return (
    <fieldset>
      <legend>{legend}</legend>
      <p id={`${id}-hint`} class="hcw-hint">
        {hint}
      </p>
      <div class="hcw-check">
        <input id={`${id}-default`} type="checkbox" checked={useDefault} onChange={(e) => onDefault(e.currentTarget.checked)} />
        <label for={`${id}-default`}>{t("admin.settings.useDefault", { count: defaultMinutes })}</label>
      </div>
      <div class="hcw-field">
        <label for={id}>{t("admin.settings.minutes")}</label>
        <input
          id={id}
          type="number"
          inputMode="numeric"
          min={min}
          max={max}
          step={1}
          disabled={useDefault}
          value={value}
          {...invalidProps(failure, field, `${id}-error`, `${id}-hint`)}
          onInput={(e) => onInput(e.currentTarget.value)}
        />
      </div>
      <FieldError failure={failure} field={field} id={`${id}-error`} fields={SETTINGS_FIELDS} />
    </fieldset>
  );
}

function SettingsForm({
  api,
  initial,
  logoUrl,
  onSaved,
}: {
  api: AdminApi;
  initial: SettingsBody;
  logoUrl: string | null;
  onSaved: (b: SettingsBody) => void;
}) {
  const saved = useSignal<SettingsDraft>(draftOf(initial));
  const draft = useSignal<SettingsDraft>(draftOf(initial));
  const defaults = useSignal({ ttl: initial.invite_ttl_default_minutes, early: initial.invite_early_default_minutes });
  const action = useAction();
  const d = draft.value;
  const failure = action.failure.value;
  const edit = (change: Partial<SettingsDraft>) => (draft.value = { ...draft.value, ...change });
  const L = SETTINGS_LIMITS;
  const toggleLanguage = (code: Language, on: boolean) => {
    const rest = d.languages.filter((l) => l !== code);
    // Kept in the order the API has; a new one goes last.
    edit({ languages: on ? [...rest, code] : rest });
  };
  return (
    <form
      class="hcw-form"
      noValidate
      aria-labelledby="admin-settings-title"
      onSubmit={(e) => {
        e.preventDefault();
        const r = settingsOf(draft.value, defaults.value);
        if ("field" in r) {
          action.done.value = null;
          action.failure.value = { code: "invalid_request", field: r.field };
          focusField(action.failure.value);
          return;
        }
        void action
          .run(async () => {
            const body = await api.updateSettings(r.settings);
            saved.value = draft.value = draftOf(body);
            defaults.value = { ttl: body.invite_ttl_default_minutes, early: body.invite_early_default_minutes };
            onSaved(body);
            return t("admin.settings.saved");
          })
          .then((ok) => !ok && focusField(action.failure.value));
      }}
    >
      <h3>{t("admin.settings.branding")}</h3>
      <div class="hcw-field">
        <label for="set-product">{t("admin.settings.productName")}</label>
        <input
          id="set-product"
          required
          maxLength={L.productName}
          value={d.productName}
          {...invalidProps(failure, "product_name", "set-product-error")}
          onInput={(e) => edit({ productName: e.currentTarget.value })}
        />
        <FieldError failure={failure} field="product_name" id="set-product-error" fields={SETTINGS_FIELDS} />
      </div>
      <div class="hcw-field">
        <label for="set-clinic">{t("admin.settings.clinicName")}</label>
        <input
          id="set-clinic"
          maxLength={L.clinicName}
          value={d.clinicName}
          {...invalidProps(failure, "clinic_name", "set-clinic-error", "set-clinic-hint")}
          onInput={(e) => edit({ clinicName: e.currentTarget.value })}
        />
        <p id="set-clinic-hint" class="hcw-hint">
          {t("admin.settings.clinicHint")}
        </p>
        <FieldError failure={failure} field="clinic_name" id="set-clinic-error" fields={SETTINGS_FIELDS} />
      </div>
      <p id="set-colour-hint" class="hcw-hint">
        {t("admin.settings.colourHint")}
      </p>
      <div class="admin-colours">
        <ColourField
          id="set-primary"
          legend={t("admin.settings.primary")}
          value={d.primary}
          fallback={saved.value.primary}
          failure={failure}
          field="primary_color"
          onInput={(v) => edit({ primary: v })}
        />
        <ColourField
          id="set-accent"
          legend={t("admin.settings.accent")}
          value={d.accent}
          fallback={saved.value.accent}
          failure={failure}
          field="accent_color"
          onInput={(v) => edit({ accent: v })}
        />
      </div>
      <Preview draft={d} fallback={saved.value} logoUrl={logoUrl} />

      <h3>{t("admin.settings.patients")}</h3>
      <fieldset aria-describedby={invalidProps(failure, "languages", "set-languages-error", "set-languages-hint")["aria-describedby"]}>
        <legend>{t("admin.settings.languages")}</legend>
        <p id="set-languages-hint" class="hcw-hint">
          {t("admin.settings.languagesHint")}
        </p>
        {LANGUAGES.map((code) => (
          <div class="hcw-check" key={code}>
            <input
              id={`set-lang-${code}`}
              type="checkbox"
              checked={d.languages.includes(code)}
              onChange={(e) => toggleLanguage(code, e.currentTarget.checked)}
            />
            <label for={`set-lang-${code}`} lang={code}>
              {LANGUAGE_NAMES[code]}
            </label>
          </div>
        ))}
        <FieldError failure={failure} field="languages" id="set-languages-error" fields={SETTINGS_FIELDS} />
      </fieldset>
      <MinutesField
        id="set-ttl"
        legend={t("admin.settings.ttl")}
        hint={t("admin.settings.ttlHint", { min: L.ttlMin, max: L.ttlMax })}
        useDefault={d.ttlDefault}
        value={d.ttl}
        defaultMinutes={defaults.value.ttl}
        min={L.ttlMin}
        max={L.ttlMax}
        failure={failure}
        field="invite_ttl_minutes"
        onDefault={(v) => edit({ ttlDefault: v })}
        onInput={(v) => edit({ ttl: v })}
      />
      <MinutesField
        id="set-early"
        legend={t("admin.settings.early")}
        hint={t("admin.settings.earlyHint", { max: L.earlyMax })}
        useDefault={d.earlyDefault}
        value={d.early}
        defaultMinutes={defaults.value.early}
        min={0}
        max={L.earlyMax}
        failure={failure}
        field="invite_early_minutes"
        onDefault={(v) => edit({ earlyDefault: v })}
        onInput={(v) => edit({ early: v })}
      />

      <h3>{t("admin.settings.retentionTitle")}</h3>
      <div class="hcw-field">
        <label for="set-retention">{t("admin.settings.retention")}</label>
        <input
          id="set-retention"
          type="number"
          inputMode="numeric"
          min={L.retentionMin}
          max={L.retentionMax}
          step={1}
          required
          value={d.retentionDays}
          {...invalidProps(failure, "closed_consultation_retention_days", "set-retention-error", "set-retention-hint")}
          onInput={(e) => edit({ retentionDays: e.currentTarget.value })}
        />
        <p id="set-retention-hint" class="hcw-hint">
          {t("admin.settings.retentionHint")}
        </p>
        <FieldError failure={failure} field="closed_consultation_retention_days" id="set-retention-error" fields={SETTINGS_FIELDS} />
      </div>

      <div class="hcw-actions">
        <button id="settings-save" type="submit" class="hcw-button" disabled={action.busy.value}>
          {t("admin.settings.save")}
        </button>
      </div>
      <Outcome action={action} id="settings-status" />
    </form>
  );
}

/** The logo's refusals: its size (the same words whether this page or the API checked it), its kind. */
function logoErrorText(f: Failure): string | null {
  if (f.code === "body_too_large") return t("admin.settings.error.logoSize");
  if (f.code === "unsupported_media_type" || (f.code === "invalid_request" && f.field === "logo")) return t("admin.settings.error.logo");
  return null;
}

/** Why a chosen file cannot be the logo, before sending it: the API's own limits. */
export function logoProblem(file: Pick<File, "size" | "type">): Failure | null {
  if (!LOGO_TYPES.includes(file.type)) return { code: "unsupported_media_type", field: "logo" };
  if (file.size > LOGO_MAX_BYTES) return { code: "body_too_large", field: "logo" };
  if (file.size === 0) return { code: "invalid_request", field: "logo" };
  return null;
}

function LogoForm({
  api,
  logo,
  onChanged,
  onRemoved,
}: {
  api: AdminApi;
  logo: LogoInfo | null;
  onChanged: (b: SettingsBody) => void;
  onRemoved: () => void;
}) {
  const file = useSignal<File | null>(null);
  const preview = useSignal<string | null>(null);
  const confirmRemove = useSignal(false);
  const action = useAction();
  const input = useRef<HTMLInputElement>(null);
  const setPreview = (url: string | null) => {
    if (preview.value) URL.revokeObjectURL(preview.value);
    preview.value = url;
  };
  useEffect(() => () => setPreview(null), []);
  const clear = () => {
    file.value = null;
    setPreview(null);
    if (input.current) input.current.value = "";
  };
  const failure = action.failure.value;
  const own = failure ? logoErrorText(failure) : null;
  return (
    <div id="admin-logo" role="group" aria-labelledby="logo-title">
      <h3 id="logo-title">{t("admin.settings.logo")}</h3>
      {logo ? (
        <p>
          <img id="logo-current" class="admin-logo-image" src={logo.url} alt={t("admin.settings.logoCurrent")} />
        </p>
      ) : (
        <p id="logo-none" class="hcw-muted">
          {t("admin.settings.logoNone")}
        </p>
      )}
      <div class="hcw-field">
        <label for="logo-file">{logo ? t("admin.settings.logoReplace") : t("admin.settings.logoChoose")}</label>
        <input
          ref={input}
          id="logo-file"
          type="file"
          accept={LOGO_TYPES.join(",")}
          aria-describedby={own ? "logo-hint logo-error" : "logo-hint"}
          aria-invalid={own ? "true" : undefined}
          onChange={(e) => {
            const f = e.currentTarget.files?.[0] ?? null;
            action.failure.value = null;
            action.done.value = null;
            confirmRemove.value = false;
            setPreview(null);
            file.value = null;
            if (!f) return;
            const problem = logoProblem(f);
            if (problem) {
              action.failure.value = problem;
              return;
            }
            file.value = f;
            setPreview(URL.createObjectURL(f));
          }}
        />
        <p id="logo-hint" class="hcw-hint">
          {t("admin.settings.logoHint")}
        </p>
      </div>
      {file.value && preview.value && (
        <div class="admin-logo-new">
          <figure>
            <img id="logo-preview" class="admin-logo-image" src={preview.value} alt={t("admin.settings.logoChosen")} />
            <figcaption>{file.value.name}</figcaption>
          </figure>
          <div class="hcw-actions">
            <button
              type="button"
              id="logo-upload"
              class="hcw-button"
              disabled={action.busy.value}
              onClick={() => {
                const f = file.value;
                if (!f) return;
                void action
                  .run(async () => {
                    const body = await api.uploadLogo(f);
                    clear();
                    onChanged(body);
                    return t("admin.settings.logoUploaded");
                  })
                  .then(() => refocus("logo-file"));
              }}
            >
              {t("admin.settings.logoUpload")}
            </button>
            <button
              type="button"
              id="logo-cancel"
              class="hcw-button hcw-button-secondary"
              onClick={() => {
                clear();
                refocus("logo-file");
              }}
            >
              {t("admin.cancel")}
            </button>
          </div>
        </div>
      )}
      {logo && !file.value && (
        <div class="hcw-actions">
          <button
            type="button"
            id="logo-remove"
            class="hcw-button hcw-button-secondary"
            aria-expanded={confirmRemove.value}
            disabled={action.busy.value}
            onClick={() => (confirmRemove.value = true)}
          >
            {t("admin.settings.logoRemove")}
          </button>
        </div>
      )}
      {confirmRemove.value && (
        <Confirm
          id="confirm-logo-remove"
          title={t("admin.settings.logoRemove")}
          text={t("admin.settings.logoRemoveConfirm")}
          yes={t("admin.settings.logoRemoveYes")}
          busy={action.busy.value}
          onYes={() => {
            confirmRemove.value = false;
            void action
              .run(async () => {
                await api.deleteLogo();
                onRemoved();
                return t("admin.settings.logoRemoved");
              })
              .then(() => refocus("logo-file"));
          }}
          onNo={() => (confirmRemove.value = false)}
          returnFocus="logo-remove"
          fallbackFocus="logo-file"
        />
      )}
      <div aria-live="polite" id="logo-status">
        {own ? (
          <p id="logo-error" class="hcw-field-error" role="alert">
            {own}
          </p>
        ) : (
          <FailureLine failure={failure} />
        )}
        {action.done.value && <p class="hcw-notice hcw-notice-ok">{action.done.value}</p>}
      </div>
    </div>
  );
}
