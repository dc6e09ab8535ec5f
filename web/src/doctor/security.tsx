/**
 * The Security section (my passkeys: list, add, delete) and the sign-in's
 * "Use a passkey" button.
 */
import { useEffect } from "preact/hooks";
import { useSignal } from "@preact/signals";
import { formatDate, t } from "../shared/i18n";
import * as api from "./api";
import type { DoctorAuth } from "./auth";
import { enrolPasskey, passkeysSupported, PasskeyError, passkeyErrorCode, type PasskeyDeps } from "./passkey";

/** The text of a failed passkey step (codes of passkey.ts and the API). */
export function passkeyErrorText(code: string): string {
  switch (code) {
    case "passkey_unsupported":
      return t("doctor.passkey.unsupported");
    case "passkey_cancelled":
      return t("doctor.passkey.cancelled");
    case "passkey_exists":
    case "factor_state":
      return t("doctor.passkey.exists");
    case "invalid_passkey":
      return t("doctor.passkey.refused");
    case "passkey_host":
      return t("doctor.passkey.host");
    case "last_factor":
      return t("doctor.passkey.lastFactor");
    case "throttled":
      return t("doctor.error.throttled");
    case "network":
      return t("doctor.error.network");
    default:
      return t("doctor.error.generic");
  }
}

export type SecurityApi = Pick<typeof api, "myPasskeys" | "deletePasskey">;

