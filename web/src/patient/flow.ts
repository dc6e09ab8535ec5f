/**
 * The patient's way in: invite link -> terms -> redemption -> waiting room,
 * with one refusal screen per reason the backend gives, and the end.
 *
 * The link is https://<patient host>/i/<token>. The token is read from the
 * path, kept in sessionStorage (this tab only) until redeemed, and removed
 * from the address bar at once, so it stays out of the history and of
 * anything copied from the bar. After the redemption the session cookie
 * (HttpOnly) is the only credential; a reload goes straight back to the room.
 */
import { signal, type ReadonlySignal } from "@preact/signals";
import { ApiError } from "../shared/api";
import type { Participation, RedeemRefusal, Redeemed } from "../shared/api-types";
import { applyPreferredLanguage } from "../shared/i18n";
import { getParticipation, redeemInvite } from "./api";

/** sessionStorage key of a token not yet redeemed. */
export const TOKEN_STORAGE_KEY = "hcw.invite";

/** Why the patient cannot go on: the backend's refusal codes, or no answer / a server error. */
export type RefusalCode = RedeemRefusal | "network" | "server";

/** Why the patient's place in the consultation ended. */
export type EndReason = "completed" | "cancelled" | "revoked" | "session_ended";

export type Screen =
  | { name: "loading" }
  | { name: "home" }
  | { name: "terms" }
  | { name: "redeeming" }
  | { name: "refused"; code: RefusalCode; opensAt?: string; retryAfterSeconds?: number }
  | { name: "room"; participation: Participation }
  | { name: "ended"; reason: EndReason; participation?: Participation };

export interface FlowDeps {
  redeem: (token: string) => Promise<Redeemed>;
  participation: () => Promise<Participation>;
  /** Default sessionStorage. */
  storage: Pick<Storage, "getItem" | "setItem" | "removeItem"> | null;
  /** Replaces the address bar's URL (default history.replaceState). */
  replaceUrl: (path: string) => void;
  /** Default Date.now. */
  now: () => number;
  /** Applies the invite's language unless the user chose one (default i18n). */
  preferLanguage: (tag: string | undefined) => void;
}

const REFUSALS: ReadonlySet<string> = new Set([
  "invite_invalid",
  "invite_revoked",
  "invite_expired",
  "invite_too_early",
  "consultation_closed",
  "throttled",
]);

/** Longest wait a timer can hold (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

function sessionStore(): FlowDeps["storage"] {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null;
  }
}

function defaults(): FlowDeps {
  return {
    redeem: (token) => redeemInvite(token),
    participation: () => getParticipation(),
    storage: sessionStore(),
    replaceUrl: (path) => globalThis.history?.replaceState(null, "", path),
    now: Date.now,
    preferLanguage: (tag) => void applyPreferredLanguage(tag),
  };
}

/** What a failed redemption means for the patient. */
export function refusalOf(err: unknown): Extract<Screen, { name: "refused" }> {
  if (!(err instanceof ApiError)) return { name: "refused", code: "server" };
  if (err.status === undefined) return { name: "refused", code: "network" };
  if (err.code && REFUSALS.has(err.code)) {
    const screen: Extract<Screen, { name: "refused" }> = { name: "refused", code: err.code as RedeemRefusal };
    const opensAt = err.body?.["opens_at"];
    if (typeof opensAt === "string") screen.opensAt = opensAt;
    if (err.retryAfterSeconds !== undefined) screen.retryAfterSeconds = err.retryAfterSeconds;
    return screen;
  }
  if (err.status === 404) return { name: "refused", code: "invite_invalid" };
  if (err.status === 429) return { name: "refused", code: "throttled" };
  return { name: "refused", code: "server" };
}

/** Refusals after which the same link will never work. */
function final(code: RefusalCode): boolean {
  return code === "invite_invalid" || code === "invite_revoked" || code === "invite_expired" || code === "consultation_closed";
}

function isNoSession(err: unknown): boolean {
  return err instanceof ApiError && (err.status === 401 || err.status === 403 || err.status === 404);
}

/** The patient app's screens, one at a time. */
export class PatientFlow {
  private readonly deps: FlowDeps;
  private readonly screenSig = signal<Screen>({ name: "loading" });
  readonly screen: ReadonlySignal<Screen> = this.screenSig;
  private token: string | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(deps: Partial<FlowDeps> = {}) {
    this.deps = { ...defaults(), ...deps };
  }

