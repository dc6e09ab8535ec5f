/**
 * The chat of one consultation, as one browser tab sees it.
 *
 * Delivery (backend/internal/consultation/chat.go): every stored message
 * has a seq, from 1 without gaps, per consultation. The sender gives each
 * message its own idempotency key; sending the same key again returns the
 * same ack (seq), so a message whose answer was lost is resent with the SAME
 * key and is never stored twice. The chat.message event carries only the
 * consultation and the seq: the client fetches the messages after the last
 * seq it holds without a gap (GET .../messages?after=<seq>), and does the
 * same after every reconnect.
 *
 * So the store keeps: the confirmed messages by seq (a second copy of a seq,
 * from an ack, an event or a fetch, changes nothing), the pending ones by key
 * (until an ack or a fetched message with that key confirms them), and the
 * highest seq up to which it holds every message.
 *
 * Unsent messages survive a reload of the tab when the store is given a
 * storage (the apps pass sessionStorage): the pending ones are written there
 * with their keys and sent again, with the same keys, by the next store of
 * the same consultation, so a message typed just before a crash or a reload
 * is neither lost nor stored twice. sessionStorage, not localStorage: the
 * text is health data, and it must not outlive the tab on a shared device.
 */
import { batch, computed, signal, type ReadonlySignal } from "@preact/signals";
import { ApiError } from "./api";
import type { ChatAck, ChatMessage, ChatMessagePage, RealtimeEvents } from "./api-types";
import type { RealtimeClient } from "./realtime";

/** Longest text the backend accepts, in characters (code points). */
export const MAX_MESSAGE_LENGTH = 10_000;
/** Page size asked when catching up (the backend's maximum is 500). */
const PAGE = 200;

/** How the store reaches the API: REST calls of a participant or of staff. */
export interface ChatTransport {
  send(key: string, text: string): Promise<ChatAck>;
  list(after: number, limit: number): Promise<ChatMessagePage>;
  markRead(seq: number): Promise<void>;
}

/** Who "me" is, to tell one's own messages and read receipts apart. */
export interface ChatIdentity {
  participantId?: string;
  userId?: string;
}

export type ChatItemStatus = "sending" | "failed" | "sent";

/** One line of the chat as shown. */
export interface ChatItem {
  /** The sender's idempotency key; unique enough to key list items. */
  key: string;
  /** Set once stored. */
  seq?: number;
  id?: string;
  text: string;
  /** RFC 3339: the server's time once stored, the local time before. */
  createdAt: string;
  mine: boolean;
  senderParticipantId?: string;
  senderUserId?: string;
  status: ChatItemStatus;
  /** For a failed message: the API's error code (e.g. consultation_closed), or "network". */
  error?: string;
  /** For a failed message: whether it will be (or may be) sent again. */
  retryable?: boolean;
}

export interface ChatOptions {
  /** Default crypto.randomUUID(). */
  newKey?: () => string;
  /** Automatic resend back-off of a failed message: first delay and cap (default 2 s, 30 s). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Default Math.random. */
  random?: () => number;
  /** Default new Date(). */
  now?: () => Date;
  /**
   * Where unsent messages are kept across reloads (see the top of this
   * file): a Storage and the item's name. Default: kept in memory only.
   */
  persist?: { storage: Pick<Storage, "getItem" | "setItem" | "removeItem">; key: string };
}

/**
 * Keeps a consultation's unsent messages in this tab's sessionStorage, for
 * one sender (a participant or a staff user id). Undefined when the browser
 * has none or refuses access (some private modes throw).
 */
export function sessionPersist(consultationId: string, who: string): ChatOptions["persist"] {
  try {
    const storage = globalThis.sessionStorage;
    if (!storage) return undefined;
    return { storage, key: `hcw.chat.unsent.${consultationId}.${who}` };
  } catch {
    return undefined;
  }
}

/** A kept unsent message. */
interface StoredPending {
  key: string;
  text: string;
  createdAt: string;
}

/** At most this many unsent messages are kept (the oldest go first). */
const MAX_KEPT = 100;

interface PendingItem {
  key: string;
  text: string;
  createdAt: string;
  order: number;
  status: "sending" | "failed";
  error?: string;
  retryable: boolean;
  attempts: number;
  inFlight: boolean;
  timer: ReturnType<typeof setTimeout> | null;
}

