/**
 * The idle-timeout warning. The backend ends a staff session unused for
 * HCW_SESSION_IDLE_TIMEOUT (30 min by default), counted from the last API
 * request; no API answer says how long that is, so the app keeps its own
 * clock of the doctor's activity (clicks, keys, scrolling):
 *  - while the doctor is active, a cheap authenticated request at most every
 *    `keepAliveMs` keeps the server's clock in step with theirs;
 *  - after `idleMs` (default 25 min) without activity, a warning gives
 *    `warnMs` (default 5 min) to choose "Stay signed in" (which makes a
 *    request) before the app signs out.
 * The clock is checked on a short tick against Date.now(), so a laptop that
 * slept past the deadline signs out as soon as it wakes.
 */
import { signal, type ReadonlySignal } from "@preact/signals";
import { ApiError } from "../shared/api";

export type IdlePhase =
  | { name: "active" }
  /** deadline: epoch ms at which the app signs out. */
  | { name: "warning"; deadline: number }
  | { name: "expired" };

export interface IdleOptions {
  /** Inactivity before the warning (default 25 min). */
  idleMs?: number;
  /** Time the warning gives (default 5 min). */
  warnMs?: number;
  /** Least time between two keep-alive requests while active (default 5 min); 0: none. */
  keepAliveMs?: number;
  /** How often the clock is checked (default 5 s). */
  tickMs?: number;
  /** The cheap authenticated request (GET /me); an ApiError 401/403 means the session is gone. */
  keepAlive: () => Promise<unknown>;
  /** The time's up, or a keep-alive found the session gone. */
  onExpire: () => void;
  /** True while something counts as activity without input (a call in progress). */
  busy?: () => boolean;
  now?: () => number;
  /** Default window: where activity is listened for. null: only activity() calls. */
  target?: EventTarget | null;
}

export const DEFAULT_IDLE_MS = 25 * 60_000;
export const DEFAULT_WARN_MS = 5 * 60_000;

/**
 * The clock's settings for a server idle timeout (GET /me's
 * session_idle_timeout_seconds). The server counts from the last request
 * it saw, which may be up to one keep-alive interval before the doctor's
 * last activity, and writes its clock once a minute at most: the app signs
 * out that much earlier, so that "Stay signed in" always finds the session
 * alive. Undefined or nonsense: the defaults.
 */
export function idleOptionsFor(timeoutSeconds: number | undefined): Pick<IdleOptions, "idleMs" | "warnMs" | "keepAliveMs"> {
  if (timeoutSeconds === undefined || !Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) return {};
  const total = timeoutSeconds * 1000;
  const keepAliveMs = Math.min(5 * 60_000, Math.max(30_000, total / 10));
  const warnMs = Math.min(DEFAULT_WARN_MS, total / 4);
  const idleMs = Math.max(30_000, total - keepAliveMs - 60_000 - warnMs);
  return { idleMs, warnMs, keepAliveMs };
}

const ACTIVITY = ["pointerdown", "keydown", "wheel", "touchstart", "scroll", "mousemove"] as const;

export class IdleWatch {
  private readonly o: Required<Omit<IdleOptions, "target">> & { target: EventTarget | null };
  private readonly phaseSig = signal<IdlePhase>({ name: "active" });
  private readonly busySig = signal(false);
  /** active, warning (with its deadline), or expired. */
  readonly phase: ReadonlySignal<IdlePhase> = this.phaseSig;
  private readonly failedSig = signal(false);
  /** A "Stay signed in" request is on its way. */
  readonly staying: ReadonlySignal<boolean> = this.busySig;
  /** The last "Stay signed in" did not reach the server (try again). */
  readonly failed: ReadonlySignal<boolean> = this.failedSig;
  private lastActivity = 0;
  private lastKeepAlive = 0;
  private keepAliveInFlight = false;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(options: IdleOptions) {
    const g = globalThis as { window?: EventTarget };
    this.o = {
      idleMs: options.idleMs ?? DEFAULT_IDLE_MS,
      warnMs: options.warnMs ?? DEFAULT_WARN_MS,
      keepAliveMs: options.keepAliveMs ?? 5 * 60_000,
      tickMs: options.tickMs ?? 5000,
      keepAlive: options.keepAlive,
      onExpire: options.onExpire,
      busy: options.busy ?? (() => false),
      now: options.now ?? (() => Date.now()),
      target: options.target === undefined ? (g.window ?? null) : options.target,
    };
  }

  start(): () => void {
    const now = this.o.now();
    this.lastActivity = now;
    this.lastKeepAlive = now;
    this.phaseSig.value = { name: "active" };
    for (const e of ACTIVITY) this.o.target?.addEventListener(e, this.onEvent, { capture: true, passive: true });
    if (!this.timer) this.timer = setInterval(() => this.check(), this.o.tickMs);
    return () => this.stop();
  }

  stop(): void {
    for (const e of ACTIVITY) this.o.target?.removeEventListener(e, this.onEvent, { capture: true });
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private readonly onEvent = (): void => this.activity();

  /** The doctor did something. While the warning shows, only "Stay signed in" counts. */
  activity(): void {
    if (this.phaseSig.value.name !== "active") return;
    const now = this.o.now();
    this.lastActivity = now;
    if (this.o.keepAliveMs > 0 && now - this.lastKeepAlive >= this.o.keepAliveMs) void this.ping();
  }

  /** "Stay signed in": a request renews the server's session, and the clock restarts. */
  async stay(): Promise<boolean> {
    if (this.phaseSig.value.name === "expired") return false;
    this.busySig.value = true;
    this.failedSig.value = false;
    try {
      await this.o.keepAlive();
    } catch (err) {
      // 401/403: the session is gone already; anything else may pass.
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) this.expire();
      else this.failedSig.value = true;
      return false;
    } finally {
      this.busySig.value = false;
    }
    const now = this.o.now();
    this.lastActivity = now;
    this.lastKeepAlive = now;
    this.phaseSig.value = { name: "active" };
    return true;
  }

  /** Checks the clock (the tick calls it). */
  check(): void {
    const now = this.o.now();
    const p = this.phaseSig.value;
    if (p.name === "expired") return;
    if (p.name === "warning") {
      if (now >= p.deadline) this.expire();
      return;
    }
    if (this.o.busy()) {
      this.lastActivity = now;
      if (this.o.keepAliveMs > 0 && now - this.lastKeepAlive >= this.o.keepAliveMs) void this.ping();
      return;
    }
    const idle = now - this.lastActivity;
    if (idle >= this.o.idleMs + this.o.warnMs) this.expire();
    else if (idle >= this.o.idleMs) this.phaseSig.value = { name: "warning", deadline: this.lastActivity + this.o.idleMs + this.o.warnMs };
  }

  private async ping(): Promise<void> {
    if (this.keepAliveInFlight) return;
    this.keepAliveInFlight = true;
    this.lastKeepAlive = this.o.now();
    try {
      await this.o.keepAlive();
    } catch {
      // A failed keep-alive is not proof the session is gone (a network
      // blip); the next request or the socket will tell.
    } finally {
      this.keepAliveInFlight = false;
    }
  }

  private expire(): void {
    if (this.phaseSig.value.name === "expired") return;
    this.phaseSig.value = { name: "expired" };
    this.stop();
    this.o.onExpire();
  }
}