  /** Starts from the page's path: /i/<token> (a new link) or anything else (maybe a session). */
  async start(path: string): Promise<void> {
    // The app may be served under a prefix (the dev server's /apps/patient/).
    const m = /^(.*?)\/i\/([^/?#]+)\/?$/.exec(path);
    if (m?.[2]) {
      this.token = decodeURIComponent(m[2]);
      this.remember(this.token);
      this.deps.replaceUrl(`${m[1]}/`);
      this.screenSig.value = { name: "terms" };
      return;
    }
    this.token = this.deps.storage?.getItem(TOKEN_STORAGE_KEY) ?? null;
    await this.resume();
  }

  /** Looks for a session (the cookie) and goes to the room with it. */
  private async resume(): Promise<void> {
    this.screenSig.value = { name: "loading" };
    try {
      this.enter(await this.deps.participation());
    } catch (err) {
      if (this.token) this.screenSig.value = { name: "terms" };
      else if (isNoSession(err)) this.screenSig.value = { name: "home" };
      else this.screenSig.value = { name: "refused", code: err instanceof ApiError && err.status === undefined ? "network" : "server" };
    }
  }

  /** The patient accepted the terms: redeem the link. */
  acceptTerms(): Promise<void> {
    return this.redeem();
  }

  /** The retry button of a refusal screen. */
  retry(): Promise<void> {
    return this.token ? this.redeem() : this.resume();
  }

  private async redeem(): Promise<void> {
    const token = this.token;
    if (!token) {
      this.screenSig.value = { name: "home" };
      return;
    }
    this.clearTimer();
    this.screenSig.value = { name: "redeeming" };
    let redeemed: Redeemed;
    try {
      redeemed = await this.deps.redeem(token);
    } catch (err) {
      const refused = refusalOf(err);
      if (final(refused.code)) this.forgetToken();
      if (refused.code === "invite_too_early" && refused.opensAt) this.redeemAt(refused.opensAt);
      this.screenSig.value = refused;
      return;
    }
    this.forgetToken();
    if (redeemed.language) this.deps.preferLanguage(redeemed.language);
    try {
      this.enter(await this.deps.participation());
    } catch (err) {
      this.screenSig.value = { name: "refused", code: err instanceof ApiError && err.status === undefined ? "network" : "server" };
    }
  }

  /** A link that opens later: redeem by itself then (with a little spread). */
  private redeemAt(opensAt: string): void {
    const wait = Date.parse(opensAt) - this.deps.now() + 1000 + Math.random() * 4000;
    if (!Number.isFinite(wait) || wait > MAX_TIMER_MS) return;
    this.timer = setTimeout(() => void this.redeem(), Math.max(0, wait));
  }

  private enter(p: Participation): void {
    if (p.language) this.deps.preferLanguage(p.language);
    this.screenSig.value =
      p.consultation_status === "closed" ? { name: "ended", reason: "completed", participation: p } : { name: "room", participation: p };
  }

  /** The room saw the consultation's status change (a doctor accepted it). */
  updateStatus(status: Participation["consultation_status"]): void {
    const cur = this.screenSig.value;
    if (cur.name !== "room" || cur.participation.consultation_status === status) return;
    this.screenSig.value = { name: "room", participation: { ...cur.participation, consultation_status: status } };
  }

  /** The room ended (closed, cancelled, revoked, session gone). */
  end(reason: EndReason): void {
    const cur = this.screenSig.value;
    const participation = cur.name === "room" || cur.name === "ended" ? cur.participation : undefined;
    this.screenSig.value = participation ? { name: "ended", reason, participation } : { name: "ended", reason };
  }

  /** Stops the timer of a too-early link. */
  dispose(): void {
    this.clearTimer();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private remember(token: string): void {
    try {
      this.deps.storage?.setItem(TOKEN_STORAGE_KEY, token);
    } catch {
      // Kept in memory only: a reload then needs the link again.
    }
  }

  private forgetToken(): void {
    this.token = null;
    try {
      this.deps.storage?.removeItem(TOKEN_STORAGE_KEY);
    } catch {
      // Nothing stored.
    }
  }
}
