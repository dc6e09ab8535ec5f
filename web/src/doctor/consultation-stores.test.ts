import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../shared/api";
import type { RealtimeClient } from "../shared/realtime";
import type { Participant } from "./api";
import { NoteDraft, ParticipantsStore } from "./consultation-stores";

type Handler = (d: never) => void;

/** The part of RealtimeClient the stores use. */
class FakeRealtime {
  readonly handlers = new Map<string, Handler[]>();
  readonly resyncs: Array<() => void> = [];
  on(type: string, h: Handler): () => void {
    this.handlers.set(type, [...(this.handlers.get(type) ?? []), h]);
    return () => this.handlers.set(type, (this.handlers.get(type) ?? []).filter((x) => x !== h));
  }
  onResync(h: () => void): () => void {
    this.resyncs.push(h);
    return () => undefined;
  }
  emit(type: string, data: unknown): void {
    for (const h of this.handlers.get(type) ?? []) h(data as never);
  }
}

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("NoteDraft", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("saves once typing pauses, and says so", async () => {
    const saves: string[] = [];
    const note = new NoteDraft("c1", "old", { debounceMs: 1000, save: async (_id, text) => void saves.push(text) });
    expect(note.state.value).toBe("saved");
    note.input("old a");
    note.input("old ab");
    expect(note.state.value).toBe("dirty");
    await vi.advanceTimersByTimeAsync(999);
    expect(saves).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(saves).toEqual(["old ab"]);
    expect(note.state.value).toBe("saved");
    expect(note.savedAt.value).not.toBeNull();
    // Back to what is stored: nothing to save.
    note.input("old a");
    note.input("old ab");
    expect(note.state.value).toBe("saved");
    await vi.advanceTimersByTimeAsync(5000);
    expect(saves).toEqual(["old ab"]);
  });

  it("saves what was typed during a save in a round of its own", async () => {
    const calls: Array<{ text: string; d: ReturnType<typeof deferred<void>> }> = [];
    const note = new NoteDraft("c1", "", {
      debounceMs: 100,
      save: (_id, text) => {
        const d = deferred<void>();
        calls.push({ text, d });
        return d.promise;
      },
    });
    note.input("a");
    const first = note.save(); // explicit save, no waiting
    expect(note.state.value).toBe("saving");
    note.input("ab");
    calls[0]!.d.resolve();
    await first;
    expect(note.state.value).toBe("dirty");
    await vi.advanceTimersByTimeAsync(100);
    expect(calls.map((c) => c.text)).toEqual(["a", "ab"]);
    calls[1]!.d.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(note.state.value).toBe("saved");
  });

  it("keeps the text after a failed save and tries again", async () => {
    let fail = true;
    const saves: string[] = [];
    const note = new NoteDraft("c1", "", {
      debounceMs: 100,
      save: async (_id, text) => {
        if (fail) throw new ApiError("x", "/u", undefined, { code: "network" });
        saves.push(text);
      },
    });
    note.input("hello");
    await vi.advanceTimersByTimeAsync(100);
    expect(note.state.value).toBe("error");
    expect(note.error.value).toBe("network");
    expect(note.text.value).toBe("hello");
    fail = false;
    await note.save();
    expect(saves).toEqual(["hello"]);
    expect(note.state.value).toBe("saved");
  });

  it("does not send a note over the limit, and saves what is pending when disposed", async () => {
    const saves: string[] = [];
    const note = new NoteDraft("c1", "", { debounceMs: 100, save: async (_id, text) => void saves.push(text) });
    note.input("x".repeat(10_001));
    expect(note.tooLong).toBe(true);
    await vi.advanceTimersByTimeAsync(1000);
    expect(saves).toEqual([]);
    note.input("short");
    note.dispose();
    await vi.advanceTimersByTimeAsync(0);
    expect(saves).toEqual(["short"]);
  });
});

const P = (id: string, role: string, online = false): Participant => ({
  participant_id: id,
  role,
  display_name: `${role} ${id}`,
  first_name: role,
  last_name: id,
  language: "en",
  online,
});

