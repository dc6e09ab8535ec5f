/**
 * Test doubles shared by the unit tests (never imported by app code).
 */
import type { NetworkWatch, SocketLike } from "./realtime";

/** A WebSocket the test drives: open(), message(), serverClose(). */
export class FakeSocket implements SocketLike {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 3;

  readyState = FakeSocket.CONNECTING;
  onopen: ((ev: Event) => unknown) | null = null;
  onclose: ((ev: CloseEvent) => unknown) | null = null;
  onmessage: ((ev: MessageEvent) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  readonly sent: string[] = [];
  closedWith: { code?: number; reason?: string } | null = null;

  constructor(readonly url: string) {}

  /** The handshake succeeds (the server's hello follows). */
  open(hello = true): void {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.(new Event("open"));
    if (hello) this.message({ type: "hello", data: { server: "HCW@Home", version: "test" } });
  }

  /** The server sends an envelope. */
  message(env: unknown): void {
    this.onmessage?.({ data: JSON.stringify(env) } as MessageEvent);
  }

  /** The server (or the network) closes the socket. */
  serverClose(code: number, reason = ""): void {
    this.readyState = FakeSocket.CLOSED;
    this.onerror?.(new Event("error"));
    this.onclose?.({ code, reason, wasClean: code !== 1006 } as CloseEvent);
  }

  send(data: string): void {
    if (this.readyState !== FakeSocket.OPEN) throw new Error("send on a socket that is not open");
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = FakeSocket.CLOSED;
  }

  /** The envelopes sent by the client, parsed. */
  envelopes(): Array<{ type: string; id?: string; data?: unknown }> {
    return this.sent.map((s) => JSON.parse(s) as { type: string; id?: string; data?: unknown });
  }
}

/** Records every socket a client creates. */
export class SocketFactory {
  readonly sockets: FakeSocket[] = [];
  readonly create = (url: string): FakeSocket => {
    const s = new FakeSocket(url);
    this.sockets.push(s);
    return s;
  };
  get last(): FakeSocket {
    const s = this.sockets.at(-1);
    if (!s) throw new Error("no socket created yet");
    return s;
  }
}

/** online/offline events on demand. */
export class FakeNetwork implements NetworkWatch {
  online = true;
  private readonly listeners = new Map<string, Set<() => void>>();

  addEventListener(type: "online" | "offline", listener: () => void): void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener);
  }

  removeEventListener(type: "online" | "offline", listener: () => void): void {
    this.listeners.get(type)?.delete(listener);
  }

  count(type: "online" | "offline"): number {
    return this.listeners.get(type)?.size ?? 0;
  }

  set(online: boolean): void {
    this.online = online;
    for (const l of [...(this.listeners.get(online ? "online" : "offline") ?? [])]) l();
  }
}
