import { describe, expect, it } from "vitest";
import type { Consultation } from "../shared/api-types";
import type { RealtimeClient } from "../shared/realtime";
import { Dashboard, type DashboardApi } from "./dashboard";

type Handler = (d: never) => void;

/** The part of RealtimeClient the dashboard uses. */
class FakeRealtime {
  readonly handlers = new Map<string, Handler[]>();
  on(type: string, h: Handler): () => void {
    this.handlers.set(type, [...(this.handlers.get(type) ?? []), h]);
    return () => undefined;
  }
  onResync(): () => void {
    return () => undefined;
  }
  emit(type: string, data: unknown): void {
    for (const h of this.handlers.get(type) ?? []) h(data as never);
  }
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function waiting(online: boolean): Consultation {
  return {
    id: "c1",
    queue_id: "q1",
    status: "pending",
    created_at: "2026-01-01T00:00:00Z",
    patient: { participant_id: "p1", first_name: "Pia", last_name: "Phone", language: "en", online },
  } as Consultation;
}

const flush = () => new Promise((r) => setTimeout(r, 0));

describe("Dashboard", () => {
  it("keeps a presence event that overtakes the waiting list fetched before it", async () => {
    const lists: Array<ReturnType<typeof deferred<Consultation[]>>> = [];
    const a: DashboardApi = {
      myQueues: async () => [{ id: "q1", name: "Q" }],
      waitingList: () => {
        const d = deferred<Consultation[]>();
        lists.push(d);
        return d.promise;
      },
      myConsultations: async () => [],
      acceptConsultation: async () => waiting(true),
    };
    const board = new Dashboard(a);
    const rt = new FakeRealtime();
    board.attach(rt as unknown as RealtimeClient);
    await flush();
    lists[0]!.resolve([]);
    await flush();
    // The patient redeems (pending: a fetch starts), then their socket opens
    // (online) before the list, read while they were offline, comes back.
    rt.emit("consultation.pending", { consultation_id: "c1", queue_id: "q1" });
    await flush();
    rt.emit("participant.presence", { consultation_id: "c1", participant_id: "p1", online: true });
    lists[1]!.resolve([waiting(false)]);
    await flush();
    expect(board.waiting.value.get("q1")?.[0]?.patient?.online).toBe(true);

    // A later fetch is believed again, and an older answer never replaces a newer one.
    rt.emit("queue.changed", { queue_id: "q1" });
    rt.emit("queue.changed", { queue_id: "q1" });
    await flush();
    lists[3]!.resolve([waiting(false)]);
    await flush();
    lists[2]!.resolve([waiting(true)]);
    await flush();
    expect(board.waiting.value.get("q1")?.[0]?.patient?.online).toBe(false);
  });
});
