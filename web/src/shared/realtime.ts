/**
 * The real-time client: one WebSocket to /ws on the app's own host, kept open
 * across network changes.
 *
 * Protocol (backend/internal/realtime): every message is {type, id?, data?}.
 * The server sends "hello" first, then the events of the topics the session
 * may see; it answers {type:"ping", id} with {type:"pong", id} and any
 * request with the same id (or {type:"error", id, data:{code}}). It pings at
 * the protocol level itself; the client's own ping finds dead sockets the
 * browser still believes open. It closes with
 *  - 1008 when the session may no longer listen ("consultation closed",
 *    "access revoked", "session ended", "too many messages"): the client
 *    stops and reports why;
 *  - 1013 when the client fell too far behind, 1001 when the server shuts
 *    down: the client reconnects.
 * A refused handshake (401: no or expired session; 403: origin) looks like a
 * network failure to a browser, so after repeated failures the client asks
 * `verifySession` and stops when the session is gone.
 *
 * The server keeps no per-client backlog: there is no resume token. After a
 * reconnect (and on the server's "resync" event, sent when the backend
 * itself may have missed events) the client calls its resync handlers; each
 * store refetches what it shows (chat: the messages after its last seq).
 */
import { signal, type ReadonlySignal } from "@preact/signals";
import type { RealtimeEventType, RealtimeEvents } from "./api-types";

/** Where the connection is. "closed" is final until connect() is called again. */
export type RealtimeState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

/** Why the client stopped for good. */
export type CloseKind =
  /** close() was called (sign-out, leaving the page). */
  | "client"
  /** The consultation was closed: the participant's place is gone. */
  | "consultation_closed"
  /** The participant's access was revoked. */
  | "access_revoked"
  /** The session ended (sign-out elsewhere, account disabled). */
  | "session_ended"
  /** The client sent too many messages. */
  | "rate_limited"
  /** Another 1008 reason. */
  | "policy"
  /** The handshake keeps failing and verifySession says the session is gone. */
  | "unauthenticated";

export interface RealtimeClosed {
  kind: CloseKind;
  code: number;
  reason: string;
}

/** Close code of a policy violation: the server will not take this session back. */
export const CLOSE_POLICY = 1008;
const CLOSE_NORMAL = 1000;
/** Client-chosen codes (4000-4999) for sockets the client drops itself. */
const CLOSE_OFFLINE = 4000;
const CLOSE_HEARTBEAT = 4001;

const POLICY_REASONS: Readonly<Record<string, CloseKind>> = {
  "consultation closed": "consultation_closed",
  "access revoked": "access_revoked",
  "session ended": "session_ended",
  "too many messages": "rate_limited",
};

