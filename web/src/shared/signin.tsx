/**
 * The staff sign-in steps shared by the doctor and admin apps: email and
 * password, a TOTP (or recovery) code, the first TOTP enrolment and its
 * recovery codes, and the password of a setup or reset link. The state
 * lives in the app's auth object (DoctorAuth); these are its screens.
 */
import type { ReadonlySignal } from "@preact/signals";
import type { ComponentChildren } from "preact";
import { useSignal } from "@preact/signals";
import { useEffect, useRef } from "preact/hooks";
import { t } from "./i18n";
import "./staff.css";

/** What the sign-in screens need from the auth object (DoctorAuth has it all). */
export interface SignInAuth {
  /** The last refusal's code (invalid_credentials, invalid_code, …), or null. */
  readonly error: ReadonlySignal<string | null>;
  readonly busy: ReadonlySignal<boolean>;
  signIn(email: string, password: string): Promise<void>;
  verify(code: string): Promise<void>;
  beginEnrolment(): Promise<void>;
  confirmEnrolment(code: string): Promise<void>;
  finishEnrolment(): Promise<void>;
  setPassword(password: string): Promise<void>;
}

/** The sign-in steps before the app itself (every AuthScreen but "ready"). */
export type SignInScreen =
  | { name: "loading" }
  | { name: "signin"; notice?: "password_set" | "signed_out" }
  | { name: "second_factor" }
  | { name: "enrol"; enrolment: { qr_png: string; secret: string } | null }
  | { name: "recovery"; codes: string[] }
  | { name: "setup"; purpose: "setup" | "reset" };

/** An app's own error texts: the text of a code it knows, else null or undefined. */
export type MoreErrors = (code: string) => string | null | undefined;

function signInErrorText(code: string): string | null {
  switch (code) {
    case "invalid_credentials":
      return t("doctor.error.invalid_credentials");
    case "invalid_code":
      return t("doctor.error.invalid_code");
    case "throttled":
      return t("doctor.error.throttled");
    case "account_not_active":
      return t("doctor.error.account_not_active");
    case "weak_password":
      return t("doctor.error.weak_password");
    case "token_invalid":
      return t("doctor.error.token_invalid");
    case "network":
      return t("doctor.error.network");
    default:
      return null;
  }
}

/** The text of an API error code: the app's own texts first, then the sign-in's, else a generic one. */
export function errorText(code: string | null, more?: MoreErrors): string | null {
  if (code === null) return null;
  return more?.(code) ?? signInErrorText(code) ?? t("doctor.error.generic");
}

/** One error, announced (role=alert); nothing when code is null. */
export function ErrorLine({ code, id, more }: { code: string | null; id?: string; more?: MoreErrors }) {
  const text = errorText(code, more);
  return text ? (
    <p id={id} class="hcw-field-error" role="alert">
      {text}
    </p>
  ) : null;
}

export function SignInForm({ auth, notice }: { auth: SignInAuth; notice?: "password_set" | "signed_out" | undefined }) {
  const email = useSignal("");
  const password = useSignal("");
  return (
    <form
      class="hcw-card hcw-form"
      noValidate
      aria-describedby={auth.error.value ? "signin-error" : undefined}
      onSubmit={(e) => {
        e.preventDefault();
        void auth.signIn(email.value, password.value);
      }}
    >
      {notice === "password_set" && (
        <p class="hcw-notice hcw-notice-ok" role="status">
          {t("doctor.passwordSet")}
        </p>
      )}
      {notice === "signed_out" && (
        <p class="hcw-notice" role="status">
          {t("doctor.signedOut")}
        </p>
      )}
      <div class="hcw-field">
        <label for="signin-email">{t("doctor.email")}</label>
        <input id="signin-email" type="email" autoComplete="username" required value={email.value} onInput={(e) => (email.value = e.currentTarget.value)} />
      </div>
      <div class="hcw-field">
        <label for="signin-password">{t("doctor.password")}</label>
        <input
          id="signin-password"
          type="password"
          autoComplete="current-password"
          required
          value={password.value}
          onInput={(e) => (password.value = e.currentTarget.value)}
        />
      </div>
      <ErrorLine code={auth.error.value} id="signin-error" />
      <button id="signin-submit" type="submit" class="hcw-button" disabled={auth.busy.value || !email.value || !password.value}>
        {t("doctor.signIn")}
      </button>
    </form>
  );
}

/** A TOTP or recovery code; focused when shown. */
export function CodeForm({ auth, onCode, hint }: { auth: SignInAuth; onCode: (code: string) => void; hint: string }) {
  const code = useSignal("");
  const ref = useRef<HTMLInputElement>(null);
  useEffect(() => ref.current?.focus(), []);
  return (
    <form
      class="hcw-form"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        onCode(code.value);
      }}
    >
      <div class="hcw-field">
        <label for="totp-code">{t("doctor.code")}</label>
        <input
          ref={ref}
          id="totp-code"
          type="text"
          inputMode="numeric"
          autoComplete="one-time-code"
          aria-describedby="totp-hint"
          value={code.value}
          onInput={(e) => (code.value = e.currentTarget.value)}
        />
        <p id="totp-hint" class="hcw-hint">
          {hint}
        </p>
      </div>
      <ErrorLine code={auth.error.value} id="totp-error" />
      <button id="totp-submit" type="submit" class="hcw-button" disabled={auth.busy.value || code.value.trim() === ""}>
        {t("doctor.verify")}
      </button>
    </form>
  );
}