describe("ParticipantsStore", () => {
  it("refetches on the consultation's participant events and follows presence", async () => {
    let list = [P("p1", "patient")];
    let fetches = 0;
    const store = new ParticipantsStore("c1", {
      listParticipants: async () => {
        fetches++;
        return list;
      },
    });
    const rt = new FakeRealtime();
    store.attach(rt as unknown as RealtimeClient);
    await vi.waitFor(() => expect(store.list.value).toHaveLength(1));

    list = [P("p1", "patient"), P("g1", "guest")];
    rt.emit("participant.added", { consultation_id: "c2", participant_id: "x", role: "guest" });
    await Promise.resolve();
    expect(fetches).toBe(1); // another consultation's event
    rt.emit("participant.added", { consultation_id: "c1", participant_id: "g1", role: "guest" });
    await vi.waitFor(() => expect(store.list.value.map((p) => p.participant_id)).toEqual(["p1", "g1"]));

    rt.emit("participant.presence", { consultation_id: "c1", participant_id: "g1", online: true });
    expect(store.list.value[1]!.online).toBe(true);
    expect(fetches).toBe(2); // presence of a known participant needs no fetch

    list = [P("p1", "patient")];
    rt.emit("participant.revoked", { consultation_id: "c1", participant_id: "g1" });
    await vi.waitFor(() => expect(store.list.value).toHaveLength(1));
    rt.resyncs[0]!();
    await vi.waitFor(() => expect(fetches).toBe(4));
  });

  it("refetches on invite.updated of the consultation, and when an invited participant comes online", async () => {
    const guest = (status: string, online = false): Participant => ({ ...P("g1", "guest", online), invite_status: status });
    let list = [{ ...P("p1", "patient"), invite_status: "sent" }, guest("sent")];
    let fetches = 0;
    const store = new ParticipantsStore("c1", {
      listParticipants: async () => {
        fetches++;
        return list;
      },
    });
    const rt = new FakeRealtime();
    store.attach(rt as unknown as RealtimeClient);
    await vi.waitFor(() => expect(store.list.value).toHaveLength(2));

    rt.emit("invite.updated", { invite_id: "i9", consultation_id: "c2" });
    await Promise.resolve();
    expect(fetches).toBe(1);
    list = [list[0]!, guest("opened")];
    rt.emit("invite.updated", { invite_id: "i1", consultation_id: "c1" });
    await vi.waitFor(() => expect(store.list.value[1]!.invite_status).toBe("opened"));
    expect(fetches).toBe(2);

    // Online while shown as invited: the flag at once, the status once fetched.
    list = [list[0]!, guest("redeemed", true)];
    rt.emit("participant.presence", { consultation_id: "c1", participant_id: "g1", online: true });
    expect(store.list.value[1]!.online).toBe(true);
    await vi.waitFor(() => expect(store.list.value[1]!.invite_status).toBe("redeemed"));
    expect(fetches).toBe(3);

    // Joined already, going offline, or the patient (whose status is not shown): no fetch.
    rt.emit("participant.presence", { consultation_id: "c1", participant_id: "g1", online: false });
    rt.emit("participant.presence", { consultation_id: "c1", participant_id: "g1", online: true });
    rt.emit("participant.presence", { consultation_id: "c1", participant_id: "p1", online: true });
    await Promise.resolve();
    expect(fetches).toBe(3);
  });

  it("drops an answer older than the one shown", async () => {
    const answers: Array<ReturnType<typeof deferred<Participant[]>>> = [];
    const store = new ParticipantsStore("c1", {
      listParticipants: () => {
        const d = deferred<Participant[]>();
        answers.push(d);
        return d.promise;
      },
    });
    const a = store.refresh();
    const b = store.refresh();
    answers[1]!.resolve([P("p1", "patient"), P("g1", "guest")]);
    await b;
    answers[0]!.resolve([P("p1", "patient")]);
    await a;
    expect(store.list.value).toHaveLength(2);
  });
});