function randomKey(): string {
  const c = globalThis.crypto;
  if (typeof c.randomUUID === "function") return c.randomUUID();
  // randomUUID needs a secure context; the apps run on https, but be safe.
  const b = c.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function errorCode(err: unknown): { code: string; retryable: boolean } {
  if (err instanceof ApiError) return { code: err.code ?? `http_${err.status ?? 0}`, retryable: err.retryable };
  return { code: "network", retryable: true };
}

/** The chat of one consultation. */
export class ChatStore {
  private readonly confirmed = new Map<number, ChatMessage>();
  private readonly pending = new Map<string, PendingItem>();
  private readonly version = signal(0);
  private order = 0;
  /** Every message with seq <= contiguous is held. */
  private contiguous = 0;
  private syncing: Promise<void> | null = null;
  private syncAgain = false;
  private readSent = 0;
  private readInFlight = false;
  private disposed = false;
  private readonly newKey: () => string;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly random: () => number;
  private readonly now: () => Date;
  private readonly persist: ChatOptions["persist"];

  private readonly loadedSig = signal(false);
  private readonly errorSig = signal<string | null>(null);
  private readonly peerReadSig = signal(0);
  private readonly myReadSig = signal(0);

  /** True once the history was fetched once. */
  readonly loaded: ReadonlySignal<boolean> = this.loadedSig;
  /** The error code of the last failed fetch, null once a fetch succeeds. */
  readonly error: ReadonlySignal<string | null> = this.errorSig;
  /** The highest seq someone else has read. */
  readonly peerReadSeq: ReadonlySignal<number> = this.peerReadSig;

  /** Confirmed messages by seq, then pending ones in the order they were written. */
  readonly items: ReadonlySignal<ChatItem[]> = computed(() => {
    void this.version.value;
    const out: ChatItem[] = [...this.confirmed.values()]
      .sort((a, b) => a.seq - b.seq)
      .map((m) => this.itemOf(m));
    const waiting = [...this.pending.values()].sort((a, b) => a.order - b.order);
    for (const p of waiting) {
      const item: ChatItem = { key: p.key, text: p.text, createdAt: p.createdAt, mine: true, status: p.status };
      if (p.status === "failed") {
        item.retryable = p.retryable;
        if (p.error) item.error = p.error;
      }
      out.push(item);
    }
    return out;
  });

  /** Messages of others not yet marked read by this client. */
  readonly unread: ReadonlySignal<number> = computed(() => {
    void this.version.value;
    const read = this.myReadSig.value;
    let n = 0;
    for (const m of this.confirmed.values()) if (m.seq > read && !this.isMine(m)) n++;
    return n;
  });

  constructor(
    private readonly transport: ChatTransport,
    private readonly identity: ChatIdentity,
    options: ChatOptions = {},
  ) {
    this.newKey = options.newKey ?? randomKey;
    this.retryInitialMs = options.retryInitialMs ?? 2000;
    this.retryMaxMs = options.retryMaxMs ?? 30_000;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? (() => new Date());
    this.persist = options.persist;
    this.restore();
  }

  /** Takes back the unsent messages a previous page kept, and sends them. */
  private restore(): void {
    if (!this.persist) return;
    let kept: StoredPending[] = [];
    try {
      const raw = this.persist.storage.getItem(this.persist.key);
      const parsed: unknown = raw ? JSON.parse(raw) : [];
      if (Array.isArray(parsed)) {
        kept = parsed.filter(
          (x): x is StoredPending =>
            typeof x === "object" && x !== null &&
            typeof (x as StoredPending).key === "string" && (x as StoredPending).key !== "" &&
            typeof (x as StoredPending).text === "string" &&
            typeof (x as StoredPending).createdAt === "string",
        );
      }
    } catch {
      kept = []; // unreadable: nothing to restore
    }
    for (const k of kept.slice(-MAX_KEPT)) {
      if (this.pending.has(k.key) || k.text.trim() === "" || [...k.text].length > MAX_MESSAGE_LENGTH) continue;
      const p = this.newPending(k.key, k.text, k.createdAt);
      void this.attempt(p);
    }
  }

  /** Writes the unsent messages to the storage (or removes the item when none). */
  private save(): void {
    if (!this.persist) return;
    // A message the server refused for good (e.g. consultation_closed) is
    // not kept: sending it again after a reload could only fail again.
    const items: StoredPending[] = [...this.pending.values()]
      .filter((p) => p.retryable)
      .sort((a, b) => a.order - b.order)
      .slice(-MAX_KEPT)
      .map((p) => ({ key: p.key, text: p.text, createdAt: p.createdAt }));
    try {
      if (items.length === 0) this.persist.storage.removeItem(this.persist.key);
      else this.persist.storage.setItem(this.persist.key, JSON.stringify(items));
    } catch {
      // Storage full or refused: the messages stay pending in memory.
    }
  }

  private newPending(key: string, text: string, createdAt: string): PendingItem {
    const p: PendingItem = {
      key,
      text,
      createdAt,
      order: ++this.order,
      status: "sending",
      retryable: true,
      attempts: 0,
      inFlight: false,
      timer: null,
    };
    this.pending.set(key, p);
    this.version.value++;
    this.save();
    return p;
  }

  /** The highest seq up to which every message is held. */
  get lastSeq(): number {
    return this.contiguous;
  }

  /**
   * Follows a consultation's events on a real-time client: chat.message and
   * chat.read of this consultation, and resync (fetch, then resend what is
   * pending). Returns the function that stops following.
   */
  attach(rt: RealtimeClient, consultationId: string): () => void {
    const offs = [
      rt.on("chat.message", (d) => {
        if (d.consultation_id === consultationId) this.onMessageEvent(d);
      }),
      rt.on("chat.read", (d) => {
        if (d.consultation_id === consultationId) this.onReadEvent(d);
      }),
      rt.onResync(() => {
        void this.sync();
        this.resendPending();
      }),
    ];
    return () => offs.forEach((off) => off());
  }

  /** Stops the retry timers; the store answers nothing afterwards. */
  dispose(): void {
    this.disposed = true;
    for (const p of this.pending.values()) if (p.timer) clearTimeout(p.timer);
  }

  // ------------------------------------------------------------ receiving

  /**
   * Fetches every message after the last contiguous seq, page after page.
   * Calls made while a fetch runs are folded into one more round.
   */
  sync(): Promise<void> {
    if (this.syncing) {
      this.syncAgain = true;
      return this.syncing;
    }
    this.syncing = this.runSync().finally(() => {
      this.syncing = null;
    });
    return this.syncing;
  }

  private async runSync(): Promise<void> {
    do {
      this.syncAgain = false;
      try {
        let more = true;
        while (more && !this.disposed) {
          const page = await this.transport.list(this.contiguous, PAGE);
          batch(() => {
            for (const m of page.messages) this.accept(m);
            // The page is the whole truth about (after, its last seq]: a seq
            // the server skipped must not be asked for forever.
            const last = page.messages.at(-1);
            if (last && last.seq > this.contiguous) this.contiguous = last.seq;
            this.advance();
            this.loadedSig.value = true;
            this.errorSig.value = null;
          });
          more = page.more && page.messages.length > 0;
        }
      } catch (err) {
        this.errorSig.value = errorCode(err).code;
        return; // the next event, resync or reconnect tries again
      }
    } while (this.syncAgain && !this.disposed);
  }

  /** chat.message {seq}: fetch unless it is already held. */
  onMessageEvent(d: RealtimeEvents["chat.message"]): void {
    if (d.seq > this.contiguous) void this.sync();
  }

  /** chat.read: someone (maybe me in another tab) read up to seq. */
  onReadEvent(d: RealtimeEvents["chat.read"]): void {
    const mine =
      (d.participant_id !== undefined && d.participant_id === this.identity.participantId) ||
      (d.user_id !== undefined && d.user_id === this.identity.userId);
    if (mine) {
      if (d.seq > this.myReadSig.value) this.myReadSig.value = d.seq;
      this.readSent = Math.max(this.readSent, d.seq);
    } else if (d.seq > this.peerReadSig.value) {
      this.peerReadSig.value = d.seq;
    }
  }

  /** Adds a stored message unless its seq is held; confirms the pending one with its key. */
  private accept(m: ChatMessage): void {
    const p = this.pending.get(m.key);
    if (p && this.isMine(m)) this.forget(p);
    if (!this.confirmed.has(m.seq)) this.confirmed.set(m.seq, m);
    this.version.value++;
  }

  private advance(): void {
    while (this.confirmed.has(this.contiguous + 1)) this.contiguous++;
  }

  private isMine(m: ChatMessage): boolean {
    return (
      (m.sender_participant_id !== undefined && m.sender_participant_id === this.identity.participantId) ||
      (m.sender_user_id !== undefined && m.sender_user_id === this.identity.userId)
    );
  }

  private itemOf(m: ChatMessage): ChatItem {
    const item: ChatItem = {
      key: m.key || m.id,
      seq: m.seq,
      id: m.id,
      text: m.text,
      createdAt: m.created_at,
      mine: this.isMine(m),
      status: "sent",
    };
    if (m.sender_participant_id) item.senderParticipantId = m.sender_participant_id;
    if (m.sender_user_id) item.senderUserId = m.sender_user_id;
    return item;
  }

  // ------------------------------------------------------------ sending

  /** Sends a message; returns its key, or null when the text is blank or too long. */
  send(text: string): string | null {
    if (text.trim() === "" || [...text].length > MAX_MESSAGE_LENGTH || this.disposed) return null;
    const key = this.newKey();
    const p = this.newPending(key, text, this.now().toISOString());
    void this.attempt(p);
    return key;
  }

  /** Sends a failed message again now, with its key. */
  retry(key: string): void {
    const p = this.pending.get(key);
    if (p && p.status === "failed") void this.attempt(p);
  }

  /** Drops a failed message the user gave up on. */
  discard(key: string): void {
    const p = this.pending.get(key);
    if (p && p.status === "failed" && !p.inFlight) this.forget(p);
  }

  /** Resends every pending message that may succeed now (after a reconnect). */
  resendPending(): void {
    for (const p of this.pending.values()) if (p.retryable && !p.inFlight) void this.attempt(p);
  }

  private async attempt(p: PendingItem): Promise<void> {
    if (p.inFlight || this.disposed) return;
    if (p.timer) clearTimeout(p.timer);
    p.timer = null;
    p.inFlight = true;
    p.status = "sending";
    delete p.error;
    this.version.value++;
    try {
      const ack = await this.transport.send(p.key, p.text);
      p.inFlight = false;
      if (!this.pending.has(p.key)) return; // a fetch already confirmed it
      this.onAck(p, ack);
    } catch (err) {
      p.inFlight = false;
      if (!this.pending.has(p.key) || this.disposed) return;
      const { code, retryable } = errorCode(err);
      p.status = "failed";
      p.error = code;
      p.retryable = retryable;
      p.attempts++;
      this.version.value++;
      if (!retryable) this.save();
      if (retryable) {
        const exp = Math.min(this.retryMaxMs, this.retryInitialMs * 2 ** (p.attempts - 1));
        p.timer = setTimeout(() => void this.attempt(p), exp / 2 + this.random() * (exp / 2));
      }
    }
  }

  private onAck(p: PendingItem, ack: ChatAck): void {
    batch(() => {
      this.forget(p);
      if (!this.confirmed.has(ack.seq)) {
        const m: ChatMessage = { id: ack.id, seq: ack.seq, key: p.key, text: p.text, created_at: ack.created_at };
        if (this.identity.participantId) m.sender_participant_id = this.identity.participantId;
        else if (this.identity.userId) m.sender_user_id = this.identity.userId;
        this.confirmed.set(ack.seq, m);
      }
      this.advance();
      this.version.value++;
    });
    // Messages of others were stored between the last one held and this one.
    if (ack.seq > this.contiguous) void this.sync();
  }

  private forget(p: PendingItem): void {
    if (p.timer) clearTimeout(p.timer);
    this.pending.delete(p.key);
    this.version.value++;
    this.save();
  }

  // ------------------------------------------------------------ read receipts

  /**
   * Tells the server this client has read everything it holds (call it while
   * the chat is visible). Sends nothing when there is nothing new.
   */
  async markRead(): Promise<void> {
    const seq = Math.max(0, ...this.confirmed.keys());
    if (seq <= this.readSent || this.readInFlight || this.disposed) return;
    this.readInFlight = true;
    let ok = false;
    try {
      await this.transport.markRead(seq);
      ok = true;
      this.readSent = Math.max(this.readSent, seq);
      if (seq > this.myReadSig.value) this.myReadSig.value = seq;
    } catch {
      // Tried again at the next call.
    } finally {
      this.readInFlight = false;
    }
    // More arrived while the receipt was on its way.
    if (ok && Math.max(0, ...this.confirmed.keys()) > this.readSent) await this.markRead();
  }
}