export function EnrolScreen({ auth, screen }: { auth: SignInAuth; screen: Extract<SignInScreen, { name: "enrol" }> }) {
  const e = screen.enrolment;
  return (
    <section class="hcw-card">
      <p>{t("doctor.enrolIntro")}</p>
      {e ? (
        <>
          <img class="hcw-qr" src={`data:image/png;base64,${e.qr_png}`} alt={t("doctor.qrAlt")} width={200} height={200} />
          <p class="hcw-hint">
            {t("doctor.secretLabel")} <code id="totp-secret">{e.secret}</code>
          </p>
          <CodeForm auth={auth} onCode={(c) => void auth.confirmEnrolment(c)} hint={t("doctor.enrolHint")} />
        </>
      ) : (
        <>
          <ErrorLine code={auth.error.value} id="enrol-error" />
          <button type="button" class="hcw-button" onClick={() => void auth.beginEnrolment()} disabled={auth.busy.value}>
            {t("common.retry")}
          </button>
        </>
      )}
    </section>
  );
}

export function RecoveryScreen({ auth, codes }: { auth: SignInAuth; codes: string[] }) {
  return (
    <section class="hcw-card">
      <p>{t("doctor.recoveryIntro")}</p>
      <ul class="hcw-codes" id="recovery-codes">
        {codes.map((c) => (
          <li key={c}>
            <code>{c}</code>
          </li>
        ))}
      </ul>
      <button id="recovery-done" type="button" class="hcw-button" onClick={() => void auth.finishEnrolment()}>
        {t("doctor.recoveryDone")}
      </button>
    </section>
  );
}

/** The password of a setup or reset link, typed twice. */
export function SetupScreen({ auth }: { auth: SignInAuth }) {
  const pw = useSignal("");
  const again = useSignal("");
  const mismatch = useSignal(false);
  return (
    <form
      class="hcw-card hcw-form"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        mismatch.value = pw.value !== again.value;
        if (!mismatch.value) void auth.setPassword(pw.value);
      }}
    >
      <p>{t("doctor.setupIntro")}</p>
      <div class="hcw-field">
        <label for="setup-password">{t("doctor.newPassword")}</label>
        <input id="setup-password" type="password" autoComplete="new-password" minLength={8} maxLength={128} value={pw.value} onInput={(e) => (pw.value = e.currentTarget.value)} />
        <p class="hcw-hint">{t("doctor.passwordRules")}</p>
      </div>
      <div class="hcw-field">
        <label for="setup-confirm">{t("doctor.confirmPassword")}</label>
        <input id="setup-confirm" type="password" autoComplete="new-password" value={again.value} onInput={(e) => (again.value = e.currentTarget.value)} />
      </div>
      {mismatch.value && (
        <p class="hcw-field-error" role="alert">
          {t("doctor.passwordMismatch")}
        </p>
      )}
      <ErrorLine code={auth.error.value} id="setup-error" />
      <button id="setup-submit" type="submit" class="hcw-button" disabled={auth.busy.value || pw.value.length < 8}>
        {t("doctor.setPassword")}
      </button>
    </form>
  );
}

/**
 * The screen of a sign-in step. secondFactorExtra goes under the code form
 * of the second step (the doctor app's "Use a passkey", for instance).
 */
export function AuthStep({ auth, screen, secondFactorExtra }: { auth: SignInAuth; screen: SignInScreen; secondFactorExtra?: ComponentChildren }) {
  switch (screen.name) {
    case "loading":
      return (
        <p class="hcw-busy" role="status">
          {t("common.loading")}
        </p>
      );
    case "signin":
      return <SignInForm auth={auth} notice={screen.notice} />;
    case "second_factor":
      return (
        <section class="hcw-card">
          <CodeForm auth={auth} onCode={(c) => void auth.verify(c)} hint={t("doctor.codeHint")} />
          {secondFactorExtra}
        </section>
      );
    case "enrol":
      return <EnrolScreen auth={auth} screen={screen} />;
    case "recovery":
      return <RecoveryScreen auth={auth} codes={screen.codes} />;
    case "setup":
      return <SetupScreen auth={auth} />;
  }
}

/** The page title of a sign-in step. */
export function authTitle(screen: SignInScreen): string {
  switch (screen.name) {
    case "loading":
      return t("common.loading");
    case "signin":
      return t("doctor.signInTitle");
    case "second_factor":
      return t("doctor.secondFactorTitle");
    case "enrol":
      return t("doctor.enrolTitle");
    case "recovery":
      return t("doctor.recoveryTitle");
    case "setup":
      return screen.purpose === "reset" ? t("doctor.resetTitle") : t("doctor.setupTitle");
  }
}
