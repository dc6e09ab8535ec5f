/**
 * The doctor's live view: the waiting lists of their queues and their own
 * active consultations. /ws events carry ids only; each one refetches what
 * it touches (and a reconnect or resync refetches everything).
 */
import { batch, signal, type ReadonlySignal } from "@preact/signals";
import type { Consultation, Queue } from "../shared/api-types";
import type { RealtimeClient } from "../shared/realtime";
import * as api from "./api";
import { errorCode } from "./auth";

export type DashboardApi = Pick<typeof api, "myQueues" | "waitingList" | "myConsultations" | "acceptConsultation">;

export class Dashboard {
  private readonly queuesSig = signal<Queue[]>([]);
  private readonly waitingSig = signal<ReadonlyMap<string, Consultation[]>>(new Map());
  private readonly activeSig = signal<Consultation[]>([]);
  private readonly loadedSig = signal(false);
  private readonly errorSig = signal<string | null>(null);
  readonly queues: ReadonlySignal<Queue[]> = this.queuesSig;
  /** Waiting consultations by queue id. */
  readonly waiting: ReadonlySignal<ReadonlyMap<string, Consultation[]>> = this.waitingSig;
  /** My accepted, not yet closed consultations. */
  readonly active: ReadonlySignal<Consultation[]> = this.activeSig;
  readonly loaded: ReadonlySignal<boolean> = this.loadedSig;
  /** The last failed action's code (already_accepted, …). */
  readonly error: ReadonlySignal<string | null> = this.errorSig;
  private readonly offs: Array<() => void> = [];

  constructor(private readonly a: DashboardApi = api) {}

  /** Loads everything and follows the queue events. */
  attach(rt: RealtimeClient): () => void {
    const queueOf = (d: { queue_id?: string }) => d.queue_id;
    this.offs.push(
      rt.on("consultation.pending", (d) => void this.refreshQueue(queueOf(d))),
      rt.on("consultation.accepted", () => void this.refresh()),
      rt.on("consultation.closed", () => void this.refresh()),
      rt.on("consultation.transferred", () => void this.refresh()),
      rt.on("queue.changed", (d) => void this.refreshQueue(d.queue_id)),
      rt.on("participant.presence", (d) => this.presence(d.consultation_id, d.online)),
      rt.onResync(() => void this.refresh()),
    );
    void this.refresh();
    return () => this.detach();
  }

  detach(): void {
    for (const off of this.offs.splice(0)) off();
  }

  async refresh(): Promise<void> {
    try {
      const queues = await this.a.myQueues();
      const lists = await Promise.all(queues.map((q) => this.a.waitingList(q.id).catch(() => [] as Consultation[])));
      const active = await this.a.myConsultations("active").catch(() => this.activeSig.value);
      batch(() => {
        this.queuesSig.value = queues;
        this.waitingSig.value = new Map(queues.map((q, i) => [q.id, lists[i] ?? []]));
        this.activeSig.value = active;
        this.loadedSig.value = true;
      });
    } catch (err) {
      this.errorSig.value = errorCode(err);
    }
  }

  private async refreshQueue(queueId: string | undefined): Promise<void> {
    if (!queueId || !this.queuesSig.value.some((q) => q.id === queueId)) return this.refresh();
    try {
      const list = await this.a.waitingList(queueId);
      const m = new Map(this.waitingSig.value);
      m.set(queueId, list);
      this.waitingSig.value = m;
    } catch {
      // The next event or resync refetches.
    }
  }

  private presence(consultationId: string, online: boolean): void {
    const m = new Map<string, Consultation[]>();
    let changed = false;
    for (const [q, list] of this.waitingSig.value) {
      m.set(
        q,
        list.map((c) => {
          if (c.id !== consultationId || !c.patient || c.patient.online === online) return c;
          changed = true;
          return { ...c, patient: { ...c.patient, online } };
        }),
      );
    }
    if (changed) this.waitingSig.value = m;
  }

  /** Accepts a waiting consultation; resolves with it, or null when refused (already_accepted). */
  async accept(id: string): Promise<Consultation | null> {
    this.errorSig.value = null;
    try {
      const c = await this.a.acceptConsultation(id);
      void this.refresh();
      return c;
    } catch (err) {
      this.errorSig.value = errorCode(err);
      void this.refresh();
      return null;
    }
  }
}