export function SecuritySection({ api: a = api, passkeys }: { api?: SecurityApi; passkeys?: Partial<PasskeyDeps> }) {
  const list = useSignal<api.Passkey[] | null>(null);
  const name = useSignal("");
  const busy = useSignal(false);
  const error = useSignal<string | null>(null);
  const notice = useSignal<"added" | "deleted" | null>(null);
  const codes = useSignal<string[] | null>(null);
  const deleting = useSignal<api.Passkey | null>(null);
  const supported = passkeysSupported(passkeys ?? {});

  const load = async () => {
    try {
      list.value = await a.myPasskeys();
    } catch (err) {
      list.value = list.value ?? [];
      error.value = passkeyErrorCode(err);
    }
  };
  useEffect(() => void load(), []);

  const add = async (e: Event) => {
    e.preventDefault();
    const label = name.value.trim();
    if (!label) return;
    busy.value = true;
    error.value = null;
    notice.value = null;
    try {
      const res = await enrolPasskey(label, passkeys ?? {});
      name.value = "";
      notice.value = "added";
      if (res.recovery_codes && res.recovery_codes.length > 0) codes.value = res.recovery_codes;
      await load();
    } catch (err) {
      error.value = err instanceof PasskeyError ? err.code : passkeyErrorCode(err);
    } finally {
      busy.value = false;
    }
  };

  const remove = async (p: api.Passkey) => {
    busy.value = true;
    error.value = null;
    notice.value = null;
    try {
      await a.deletePasskey(p.id);
      deleting.value = null;
      notice.value = "deleted";
      await load();
    } catch (err) {
      deleting.value = null;
      error.value = passkeyErrorCode(err);
    } finally {
      busy.value = false;
    }
  };

  const keys = list.value ?? [];
  return (
    <section class="hcw-card" aria-labelledby="security-title">
      <h2 id="security-title" class="hcw-card-title">
        {t("doctor.securityTitle")}
      </h2>
      <h3 class="hcw-subtitle" id="passkeys-title">
        {t("doctor.passkeysTitle")}
      </h3>
      <p class="hcw-hint">{t("doctor.passkeysIntro")}</p>
      {list.value === null && <p class="hcw-busy">{t("common.loading")}</p>}
      {list.value !== null && keys.length === 0 && <p class="hcw-muted">{t("doctor.passkeysNone")}</p>}
      <ul id="passkey-list" class="hcw-rows" aria-labelledby="passkeys-title">
        {keys.map((p) => (
          <li key={p.id} class="hcw-row" data-passkey-id={p.id}>
            <span class="hcw-row-main">
              <strong dir="auto">{p.name}</strong>
              <span class="hcw-muted">
                {" "}
                · {t("doctor.passkeyAdded", { date: formatDate(p.created_at, "date") })} ·{" "}
                {p.last_used_at ? t("doctor.passkeyUsed", { date: formatDate(p.last_used_at, "date") }) : t("doctor.passkeyNeverUsed")}
              </span>
            </span>
            <button
              type="button"
              class="hcw-button hcw-button-secondary"
              id={`passkey-delete-${p.id}`}
              aria-label={t("doctor.passkeyDeleteNamed", { name: p.name })}
              disabled={busy.value}
              onClick={() => (deleting.value = p)}
            >
              {t("doctor.passkeyDelete")}
            </button>
          </li>
        ))}
      </ul>
      {deleting.value && (
        <div class="hcw-notice hcw-notice-warn" role="alertdialog" aria-labelledby="confirm-passkey-delete-text">
          <p id="confirm-passkey-delete-text">{t("doctor.passkeyDeleteConfirm", { name: deleting.value.name })}</p>
          <div class="hcw-actions">
            <button type="button" id="confirm-passkey-delete" class="hcw-button hcw-button-danger" disabled={busy.value} onClick={() => deleting.value && void remove(deleting.value)}>
              {t("doctor.passkeyDeleteYes")}
            </button>
            <button type="button" id="cancel-passkey-delete" class="hcw-button hcw-button-secondary" onClick={() => (deleting.value = null)}>
              {t("doctor.closeNo")}
            </button>
          </div>
        </div>
      )}
      {supported ? (
        <form class="hcw-form" noValidate onSubmit={add} aria-labelledby="passkey-add-title">
          <h3 class="hcw-subtitle" id="passkey-add-title">
            {t("doctor.passkeyAddTitle")}
          </h3>
          <div class="hcw-field">
            <label for="passkey-name">{t("doctor.passkeyName")}</label>
            <input id="passkey-name" maxLength={64} autoComplete="off" aria-describedby="passkey-name-hint" value={name.value} onInput={(e) => (name.value = e.currentTarget.value)} />
            <p id="passkey-name-hint" class="hcw-hint">
              {t("doctor.passkeyNameHint")}
            </p>
          </div>
          <button id="passkey-add" type="submit" class="hcw-button" disabled={busy.value || name.value.trim() === ""}>
            {t("doctor.passkeyAdd")}
          </button>
        </form>
      ) : (
        <p class="hcw-muted" id="passkey-unsupported">
          {t("doctor.passkey.unsupported")}
        </p>
      )}
      {error.value && (
        <p id="passkey-error" class="hcw-field-error" role="alert">
          {passkeyErrorText(error.value)}
        </p>
      )}
      <p id="passkey-status" class="hcw-hint" role="status">
        {notice.value === "added" ? t("doctor.passkeyAddedNotice") : notice.value === "deleted" ? t("doctor.passkeyDeletedNotice") : ""}
      </p>
      {codes.value && (
        <div class="hcw-notice" id="passkey-recovery">
          <p>{t("doctor.recoveryIntro")}</p>
          <ul class="hcw-codes">
            {codes.value.map((c) => (
              <li key={c}>
                <code>{c}</code>
              </li>
            ))}
          </ul>
          <button type="button" class="hcw-button" id="passkey-recovery-done" onClick={() => (codes.value = null)}>
            {t("doctor.recoveryDone")}
          </button>
        </div>
      )}
    </section>
  );
}

/**
 * "Use a passkey" for the sign-in's second step (next to the code form).
 * Renders nothing where the browser has no WebAuthn.
 */
export function PasskeySignInButton({ auth, supported = passkeysSupported() }: { auth: DoctorAuth; supported?: boolean }) {
  const error = useSignal<string | null>(null);
  if (!supported) return null;
  return (
    <section class="hcw-card hcw-passkey-signin" aria-labelledby="passkey-signin-hint">
      <p class="hcw-hint" id="passkey-signin-hint">
        {t("doctor.passkeyOr")}
      </p>
      <button
        type="button"
        id="passkey-signin"
        class="hcw-button hcw-button-secondary"
        disabled={auth.busy.value}
        onClick={async () => {
          error.value = null;
          error.value = await auth.usePasskey();
        }}
      >
        {t("doctor.usePasskey")}
      </button>
      {error.value && (
        <p id="passkey-signin-error" class="hcw-field-error" role="alert">
          {error.value === "factor_state" ? t("doctor.passkey.noneRegistered") : passkeyErrorText(error.value)}
        </p>
      )}
    </section>
  );
}
