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
  /**
   * Waiting lists are fetched while presence events keep coming: a list
   * read before a patient's socket opened says "offline" and may arrive
   * after the "online" event. Every fetch takes a number; an answer older
   * than the list shown is dropped, and a presence event newer than the
   * fetch that brought a list wins over what the list says.
   */
  private reqSeq = 0;
  private readonly listSeq = new Map<string, number>();
  private readonly presenceSeen = new Map<string, { online: boolean; seq: number }>();

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
    const seq = ++this.reqSeq;
    try {
      const queues = await this.a.myQueues();
      const lists = await Promise.all(queues.map((q) => this.a.waitingList(q.id).catch(() => null)));
      const active = await this.a.myConsultations("active").catch(() => this.activeSig.value);
      batch(() => {
        const shown = this.waitingSig.value;
        const m = new Map<string, Consultation[]>();
        queues.forEach((q, i) => {
          const list = lists[i];
          if (!list || !this.applyList(q.id, list, seq, m)) m.set(q.id, shown.get(q.id) ?? []);
        });
        this.queuesSig.value = queues;
        this.waitingSig.value = m;
        this.activeSig.value = active;
        this.loadedSig.value = true;
      });
    } catch (err) {
      this.errorSig.value = errorCode(err);
    }
  }

  private async refreshQueue(queueId: string | undefined): Promise<void> {
    if (!queueId || !this.queuesSig.value.some((q) => q.id === queueId)) return this.refresh();
    const seq = ++this.reqSeq;
    try {
      const list = await this.a.waitingList(queueId);
      const m = new Map(this.waitingSig.value);
      if (this.applyList(queueId, list, seq, m)) this.waitingSig.value = m;
    } catch {
      // The next event or resync refetches.
    }
  }

  /** Puts a queue's list fetched by request seq into m, unless a newer one is shown; false when dropped. */
  private applyList(queueId: string, list: Consultation[], seq: number, m: Map<string, Consultation[]>): boolean {
    if (seq < (this.listSeq.get(queueId) ?? 0)) return false;
    this.listSeq.set(queueId, seq);
    m.set(
      queueId,
      list.map((c) => {
        const seen = this.presenceSeen.get(c.id);
        if (!seen) return c;
        // An event newer than this fetch wins; an older one is in the list already.
        if (seen.seq < seq) {
          this.presenceSeen.delete(c.id);
          return c;
        }
        return c.patient && c.patient.online !== seen.online ? { ...c, patient: { ...c.patient, online: seen.online } } : c;
      }),
    );
    return true;
  }

  private presence(consultationId: string, online: boolean): void {
    this.presenceSeen.set(consultationId, { online, seq: this.reqSeq });
    if (this.presenceSeen.size > 500) {
      const oldest = this.presenceSeen.keys().next().value;
      if (oldest !== undefined) this.presenceSeen.delete(oldest);
    }
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
