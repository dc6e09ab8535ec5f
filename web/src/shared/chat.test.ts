import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "./api";
import type { ChatAck, ChatMessage, ChatMessagePage } from "./api-types";
import { ChatStore, type ChatTransport } from "./chat";
import { RealtimeClient } from "./realtime";
import { FakeNetwork, SocketFactory } from "./test-support";

const ME = "participant-me";
const DOCTOR = "user-doctor";
const CID = "consultation-1";

/** A backend's chat: seq from 1, idempotent by (sender, key). */
class FakeServer {
  readonly messages: ChatMessage[] = [];
  sendCalls: Array<{ key: string; text: string }> = [];
  listCalls: number[] = [];
  readCalls: number[] = [];
  /** Next sends: "fail" (not stored), "lose" (stored, answer lost), or a permanent error. */
  sendPlan: Array<"fail" | "lose" | ApiError> = [];
  pageSize = 500;
  listFails = 0;

  store(sender: { participant?: string; user?: string }, key: string, text: string): ChatMessage {
    const dup = this.messages.find(
      (m) => m.key === key && m.sender_participant_id === sender.participant && m.sender_user_id === sender.user,
    );
    if (dup) return dup;
    const m: ChatMessage = {
      id: `m${this.messages.length + 1}`,
      seq: this.messages.length + 1,
      key,
      text,
      created_at: new Date(Date.UTC(2025, 0, 1, 10, 0, this.messages.length)).toISOString(),
    };
    if (sender.participant) m.sender_participant_id = sender.participant;
    if (sender.user) m.sender_user_id = sender.user;
    this.messages.push(m);
    return m;
  }

  /** Someone else writes. */
  doctorWrites(text: string): ChatMessage {
    return this.store({ user: DOCTOR }, `doc-${this.messages.length}`, text);
  }

  readonly transport: ChatTransport = {
    send: async (key, text): Promise<ChatAck> => {
      this.sendCalls.push({ key, text });
      const plan = this.sendPlan.shift();
      if (plan === "fail") throw new ApiError("POST failed: network error", "/x", undefined, { code: "network" });
      if (plan instanceof ApiError) throw plan;
      const m = this.store({ participant: ME }, key, text);
      if (plan === "lose") throw new ApiError("POST failed: HTTP 502", "/x", 502);
      return { key, seq: m.seq, id: m.id, created_at: m.created_at };
    },
    list: async (after, limit): Promise<ChatMessagePage> => {
      this.listCalls.push(after);
      if (this.listFails > 0) {
        this.listFails--;
        throw new ApiError("GET failed: HTTP 503", "/x", 503);
      }
      const n = Math.min(limit, this.pageSize);
      const rest = this.messages.filter((m) => m.seq > after);
      return { messages: rest.slice(0, n).map((m) => ({ ...m })), more: rest.length > n };
    },
    markRead: async (seq) => {
      this.readCalls.push(seq);
    },
  };
}

let server: FakeServer;
let keys: number;

function store(): ChatStore {
  return new ChatStore(server.transport, { participantId: ME }, {
    newKey: () => `key-${++keys}`,
    random: () => 0.5,
    retryInitialMs: 1000,
  });
}

function texts(chat: ChatStore): string[] {
  return chat.items.value.map((i) => `${i.seq ?? "-"}:${i.text}:${i.status}`);
}

beforeEach(() => {
  vi.useFakeTimers();
  server = new FakeServer();
  keys = 0;
});

afterEach(() => {
  vi.useRealTimers();
});

