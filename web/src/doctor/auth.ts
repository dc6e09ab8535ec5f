/**
 * The doctor's way in: email and password, then a TOTP (or recovery) code;
 * a first sign-in enrols TOTP (QR code, then ten recovery codes shown once).
 * A setup or reset link (https://<doctor host>/setup#<token>, /reset#<token>)
 * sets the password first. The token is read from the fragment (never sent
 * to a server in a URL) and removed from the address bar at once.
 */
import { signal, type ReadonlySignal } from "@preact/signals";
import { ApiError } from "../shared/api";
import type { StaffSession, StaffUser, TotpEnrolment } from "../shared/api-types";
import * as api from "./api";
import { PasskeyError, signInWithPasskey } from "../shared/passkey";

export type AuthScreen =
  | { name: "loading" }
  | { name: "signin"; notice?: "password_set" | "signed_out" }
  | { name: "second_factor" }
  | { name: "enrol"; enrolment: TotpEnrolment | null }
  | { name: "recovery"; codes: string[] }
  | { name: "setup"; purpose: "setup" | "reset" }
  | { name: "ready"; user: StaffUser };

export type AuthApi = Pick<
  typeof api,
  "signIn" | "secondFactor" | "beginEnrolment" | "confirmEnrolment" | "setPasswordWithToken" | "getMe" | "signOut"
>;

export interface AuthDeps {
  api: AuthApi;
  /** Default history.replaceState. */
  replaceUrl: (path: string) => void;
  /** The second step with a passkey (passkey.ts): resolves with the full session. */
  passkey: () => Promise<StaffSession>;
}

/** The API's error code, or "network". */
export function errorCode(err: unknown): string {
  if (err instanceof ApiError) return err.code ?? (err.status === undefined ? "network" : `http_${err.status}`);
  return "network";
}

export class DoctorAuth {
  private readonly deps: AuthDeps;
  private readonly screenSig = signal<AuthScreen>({ name: "loading" });
  private readonly errorSig = signal<string | null>(null);
  private readonly busySig = signal(false);
  readonly screen: ReadonlySignal<AuthScreen> = this.screenSig;
  /** The last refusal's code (invalid_credentials, invalid_code, weak_password, throttled, …). */
  readonly error: ReadonlySignal<string | null> = this.errorSig;
  readonly busy: ReadonlySignal<boolean> = this.busySig;
  private token: string | null = null;

  constructor(deps: Partial<AuthDeps> = {}) {
    this.deps = {
      api,
      replaceUrl: (path) => globalThis.history?.replaceState(null, "", path),
      passkey: () => signInWithPasskey(),
      ...deps,
    };
  }

  /** Starts from the page's address: a setup/reset link, or a session (the cookie), or the sign-in form. */
  async start(path: string, hash: string): Promise<void> {
    const m = /\/(setup|reset)\/?$/.exec(path);
    const token = hash.replace(/^#/, "");
    if (m && token) {
      this.token = decodeURIComponent(token);
      this.deps.replaceUrl(path.replace(/\/(setup|reset)\/?$/, "/"));
      this.screenSig.value = { name: "setup", purpose: m[1] === "reset" ? "reset" : "setup" };
      return;
    }
    await this.loadMe();
  }

  private async loadMe(): Promise<void> {
    try {
      this.screenSig.value = { name: "ready", user: await this.deps.api.getMe() };
    } catch (err) {
      // second_factor_required: a password-level session from before a reload.
      if (err instanceof ApiError && err.code === "second_factor_required") this.screenSig.value = { name: "second_factor" };
      else this.screenSig.value = { name: "signin" };
    }
  }

  /** Sets the password with the link's token, then asks to sign in. */
  async setPassword(password: string): Promise<void> {
    const cur = this.screenSig.value;
    if (cur.name !== "setup" || !this.token) return;
    const token = this.token;
    if (await this.run(() => this.deps.api.setPasswordWithToken(token, cur.purpose, password))) {
      this.token = null;
      this.screenSig.value = { name: "signin", notice: "password_set" };
    }
  }

  async signIn(email: string, password: string): Promise<void> {
    let session: StaffSession | undefined;
    if (!(await this.run(async () => void (session = await this.deps.api.signIn(email.trim(), password))))) return;
    if (session) await this.after(session);
  }

  async verify(code: string): Promise<void> {
    let session: StaffSession | undefined;
    if (!(await this.run(async () => void (session = await this.deps.api.secondFactor(code.replace(/\s+/g, "")))))) return;
    if (session) await this.after(session);
  }

  /**
   * The second step with a passkey instead of a code. Resolves with why it
   * failed (passkey.ts's codes: passkey_cancelled, passkey_unsupported, or
   * the API's: invalid_passkey, factor_state when no passkey is registered,
   * throttled, network), or null once signed in.
   */
  async usePasskey(): Promise<string | null> {
    if (this.screenSig.value.name !== "second_factor") return "factor_state";
    this.busySig.value = true;
    this.errorSig.value = null;
    let session: StaffSession;
    try {
      session = await this.deps.passkey();
    } catch (err) {
      return err instanceof PasskeyError ? err.code : errorCode(err);
    } finally {
      this.busySig.value = false;
    }
    await this.after(session);
    return null;
  }

  /** Asks for a TOTP secret (the QR code to scan). */
  async beginEnrolment(): Promise<void> {
    let e: TotpEnrolment | undefined;
    if (await this.run(async () => void (e = await this.deps.api.beginEnrolment()))) {
      this.screenSig.value = { name: "enrol", enrolment: e ?? null };
    }
  }

  async confirmEnrolment(code: string): Promise<void> {
    let codes: string[] = [];
    if (await this.run(async () => void (codes = (await this.deps.api.confirmEnrolment(code.replace(/\s+/g, ""))).recovery_codes))) {
      this.screenSig.value = { name: "recovery", codes };
    }
  }

  /** After the recovery codes were shown. */
  async finishEnrolment(): Promise<void> {
    await this.loadMe();
  }

  async signOut(): Promise<void> {
    await this.deps.api.signOut().catch(() => undefined);
    this.screenSig.value = { name: "signin", notice: "signed_out" };
  }

  /** The session ended elsewhere (the socket said so, or a 401). */
  expired(): void {
    this.screenSig.value = { name: "signin" };
  }

  private async after(s: StaffSession): Promise<void> {
    if (s.level === "full") return this.loadMe();
    if (s.next === "enrol") {
      this.screenSig.value = { name: "enrol", enrolment: null };
      await this.beginEnrolment();
      return;
    }
    this.screenSig.value = { name: "second_factor" };
  }

  private async run(fn: () => Promise<unknown>): Promise<boolean> {
    this.busySig.value = true;
    this.errorSig.value = null;
    try {
      await fn();
      return true;
    } catch (err) {
      this.errorSig.value = errorCode(err);
      return false;
    } finally {
      this.busySig.value = false;
    }
  }
}
