import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RealtimeClient, type RealtimeOptions } from "./realtime";
import { FakeNetwork, SocketFactory } from "./test-support";

let factory: SocketFactory;
let network: FakeNetwork;

beforeEach(() => {
  vi.useFakeTimers();
  factory = new SocketFactory();
  network = new FakeNetwork();
});

afterEach(() => {
  vi.useRealTimers();
});

function client(options: RealtimeOptions = {}): RealtimeClient {
  return new RealtimeClient({
    url: "wss://patient.example.org/ws",
    createSocket: factory.create,
    network,
    isOnline: () => network.online,
    random: () => 0.5,
    heartbeat: false,
    ...options,
  });
}

/** Advances fake time until a new socket is created; returns how long that took. */
function timeToNextSocket(limitMs = 120_000): number {
  const before = factory.sockets.length;
  let waited = 0;
  while (factory.sockets.length === before) {
    if (waited > limitMs) throw new Error("no reconnect");
    vi.advanceTimersByTime(10);
    waited += 10;
  }
  return waited;
}

describe("RealtimeClient", () => {
  it("connects to the URL, reports its state and keeps the hello", () => {
    const rt = client();
    expect(rt.state.value).toBe("idle");
    rt.connect();
    expect(factory.sockets).toHaveLength(1);
    expect(factory.last.url).toBe("wss://patient.example.org/ws");
    expect(rt.state.value).toBe("connecting");
    factory.last.open();
    expect(rt.state.value).toBe("open");
    expect(rt.hello.value).toEqual({ server: "HCW@Home", version: "test" });
  });

  it("defaults to wss on the page's own host", () => {
    vi.stubGlobal("location", { protocol: "https:", host: "patient.example.org:8443" });
    const rt = new RealtimeClient({ createSocket: factory.create, network: null, heartbeat: false });
    rt.connect();
    expect(factory.last.url).toBe("wss://patient.example.org:8443/ws");
    rt.close();
  });

  it("reconnects with exponential back-off and jitter, capped, and resets after a stable minute", () => {
    const rt = client({ backoff: { initialMs: 1000, maxMs: 30_000, stableMs: 60_000 } });
    rt.connect();
    factory.last.open();

    // random() = 0.5: each delay is 3/4 of the exponential step.
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      factory.last.serverClose(1006);
      expect(rt.state.value).toBe("reconnecting");
      delays.push(timeToNextSocket());
    }
    expect(delays).toEqual([750, 1500, 3000, 6000, 12_000, 22_500, 22_500]);

    // Open, but not for a minute: the back-off keeps growing.
    factory.last.open();
    vi.advanceTimersByTime(59_000);
    factory.last.serverClose(1006);
    expect(timeToNextSocket()).toBe(22_500);

    // Open for a minute: the next failure starts again from the first step.
    factory.last.open();
    vi.advanceTimersByTime(60_000);
    factory.last.serverClose(1001, "server shutting down");
    expect(timeToNextSocket()).toBe(750);
  });

  it("spreads delays with jitter", () => {
    let r = 0;
    const rt = client({ random: () => r, backoff: { initialMs: 1000 } });
    rt.connect();
    factory.last.serverClose(1006);
    expect(timeToNextSocket()).toBe(500);
    r = 0.999;
    factory.last.serverClose(1006);
    expect(timeToNextSocket()).toBe(2000);
  });

  it.each([
    ["consultation closed", "consultation_closed"],
    ["access revoked", "access_revoked"],
    ["session ended", "session_ended"],
    ["too many messages", "rate_limited"],
    ["something else", "policy"],
  ])("stops for good on 1008 %j and says why", (reason, kind) => {
    const rt = client();
    rt.connect();
    factory.last.open();
    factory.last.serverClose(1008, reason);
    expect(rt.state.value).toBe("closed");
    expect(rt.closed.value).toEqual({ kind, code: 1008, reason });
    vi.advanceTimersByTime(10 * 60_000);
    expect(factory.sockets).toHaveLength(1);
    expect(network.count("online")).toBe(0);
  });

  it("reconnects after 1013 (too far behind) and 1001 (server shutting down)", () => {
    const rt = client();
    rt.connect();
    factory.last.open();
    factory.last.serverClose(1013, "too far behind; reconnect");
    timeToNextSocket();
    factory.last.open();
    factory.last.serverClose(1001, "server shutting down");
    timeToNextSocket();
    expect(factory.sockets).toHaveLength(3);
    expect(rt.closed.value).toBeNull();
  });

  it("calls resync after a reconnect, not on the first connection, and on the server's resync", () => {
    const rt = client();
    const resync = vi.fn();
    rt.onResync(resync);
    rt.connect();
    factory.last.open();
    expect(resync).not.toHaveBeenCalled();

    factory.last.serverClose(1006);
    timeToNextSocket();
    expect(resync).not.toHaveBeenCalled(); // not before the socket is open
    factory.last.open();
    expect(resync).toHaveBeenCalledTimes(1);
    expect(resync).toHaveBeenLastCalledWith("reconnect");

    factory.last.message({ type: "resync" });
    expect(resync).toHaveBeenCalledTimes(2);
    expect(resync).toHaveBeenLastCalledWith("server");
  });

  it("dispatches typed events once per handler, across reconnects", () => {
    const rt = client();
    const onPosition = vi.fn();
    rt.on("queue.position", onPosition);
    rt.on("queue.position", onPosition); // the same function again: still once
    const other = vi.fn();
    const off = rt.on("queue.position", other);
    rt.connect();
    factory.last.open();
    for (let i = 0; i < 3; i++) {
      factory.last.serverClose(1006);
      timeToNextSocket();
      factory.last.open();
    }
    factory.last.message({ type: "queue.position", data: { position: 2 } });
    expect(onPosition).toHaveBeenCalledTimes(1);
    expect(onPosition).toHaveBeenCalledWith({ position: 2 }, { type: "queue.position", data: { position: 2 } });
    expect(other).toHaveBeenCalledTimes(1);

    off();
    factory.last.message({ type: "queue.position", data: { position: 1 } });
    expect(onPosition).toHaveBeenCalledTimes(2);
    expect(other).toHaveBeenCalledTimes(1);
  });

  it("ignores events from a socket it has replaced", () => {
    const rt = client();
    const handler = vi.fn();
    rt.on("chat.message", handler);
    rt.connect();
    const first = factory.last;
    first.open();
    first.serverClose(1006);
    timeToNextSocket();
    first.message({ type: "chat.message", data: { consultation_id: "c", seq: 1 } });
    expect(handler).not.toHaveBeenCalled();
  });

  it("survives malformed messages and a throwing handler", () => {
    const rt = client();
    const good = vi.fn();
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    rt.on("chat.read", () => {
      throw new Error("boom");
    });
    rt.on("chat.read", good);
    rt.connect();
    factory.last.open();
    factory.last.onmessage?.({ data: "not json" } as MessageEvent);
    factory.last.onmessage?.({ data: "[1,2]" } as MessageEvent);
    factory.last.message({ type: "chat.read", data: { consultation_id: "c", seq: 3 } });
    expect(good).toHaveBeenCalledTimes(1);
    expect(error).toHaveBeenCalledTimes(1);
    expect(rt.state.value).toBe("open");
  });

  it("waits while offline and reconnects as soon as the network is back", () => {
    const rt = client();
    rt.connect();
    factory.last.open();
    network.set(false);
    expect(rt.state.value).toBe("reconnecting");
    expect(factory.sockets[0]?.closedWith?.code).toBe(4000);
    vi.advanceTimersByTime(10 * 60_000);
    expect(factory.sockets).toHaveLength(1);

    network.set(true);
    expect(factory.sockets).toHaveLength(2);
    factory.last.open();
    expect(rt.state.value).toBe("open");
  });

  it("starts offline without trying, then connects when online", () => {
    network.online = false;
    const rt = client();
    rt.connect();
    expect(factory.sockets).toHaveLength(0);
    expect(rt.state.value).toBe("reconnecting");
    network.set(true);
    expect(factory.sockets).toHaveLength(1);
  });

  it("close() stops everything and stops listening to the network", () => {
    const rt = client();
    rt.connect();
    factory.last.open();
    expect(network.count("online")).toBe(1);
    rt.close();
    expect(factory.last.closedWith).toEqual({ code: 1000, reason: "client closed" });
    expect(rt.state.value).toBe("closed");
    expect(rt.closed.value?.kind).toBe("client");
    expect(network.count("online")).toBe(0);
    network.set(true);
    vi.advanceTimersByTime(120_000);
    expect(factory.sockets).toHaveLength(1);

    rt.connect(); // a new session (signed in again)
    expect(factory.sockets).toHaveLength(2);
    expect(rt.closed.value).toBeNull();
  });

  it("asks verifySession after failed handshakes and stops when the session is gone", async () => {
    let valid = true;
    const verifySession = vi.fn(async () => valid);
    const rt = client({ verifySession, verifyAfterFailures: 2 });
    rt.connect();
    factory.last.serverClose(1006); // handshake failed once
    expect(verifySession).not.toHaveBeenCalled();
    timeToNextSocket();
    factory.last.serverClose(1006); // twice: maybe a 401
    await vi.advanceTimersByTimeAsync(0);
    expect(verifySession).toHaveBeenCalledTimes(1);
    timeToNextSocket(); // still valid: keeps trying
    valid = false;
    factory.last.serverClose(1006);
    await vi.advanceTimersByTimeAsync(0);
    expect(rt.state.value).toBe("closed");
    expect(rt.closed.value?.kind).toBe("unauthenticated");
    vi.advanceTimersByTime(120_000);
    expect(factory.sockets).toHaveLength(3);
  });

  it("drops a socket whose pings go unanswered and reconnects", () => {
    const rt = client({ heartbeat: { intervalMs: 25_000, timeoutMs: 10_000 } });
    rt.connect();
    const first = factory.last;
    first.open();
    vi.advanceTimersByTime(25_000);
    const ping = first.envelopes().at(-1);
    expect(ping?.type).toBe("ping");
    first.message({ type: "pong", id: ping?.id });
    vi.advanceTimersByTime(25_000 + 10_000);
    expect(rt.state.value).toBe("reconnecting");
    expect(first.closedWith?.code).toBe(4001);
    timeToNextSocket();
    expect(factory.sockets).toHaveLength(2);
  });

  it("answers request() with the reply of the same id, or the error", async () => {
    const rt = client();
    rt.connect();
    factory.last.open();
    const ok = rt.request("chat.sync", { after: 0 });
    const sent = factory.last.envelopes().at(-1)!;
    expect(sent).toMatchObject({ type: "chat.sync", data: { after: 0 } });
    factory.last.message({ type: "chat.batch", id: sent.id, data: { messages: [], more: false } });
    await expect(ok).resolves.toMatchObject({ type: "chat.batch" });

    const refused = rt.request("chat.read", { seq: 99 });
    const id = factory.last.envelopes().at(-1)!.id;
    factory.last.message({ type: "error", id, data: { code: "invalid_request" } });
    await expect(refused).rejects.toMatchObject({ code: "invalid_request" });

    const lost = rt.request("chat.sync", { after: 0 });
    factory.last.serverClose(1006);
    await expect(lost).rejects.toMatchObject({ code: "not_connected" });
    await expect(rt.request("chat.sync")).rejects.toMatchObject({ code: "not_connected" });
  });
});