describe("ChatStore", () => {
  it("loads the history in order, page after page", async () => {
    server.pageSize = 2;
    for (let i = 1; i <= 5; i++) server.doctorWrites(`hello ${i}`);
    const chat = store();
    await chat.sync();
    expect(texts(chat)).toEqual(["1:hello 1:sent", "2:hello 2:sent", "3:hello 3:sent", "4:hello 4:sent", "5:hello 5:sent"]);
    expect(server.listCalls).toEqual([0, 2, 4]);
    expect(chat.lastSeq).toBe(5);
    expect(chat.loaded.value).toBe(true);
    expect(chat.items.value.every((i) => !i.mine)).toBe(true);
  });

  it("shows a message as sending at once, then sent with its seq", async () => {
    const chat = store();
    const key = chat.send("Good morning");
    expect(key).toBe("key-1");
    expect(texts(chat)).toEqual(["-:Good morning:sending"]);
    await vi.advanceTimersByTimeAsync(0);
    expect(texts(chat)).toEqual(["1:Good morning:sent"]);
    expect(chat.items.value[0]).toMatchObject({ key: "key-1", mine: true, seq: 1 });
  });

  it("refuses blank and over-long texts", () => {
    const chat = store();
    expect(chat.send("   \n")).toBeNull();
    expect(chat.send("x".repeat(10_001))).toBeNull();
    expect(chat.send("x".repeat(10_000))).not.toBeNull();
  });

  it("resends a failed message with the SAME key, by itself and on resync", async () => {
    server.sendPlan = ["fail", "fail", "fail"];
    const chat = store();
    chat.send("Are you there?");
    await vi.advanceTimersByTimeAsync(0);
    expect(chat.items.value[0]).toMatchObject({ status: "failed", error: "network", retryable: true });

    await vi.advanceTimersByTimeAsync(750); // back-off: 1 s step, jittered
    expect(server.sendCalls).toHaveLength(2);
    chat.resendPending(); // a reconnect does not wait for the timer
    await vi.advanceTimersByTimeAsync(0);
    expect(server.sendCalls).toHaveLength(3);
    chat.retry("key-1"); // neither does the user
    await vi.advanceTimersByTimeAsync(0);

    expect(server.sendCalls.map((c) => c.key)).toEqual(["key-1", "key-1", "key-1", "key-1"]);
    expect(texts(chat)).toEqual(["1:Are you there?:sent"]);
    expect(server.messages).toHaveLength(1);
  });

  it("does not resend a message the server refused for good", async () => {
    server.sendPlan = [new ApiError("gone", "/x", 410, { code: "consultation_closed" })];
    const chat = store();
    chat.send("late");
    await vi.advanceTimersByTimeAsync(60_000);
    chat.resendPending();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(server.sendCalls).toHaveLength(1);
    expect(chat.items.value[0]).toMatchObject({ status: "failed", error: "consultation_closed", retryable: false });
    chat.discard("key-1");
    expect(chat.items.value).toEqual([]);
  });

  it("stores a message once when its ack was lost and it is resent", async () => {
    server.sendPlan = ["lose"];
    const chat = store();
    chat.send("only once");
    await vi.advanceTimersByTimeAsync(0);
    expect(chat.items.value[0]?.status).toBe("failed");
    await vi.advanceTimersByTimeAsync(1000);
    expect(server.sendCalls.map((c) => c.key)).toEqual(["key-1", "key-1"]);
    expect(server.messages).toHaveLength(1);
    expect(texts(chat)).toEqual(["1:only once:sent"]);
  });

  it("confirms a pending message from a fetch (the event came before the ack)", async () => {
    const chat = store();
    let release!: () => void;
    const send = server.transport.send;
    server.transport.send = async (key, text) => {
      const ack = await send(key, text);
      await new Promise<void>((r) => (release = r));
      return ack;
    };
    chat.send("racing");
    await vi.advanceTimersByTimeAsync(0);
    chat.onMessageEvent({ consultation_id: CID, seq: 1 });
    await vi.advanceTimersByTimeAsync(0);
    expect(texts(chat)).toEqual(["1:racing:sent"]);
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(texts(chat)).toEqual(["1:racing:sent"]);
  });

  it("ignores duplicate events, acks and fetches of the same seq", async () => {
    const chat = store();
    server.doctorWrites("one");
    chat.onMessageEvent({ consultation_id: CID, seq: 1 });
    chat.onMessageEvent({ consultation_id: CID, seq: 1 });
    await vi.advanceTimersByTimeAsync(0);
    // The second event, while the first fetch ran, folded into one more round.
    expect(server.listCalls).toEqual([0, 1]);
    chat.onMessageEvent({ consultation_id: CID, seq: 1 }); // already held: no fetch
    expect(server.listCalls).toEqual([0, 1]);
    await chat.sync();
    await chat.sync();
    expect(texts(chat)).toEqual(["1:one:sent"]);
  });

  it("ends ordered whatever the order of events and acks", async () => {
    const chat = store();
    server.doctorWrites("a"); // 1
    server.doctorWrites("b"); // 2
    chat.send("c"); // 3 (mine)
    await vi.advanceTimersByTimeAsync(0);
    // The ack of 3 came first: a gap before it is fetched.
    server.doctorWrites("d"); // 4
    chat.onMessageEvent({ consultation_id: CID, seq: 4 });
    chat.onMessageEvent({ consultation_id: CID, seq: 2 });
    chat.onMessageEvent({ consultation_id: CID, seq: 1 });
    await vi.advanceTimersByTimeAsync(0);
    expect(texts(chat)).toEqual(["1:a:sent", "2:b:sent", "3:c:sent", "4:d:sent"]);
    expect(chat.items.value.map((i) => i.mine)).toEqual([false, false, true, false]);
    expect(chat.lastSeq).toBe(4);
  });

  it("fills a gap on resync after a reconnect, and resends what is pending", async () => {
    const factory = new SocketFactory();
    const network = new FakeNetwork();
    const rt = new RealtimeClient({
      createSocket: factory.create,
      url: "wss://x/ws",
      network,
      isOnline: () => network.online,
      random: () => 0.5,
      heartbeat: false,
    });
    const chat = store();
    const detach = chat.attach(rt, CID);
    rt.connect();
    factory.last.open();
    server.doctorWrites("before");
    factory.last.message({ type: "chat.message", data: { consultation_id: CID, seq: 1 } });
    factory.last.message({ type: "chat.message", data: { consultation_id: "other", seq: 9 } });
    await vi.advanceTimersByTimeAsync(0);
    expect(texts(chat)).toEqual(["1:before:sent"]);

    // Offline: the doctor writes twice, events are lost; my message fails.
    network.set(false);
    server.doctorWrites("while away 1");
    server.doctorWrites("while away 2");
    server.sendPlan = ["fail"];
    chat.send("from the train");
    await vi.advanceTimersByTimeAsync(0);
    server.sendPlan = ["fail", "fail", "fail"]; // the automatic retries fail too
    await vi.advanceTimersByTimeAsync(5000);
    const triesOffline = server.sendCalls.length;

    network.set(true);
    server.sendPlan = [];
    factory.last.open();
    await vi.advanceTimersByTimeAsync(0);
    expect(texts(chat)).toEqual([
      "1:before:sent",
      "2:while away 1:sent",
      "3:while away 2:sent",
      "4:from the train:sent",
    ]);
    expect(new Set(server.sendCalls.map((c) => c.key))).toEqual(new Set(["key-1"]));
    expect(server.sendCalls.length).toBe(triesOffline + 1);
    expect(server.listCalls.at(-1)).toBeGreaterThanOrEqual(1);

    detach();
    server.doctorWrites("after detach");
    factory.last.message({ type: "chat.message", data: { consultation_id: CID, seq: 5 } });
    await vi.advanceTimersByTimeAsync(0);
    expect(chat.items.value).toHaveLength(4);
    rt.close();
  });

  it("retries a failed fetch at the next event and reports the error meanwhile", async () => {
    const chat = store();
    server.doctorWrites("x");
    server.listFails = 1;
    await chat.sync();
    expect(chat.error.value).toBe("http_503");
    chat.onMessageEvent({ consultation_id: CID, seq: 1 });
    await vi.advanceTimersByTimeAsync(0);
    expect(chat.error.value).toBeNull();
    expect(texts(chat)).toEqual(["1:x:sent"]);
  });

  it("sends read receipts only when something new was read, and tracks the others'", async () => {
    const chat = store();
    server.doctorWrites("1");
    server.doctorWrites("2");
    await chat.sync();
    expect(chat.unread.value).toBe(2);
    await chat.markRead();
    await chat.markRead();
    expect(server.readCalls).toEqual([2]);
    expect(chat.unread.value).toBe(0);

    server.doctorWrites("3");
    await chat.sync();
    expect(chat.unread.value).toBe(1);
    await chat.markRead();
    expect(server.readCalls).toEqual([2, 3]);

    chat.onReadEvent({ consultation_id: CID, user_id: DOCTOR, seq: 3 });
    expect(chat.peerReadSeq.value).toBe(3);
    chat.onReadEvent({ consultation_id: CID, user_id: DOCTOR, seq: 1 });
    expect(chat.peerReadSeq.value).toBe(3);
    // My own receipt from another tab is not the doctor's.
    chat.onReadEvent({ consultation_id: CID, participant_id: ME, seq: 4 });
    expect(chat.peerReadSeq.value).toBe(3);
  });

  it("does not loop when a read receipt fails", async () => {
    const chat = store();
    server.doctorWrites("1");
    await chat.sync();
    const markRead = vi.fn(async () => {
      throw new ApiError("down", "/x", 503);
    });
    server.transport.markRead = markRead;
    await chat.markRead();
    expect(markRead).toHaveBeenCalledTimes(1);
  });

  describe("unsent messages kept across reloads", () => {
    class MemoryStorage {
      readonly items = new Map<string, string>();
      failWrites = false;
      getItem(k: string): string | null {
        return this.items.get(k) ?? null;
      }
      setItem(k: string, v: string): void {
        if (this.failWrites) throw new Error("QuotaExceededError");
        this.items.set(k, v);
      }
      removeItem(k: string): void {
        this.items.delete(k);
      }
    }
    const NAME = "hcw.chat.unsent.c1.me";
    function kept(storage: MemoryStorage, name = NAME): Array<{ key: string; text: string }> {
      const raw = storage.getItem(name);
      return raw ? (JSON.parse(raw) as Array<{ key: string; text: string }>) : [];
    }
    function persisted(storage: MemoryStorage): ChatStore {
      return new ChatStore(server.transport, { participantId: ME }, {
        newKey: () => `key-${++keys}`,
        random: () => 0.5,
        retryInitialMs: 1000,
        persist: { storage, key: NAME },
      });
    }

    it("keeps a message until it is stored, then forgets it", async () => {
      const storage = new MemoryStorage();
      server.sendPlan = ["fail"];
      const chat = persisted(storage);
      chat.send("Before the reload");
      expect(kept(storage).map((k) => k.text)).toEqual(["Before the reload"]);
      await vi.advanceTimersByTimeAsync(0);
      expect(kept(storage)).toHaveLength(1); // failed, will be retried
      await vi.advanceTimersByTimeAsync(1000);
      expect(texts(chat)).toEqual(["1:Before the reload:sent"]);
      expect(storage.items.has(NAME)).toBe(false);
    });

    it("sends a kept message again after a reload with the same key, and stores it once", async () => {
      const storage = new MemoryStorage();
      server.sendPlan = ["lose"]; // stored, but the page reloads before the answer
      const first = persisted(storage);
      first.send("Typed just before the reload");
      await vi.advanceTimersByTimeAsync(0);
      first.dispose();
      expect(kept(storage).map((k) => k.key)).toEqual(["key-1"]);

      const second = persisted(storage);
      expect(texts(second)).toEqual(["-:Typed just before the reload:sending"]);
      await vi.advanceTimersByTimeAsync(0);
      await second.sync();
      expect(server.sendCalls.map((c) => c.key)).toEqual(["key-1", "key-1"]);
      expect(server.messages).toHaveLength(1);
      expect(texts(second)).toEqual(["1:Typed just before the reload:sent"]);
      expect(storage.items.has(NAME)).toBe(false);
    });

    it("does not keep a message the server refused for good", async () => {
      const storage = new MemoryStorage();
      server.sendPlan = [new ApiError("closed", "/x", 409, { code: "consultation_closed" })];
      const chat = persisted(storage);
      chat.send("Too late");
      await vi.advanceTimersByTimeAsync(0);
      expect(texts(chat)).toEqual(["-:Too late:failed"]);
      expect(storage.items.has(NAME)).toBe(false);
    });

    it("ignores unreadable or hostile stored data", async () => {
      for (const raw of ["{not json", "42", '{"key":"x"}', '[{"key":1,"text":"a","createdAt":"t"}]', '[{"key":"","text":"a","createdAt":"t"}]', '[null]']) {
        const storage = new MemoryStorage();
        storage.items.set(NAME, raw);
        const chat = persisted(storage);
        expect(chat.items.value).toEqual([]);
      }
      const storage = new MemoryStorage();
      storage.items.set(NAME, JSON.stringify([{ key: "k", text: "x".repeat(10_001), createdAt: "t" }, { key: "k2", text: "ok", createdAt: "t" }]));
      const chat = persisted(storage);
      expect(chat.items.value.map((i) => i.key)).toEqual(["k2"]);
      await vi.advanceTimersByTimeAsync(0);
      expect(server.messages.map((m) => m.key)).toEqual(["k2"]);
    });

    it("still sends when the storage refuses writes", async () => {
      const storage = new MemoryStorage();
      storage.failWrites = true;
      const chat = persisted(storage);
      chat.send("No room to keep it");
      await vi.advanceTimersByTimeAsync(0);
      expect(texts(chat)).toEqual(["1:No room to keep it:sent"]);
    });
  });
});