/** The part of WebSocket the client uses (a fake in tests). */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((ev: Event) => unknown) | null;
  onclose: ((ev: CloseEvent) => unknown) | null;
  onmessage: ((ev: MessageEvent) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** The part of window the client listens to for online/offline. */
export interface NetworkWatch {
  addEventListener(type: "online" | "offline", listener: () => void): void;
  removeEventListener(type: "online" | "offline", listener: () => void): void;
}

export interface BackoffOptions {
  /** First retry delay before jitter (default 1 s). */
  initialMs?: number;
  /** Cap of the exponential delay (default 30 s). */
  maxMs?: number;
  /** A connection open this long resets the back-off (default 60 s). */
  stableMs?: number;
}

export interface HeartbeatOptions {
  /** Client ping interval (default 25 s). */
  intervalMs?: number;
  /** A ping unanswered this long drops the socket (default 10 s). */
  timeoutMs?: number;
}

export interface RealtimeOptions {
  /** Default: wss://<this host>/ws (ws:// when the page is plain http, as in dev). */
  url?: string;
  /** Default: new WebSocket(url). */
  createSocket?: (url: string) => SocketLike;
  backoff?: BackoffOptions;
  /** false turns the client's ping off. */
  heartbeat?: HeartbeatOptions | false;
  /** Asked after repeated failed handshakes: false stops the client ("unauthenticated"). */
  verifySession?: () => Promise<boolean>;
  /** Consecutive failed handshakes before verifySession is asked (default 2). */
  verifyAfterFailures?: number;
  /** Default window (online/offline events). null: ignore the network state. */
  network?: NetworkWatch | null;
  /** Default navigator.onLine. */
  isOnline?: () => boolean;
  /** Jitter source in [0, 1) (default Math.random). */
  random?: () => number;
  /** How long request() waits for its answer (default 15 s). */
  requestTimeoutMs?: number;
}

/** One message from the server. */
export interface Envelope<T = unknown> {
  type: string;
  id?: string;
  data?: T;
}

export type EventHandler<K extends RealtimeEventType> = (data: RealtimeEvents[K], envelope: Envelope) => void;

/** Why resync handlers run. */
export type ResyncCause = "reconnect" | "server";
export type ResyncHandler = (cause: ResyncCause) => void;

/** Raised by request() when there is no open socket, no answer in time, or an error answer. */
export class RealtimeError extends Error {
  override readonly name = "RealtimeError";
  constructor(
    message: string,
    /** The server's error code, when it answered with one. */
    readonly code?: string,
  ) {
    super(message);
  }
}

interface Pending {
  resolve: (env: Envelope) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

const OPEN = 1;

function defaultUrl(): string {
  const loc = globalThis.location;
  const scheme = loc.protocol === "http:" ? "ws:" : "wss:";
  return `${scheme}//${loc.host}/ws`;
}

function closeKind(code: number, reason: string): CloseKind {
  if (code !== CLOSE_POLICY) return "policy";
  return POLICY_REASONS[reason] ?? "policy";
}

/**
 * A WebSocket that reconnects by itself. Create one per page, connect(),
 * register handlers with on() / onResync(), and close() on sign-out.
 */
export class RealtimeClient {
  private readonly url: string;
  private readonly createSocket: (url: string) => SocketLike;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly stableMs: number;
  private readonly heartbeat: Required<HeartbeatOptions> | null;
  private readonly verifySession: (() => Promise<boolean>) | undefined;
  private readonly verifyAfter: number;
  private readonly network: NetworkWatch | null;
  private readonly isOnline: () => boolean;
  private readonly random: () => number;
  private readonly requestTimeoutMs: number;

  private readonly stateSig = signal<RealtimeState>("idle");
  private readonly closedSig = signal<RealtimeClosed | null>(null);
  private readonly helloSig = signal<RealtimeEvents["hello"] | null>(null);
  /** Current connection state. */
  readonly state: ReadonlySignal<RealtimeState> = this.stateSig;
  /** Set once the client stopped for good, with why. */
  readonly closed: ReadonlySignal<RealtimeClosed | null> = this.closedSig;
  /** The last hello from the server. */
  readonly hello: ReadonlySignal<RealtimeEvents["hello"] | null> = this.helloSig;

  private ws: SocketLike | null = null;
  private opened = false;
  private everOpened = false;
  private stopped = true;
  /** Reconnect attempts since the last stable connection. */
  private attempts = 0;
  /** Handshakes in a row that never opened. */
  private failures = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private stableTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private pongTimer: ReturnType<typeof setTimeout> | null = null;
  private nextId = 0;
  private readonly pending = new Map<string, Pending>();
  private readonly handlers = new Map<string, Set<(data: unknown, env: Envelope) => void>>();
  private readonly resyncHandlers = new Set<ResyncHandler>();
  private listening = false;

  constructor(options: RealtimeOptions = {}) {
    this.url = options.url ?? defaultUrl();
    this.createSocket = options.createSocket ?? ((url) => new WebSocket(url));
    this.initialMs = options.backoff?.initialMs ?? 1000;
    this.maxMs = options.backoff?.maxMs ?? 30_000;
    this.stableMs = options.backoff?.stableMs ?? 60_000;
    this.heartbeat =
      options.heartbeat === false
        ? null
        : { intervalMs: options.heartbeat?.intervalMs ?? 25_000, timeoutMs: options.heartbeat?.timeoutMs ?? 10_000 };
    this.verifySession = options.verifySession;
    this.verifyAfter = options.verifyAfterFailures ?? 2;
    this.network = options.network === undefined ? (globalThis.window ?? null) : options.network;
    this.isOnline = options.isOnline ?? (() => globalThis.navigator?.onLine ?? true);
    this.random = options.random ?? Math.random;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 15_000;
  }

  /** Opens the connection (again, after close()). Does nothing while running. */
  connect(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.closedSig.value = null;
    this.attempts = 0;
    this.failures = 0;
    this.everOpened = false;
    this.listen(true);
    if (this.isOnline()) this.open();
    else this.stateSig.value = "reconnecting";
  }

  /** Closes for good (sign-out, leaving): no reconnect until connect(). */
  close(): void {
    if (this.stopped) return;
    this.stop({ kind: "client", code: CLOSE_NORMAL, reason: "client closed" });
  }

  /**
   * Calls handler for each event of this type. The same function registered
   * twice is called once; the returned function unregisters it.
   */
  on<K extends RealtimeEventType>(type: K, handler: EventHandler<K>): () => void;
  on(type: string, handler: (data: unknown, env: Envelope) => void): () => void;
  on(type: string, handler: (data: never, env: Envelope) => void): () => void {
    const h = handler as (data: unknown, env: Envelope) => void;
    let set = this.handlers.get(type);
    if (!set) this.handlers.set(type, (set = new Set()));
    set.add(h);
    return () => {
      set.delete(h);
    };
  }

  /** Calls handler after each reconnect and on the server's resync event. */
  onResync(handler: ResyncHandler): () => void {
    this.resyncHandlers.add(handler);
    return () => {
      this.resyncHandlers.delete(handler);
    };
  }

  /** Sends a message if the socket is open; false otherwise (nothing is queued). */
  send(type: string, data?: unknown, id?: string): boolean {
    const ws = this.ws;
    if (!ws || !this.opened || ws.readyState !== OPEN) return false;
    const env: Envelope = { type };
    if (id !== undefined) env.id = id;
    if (data !== undefined) env.data = data;
    ws.send(JSON.stringify(env));
    return true;
  }

  /** Sends a message with an id and resolves with the server's answer to it. */
  request(type: string, data?: unknown): Promise<Envelope> {
    const id = `c${++this.nextId}`;
    return new Promise<Envelope>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RealtimeError(`${type}: no answer in ${this.requestTimeoutMs} ms`, "timeout"));
      }, this.requestTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      if (!this.send(type, data, id)) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new RealtimeError(`${type}: not connected`, "not_connected"));
      }
    });
  }

  // ------------------------------------------------------------ internals

  private readonly handleOnline = (): void => {
    if (this.stopped || this.ws) return;
    this.clearRetry();
    this.open();
  };

  private readonly handleOffline = (): void => {
    if (this.stopped) return;
    this.clearRetry();
    // A socket may survive a short outage, but the browser says the network
    // is gone: drop it now and come back on "online" rather than wait for
    // the keepalive to notice.
    if (this.ws) this.drop(CLOSE_OFFLINE, "offline");
    else this.stateSig.value = "reconnecting";
  };

  private listen(on: boolean): void {
    if (!this.network || on === this.listening) return;
    this.listening = on;
    if (on) {
      this.network.addEventListener("online", this.handleOnline);
      this.network.addEventListener("offline", this.handleOffline);
    } else {
      this.network.removeEventListener("online", this.handleOnline);
      this.network.removeEventListener("offline", this.handleOffline);
    }
  }

  private open(): void {
    this.retryTimer = null;
    this.opened = false;
    this.stateSig.value = this.everOpened || this.attempts > 0 ? "reconnecting" : "connecting";
    let ws: SocketLike;
    try {
      ws = this.createSocket(this.url);
    } catch {
      // A malformed URL or a CSP refusal: treated like a failed handshake.
      this.afterClose(1006, "", false);
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (ws === this.ws) this.handleOpen();
    };
    ws.onmessage = (ev) => {
      if (ws === this.ws) this.handleMessage(ev.data);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.detach(ws);
      this.afterClose(ev.code, ev.reason, this.opened);
    };
    ws.onerror = () => {
      // Always followed by close.
    };
  }

  private handleOpen(): void {
    this.opened = true;
    this.failures = 0;
    this.stateSig.value = "open";
    const reconnected = this.everOpened;
    this.everOpened = true;
    this.stableTimer = setTimeout(() => {
      this.attempts = 0;
    }, this.stableMs);
    this.startHeartbeat();
    if (reconnected) this.resync("reconnect");
  }

  private handleMessage(raw: unknown): void {
    if (typeof raw !== "string") return;
    let env: Envelope;
    try {
      const v: unknown = JSON.parse(raw);
      if (typeof v !== "object" || v === null || typeof (v as Envelope).type !== "string") return;
      env = v as Envelope;
    } catch {
      return;
    }
    if (env.type === "pong" && this.pongTimer) {
      clearTimeout(this.pongTimer);
      this.pongTimer = null;
    }
    if (env.id !== undefined) {
      const p = this.pending.get(env.id);
      if (p) {
        this.pending.delete(env.id);
        clearTimeout(p.timer);
        if (env.type === "error") {
          const code = (env.data as { code?: string } | undefined)?.code;
          p.reject(new RealtimeError(`server refused the message: ${code ?? "error"}`, code));
        } else {
          p.resolve(env);
        }
      }
    }
    if (env.type === "hello") this.helloSig.value = env.data as RealtimeEvents["hello"];
    if (env.type === "resync") this.resync("server");
    const set = this.handlers.get(env.type);
    if (!set) return;
    for (const h of [...set]) {
      try {
        h(env.data, env);
      } catch (err) {
        console.error(`realtime: handler of ${env.type} failed`, err);
      }
    }
  }

  private resync(cause: ResyncCause): void {
    for (const h of [...this.resyncHandlers]) {
      try {
        h(cause);
      } catch (err) {
        console.error("realtime: resync handler failed", err);
      }
    }
  }

  private startHeartbeat(): void {
    if (!this.heartbeat) return;
    const { intervalMs, timeoutMs } = this.heartbeat;
    this.pingTimer = setInterval(() => {
      if (this.pongTimer) return;
      if (!this.send("ping", undefined, `p${++this.nextId}`)) return;
      this.pongTimer = setTimeout(() => {
        this.pongTimer = null;
        this.drop(CLOSE_HEARTBEAT, "no pong");
      }, timeoutMs);
    }, intervalMs);
  }

  private stopTimers(): void {
    if (this.stableTimer) clearTimeout(this.stableTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.pongTimer) clearTimeout(this.pongTimer);
    this.stableTimer = this.pingTimer = this.pongTimer = null;
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** Forgets a socket: its late events are ignored. */
  private detach(ws: SocketLike): void {
    ws.onopen = ws.onclose = ws.onmessage = ws.onerror = null;
    if (this.ws === ws) this.ws = null;
    this.stopTimers();
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new RealtimeError("connection lost", "not_connected"));
      this.pending.delete(id);
    }
  }

  /** Drops the current socket without waiting for its close handshake, then reconnects. */
  private drop(code: number, reason: string): void {
    const ws = this.ws;
    if (!ws) return;
    const wasOpen = this.opened;
    this.detach(ws);
    try {
      ws.close(code, reason);
    } catch {
      // Already closing.
    }
    this.afterClose(code, reason, wasOpen);
  }

  private afterClose(code: number, reason: string, wasOpen: boolean): void {
    this.opened = false;
    if (this.stopped) return;
    if (code === CLOSE_POLICY) {
      this.stop({ kind: closeKind(code, reason), code, reason });
      return;
    }
    if (!wasOpen) this.failures++;
    if (this.verifySession && this.failures >= this.verifyAfter) {
      this.stateSig.value = "reconnecting";
      const failures = this.failures;
      this.verifySession().then(
        (ok) => {
          if (this.stopped || this.ws || failures !== this.failures) return;
          if (!ok) this.stop({ kind: "unauthenticated", code, reason: "session no longer valid" });
          else this.scheduleReconnect();
        },
        () => {
          if (!this.stopped && !this.ws) this.scheduleReconnect();
        },
      );
      return;
    }
    this.scheduleReconnect();
  }

  /** Next delay: exponential with "equal jitter" (half fixed, half random), capped. */
  private nextDelay(): number {
    const exp = Math.min(this.maxMs, this.initialMs * 2 ** this.attempts);
    this.attempts++;
    return exp / 2 + this.random() * (exp / 2);
  }

  private scheduleReconnect(): void {
    this.stateSig.value = "reconnecting";
    if (this.retryTimer) return;
    if (!this.isOnline()) return; // "online" reconnects
    this.retryTimer = setTimeout(() => this.open(), this.nextDelay());
  }

  private stop(why: RealtimeClosed): void {
    this.stopped = true;
    this.clearRetry();
    const ws = this.ws;
    if (ws) {
      this.detach(ws);
      try {
        ws.close(CLOSE_NORMAL, why.kind === "client" ? "client closed" : why.reason);
      } catch {
        // Already closing.
      }
    }
    this.stopTimers();
    this.listen(false);
    this.opened = false;
    this.closedSig.value = why;
    this.stateSig.value = "closed";
  }
}
