/**
 * Test doubles and helpers shared by the unit tests (never imported by app
 * code): a fake WebSocket and network, the API's answers, a global fetch
 * that records what it is sent, and helpers to drive a rendered screen.
 */
import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, beforeEach, vi } from "vitest";
import type { CredentialLike, CredentialsContainerLike } from "./passkey";
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

/** navigator.credentials for passkeys: create() and get() answer fixed credentials and count the calls. */
export class FakeCredentials implements CredentialsContainerLike {
  created = 0;
  got = 0;
  async create(): Promise<unknown> {
    this.created++;
    return {
      id: "cGsy",
      rawId: new Uint8Array([112, 107, 50]).buffer,
      type: "public-key",
      response: { clientDataJSON: new Uint8Array([123, 125]).buffer, attestationObject: new Uint8Array([1]).buffer },
    } satisfies CredentialLike;
  }
  async get(): Promise<unknown> {
    this.got++;
    return {
      id: "cGsx",
      rawId: new Uint8Array([112, 107, 49]).buffer,
      type: "public-key",
      response: { clientDataJSON: new Uint8Array([123, 125]).buffer, authenticatorData: new Uint8Array([5]).buffer, signature: new Uint8Array([6]).buffer },
    } satisfies CredentialLike;
  }
}

// ---------------------------------------------------------------- the API's answers

/** A JSON answer (204: no body at all, as the API sends it). */
export function json(body: unknown, status = 200): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

export function noContent(): Response {
  return new Response(null, { status: 204 });
}

/** The API's error body: {"error":{"code","message","field"}}. */
export function refusal(code: string, status: number, field?: string, message = "refused"): Response {
  return json({ error: { code, message, ...(field ? { field } : {}) } }, status);
}

/** A request as the fake fetch saw it (a JSON body parsed). */
export interface SentRequest {
  method: string;
  url: string;
  body?: Record<string, unknown>;
}

/**
 * Replaces the global fetch for the test (vitest unstubs it after): each
 * request is recorded in the array returned, and answered by answer with
 * its path without /api/v1.
 */
export function stubApiFetch(answer: (path: string, req: SentRequest) => Response | Promise<Response>): SentRequest[] {
  const calls: SentRequest[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init?: RequestInit) => {
      const req: SentRequest = { method: init?.method ?? "GET", url, body: init?.body ? (JSON.parse(String(init.body)) as Record<string, unknown>) : undefined };
      calls.push(req);
      return answer(url.replace("/api/v1", ""), req);
    }),
  );
  return calls;
}

// ---------------------------------------------------------------- rendered screens

/** Lets pending promises and 0 ms timers run, and the renders they cause (five rounds). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await act(async () => {
      await new Promise((r) => setTimeout(r, 0));
    });
  }
}

/** Retries check (renders running in between) until it passes, or throws its error after timeoutMs. */
export async function waitFor(check: () => void, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await act(() => new Promise<void>((r) => setTimeout(r, 5)));
    }
  }
}

/**
 * Queries and input on what a test rendered into root(): each input is an
 * event inside act(); click and submit then settle(); submit fails the
 * test when the button is disabled.
 */
export function screenHelpers(root: () => HTMLElement) {
  const $ = <T extends Element = HTMLElement>(sel: string) => root().querySelector<T>(sel);
  const find = <T extends Element>(sel: string): T => {
    const el = $<T>(sel);
    if (!el) throw new Error(`no ${sel}`);
    return el;
  };
  const input = async (sel: string, set: (el: HTMLInputElement) => void, type: string) => {
    const el = find<HTMLInputElement>(sel);
    await act(() => {
      set(el);
      el.dispatchEvent(new Event(type));
    });
  };
  return {
    $,
    /** Whether text is on screen: in the text, or in a field's value. */
    shown(text: string): boolean {
      const r = root();
      return r.textContent!.includes(text) || [...r.querySelectorAll<HTMLInputElement>("input, textarea")].some((el) => el.value.includes(text));
    },
    type: (sel: string, value: string) => input(sel, (el) => (el.value = value), "input"),
    choose: (sel: string, value: string) => input(sel, (el) => (el.value = value), "change"),
    check: (sel: string, on: boolean) => input(sel, (el) => (el.checked = on), "change"),
    async click(sel: string): Promise<void> {
      const el = find<HTMLButtonElement>(sel);
      await act(() => el.click());
      await settle();
    },
    async submit(sel: string): Promise<void> {
      const el = find<HTMLButtonElement>(sel);
      if (el.disabled) throw new Error(`${sel} is disabled`);
      await act(() => void el.form!.dispatchEvent(new Event("submit", { cancelable: true })));
      await settle();
    },
    async chooseFile(sel: string, file: File): Promise<void> {
      const el = find<HTMLInputElement>(sel);
      Object.defineProperty(el, "files", { configurable: true, value: [file] });
      await act(() => void el.dispatchEvent(new Event("change")));
      await settle();
    },
  };
}

/**
 * Registers hooks that give each test a fresh <div> in the document to
 * render into (unmounted and removed after the test); the screenHelpers
 * work on it.
 */
export function testScreen() {
  let el: HTMLElement | null = null;
  beforeEach(() => {
    el = document.createElement("div");
    document.body.appendChild(el);
  });
  afterEach(() => {
    if (!el) return;
    render(null, el);
    el.remove();
    el = null;
  });
  const root = (): HTMLElement => {
    if (!el) throw new Error("no test is running");
    return el;
  };
  return {
    get container(): HTMLElement {
      return root();
    },
    ...screenHelpers(root),
  };
}
