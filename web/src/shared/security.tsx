/**
 * The Security section of the staff apps (my passkeys: list, add, delete)
 * and the sign-in's "Use a passkey" option: the doctor app's Security view
 * and the admin console's Security section are this one component, on the
 * same /api/v1/me/passkeys and /auth/passkeys routes of their own host.
 */
import type { ReadonlySignal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { useSignal } from "@preact/signals";
import { Confirm } from "./confirm";
import { formatDate, t } from "./i18n";
import * as passkeyApi from "./passkey";
import { enrolPasskey, passkeysSupported, PasskeyError, passkeyErrorCode, type Passkey, type PasskeyDeps } from "./passkey";
import "./staff.css";

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

export type SecurityApi = Pick<typeof passkeyApi, "myPasskeys" | "deletePasskey">;

export interface SecurityProps {
  /** Default: the API of this host. */
  api?: SecurityApi;
  /** The passkey flows' API and the browser's credentials (fakes in tests). */
  passkeys?: Partial<PasskeyDeps>;
  /** The section's id (the admin console's menu links to it). */
  id?: string;
  /** The id of the section's heading, which names it (default security-title). */
  titleId?: string;
  /**
   * A heading above "Passkeys" (the admin console's "Security"). Without
   * it "Passkeys" heads the section: the doctor app's page title already
   * says "Security".
   */
  title?: string;
}

/** My passkeys: the list, adding one on this device (with recovery codes when it is a first second factor), deleting one. */
export function SecuritySection({ api: a = passkeyApi, passkeys, id, titleId = "security-title", title }: SecurityProps) {
  const list = useSignal<Passkey[] | null>(null);
  const name = useSignal("");
  const busy = useSignal(false);
  const error = useSignal<string | null>(null);
  const notice = useSignal<"added" | "deleted" | null>(null);
  const codes = useSignal<string[] | null>(null);
  const deleting = useSignal<Passkey | null>(null);
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

  const remove = async (p: Passkey) => {
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

  // Headings: the section's, then "Passkeys" under it or heading it, then "Add a passkey".
  const passkeysId = title ? "passkeys-title" : titleId;
  const Sub = title ? "h4" : "h3";
  const keys = list.value ?? [];
  const target = deleting.value;
  return (
    <section id={id} class="hcw-card" aria-labelledby={titleId}>
      {title ? (
        <>
          <h2 id={titleId} tabIndex={-1}>
            {title}
          </h2>
          <h3 id={passkeysId} tabIndex={-1}>
            {t("doctor.passkeysTitle")}
          </h3>
        </>
      ) : (
        <h2 id={passkeysId} class="hcw-card-title" tabIndex={-1}>
          {t("doctor.passkeysTitle")}
        </h2>
      )}
      <p class="hcw-hint">{t("doctor.passkeysIntro")}</p>
      {list.value === null && <p class="hcw-busy">{t("common.loading")}</p>}
      {list.value !== null && keys.length === 0 && <p class="hcw-muted">{t("doctor.passkeysNone")}</p>}
      <ul id="passkey-list" class="hcw-rows" aria-labelledby={passkeysId}>
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
              aria-expanded={target?.id === p.id}
              disabled={busy.value}
              onClick={() => (deleting.value = p)}
            >
              {t("doctor.passkeyDelete")}
            </button>
          </li>
        ))}
      </ul>
      {target && (
        <Confirm
          key={target.id}
          id="passkey-delete-dialog"
          ids={{ text: "confirm-passkey-delete-text", yes: "confirm-passkey-delete", no: "cancel-passkey-delete" }}
          title={t("doctor.passkeyDeleteNamed", { name: target.name })}
          text={t("doctor.passkeyDeleteConfirm", { name: target.name })}
          yes={t("doctor.passkeyDeleteYes")}
          busy={busy.value}
          onYes={() => void remove(target)}
          onNo={() => (deleting.value = null)}
          returnFocus={`passkey-delete-${target.id}`}
          fallbackFocus={passkeysId}
        />
      )}
      {supported ? (
        <form class="hcw-form" noValidate onSubmit={add} aria-labelledby="passkey-add-title">
          <Sub class="hcw-subtitle" id="passkey-add-title">
            {t("doctor.passkeyAddTitle")}
          </Sub>
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

/** What "Use a passkey" needs of the app's sign-in (DoctorAuth has it). */
export interface PasskeySignInAuth {
  readonly busy: ReadonlySignal<boolean>;
  /** The second step with a passkey: why it failed, or null once signed in. */
  usePasskey(): Promise<string | null>;
}

/**
 * "Use a passkey" for the sign-in's second step, under the code form (the
 * AuthStep's secondFactorExtra). Renders nothing where the browser has no
 * WebAuthn.
 */
export function PasskeySignInButton({ auth, supported = passkeysSupported() }: { auth: PasskeySignInAuth; supported?: boolean }) {
  const error = useSignal<string | null>(null);
  if (!supported) return null;
  return (
    <div class="hcw-passkey-signin" role="group" aria-labelledby="passkey-signin-hint">
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
    </div>
  );
}
