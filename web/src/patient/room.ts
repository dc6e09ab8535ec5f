/**
 * The waiting room's live state: the consultation's status, the patient's
 * place in the queue, the doctor's estimate, the chat, and how it ended.
 * Fed by GET /participant/queue-position (at start and at every resync) and
 * by the /ws events of the consultation.
 */
import { batch, signal, type ReadonlySignal, type Signal } from "@preact/signals";
import { ApiError } from "../shared/api";
import type { ConsultationStatus, Participation, QueuePosition } from "../shared/api-types";
import { CallSession, callApi, type CallApi } from "../shared/call-session";
import { ChatStore, sessionPersist, type ChatOptions, type ChatTransport } from "../shared/chat";
import { RealtimeClient, type RealtimeClosed } from "../shared/realtime";
import { getParticipation, getQueuePosition, participantChat } from "./api";
import type { EndReason } from "./flow";

export interface RoomDeps {
  realtime: RealtimeClient;
  chat: ChatTransport;
  queuePosition: () => Promise<QueuePosition>;
  /** The consultation's call operations. */
  calls: CallApi;
  /** Where unsent chat messages survive a reload (default this tab's sessionStorage). */
  unsent: ChatOptions["persist"];
}

/** Whether a participant session still works (for the socket's verifySession). */
export async function sessionStillValid(): Promise<boolean> {
  try {
    await getParticipation();
    return true;
  } catch (err) {
    return !(err instanceof ApiError && (err.status === 401 || err.status === 403 || err.status === 404));
  }
}

function defaults(p: Participation): RoomDeps {
  return {
    realtime: new RealtimeClient({ verifySession: sessionStillValid }),
    chat: participantChat(p.consultation_id),
    queuePosition: () => getQueuePosition(),
    calls: participantCallApi(p.consultation_id),
    unsent: sessionPersist(p.consultation_id, p.participant_id),
  };
}

/** A participant's call operations (the routes staff use too). */
export function participantCallApi(consultationId: string): CallApi {
  return callApi(`/consultations/${encodeURIComponent(consultationId)}/call`);
}

function endOf(closed: RealtimeClosed): EndReason | null {
  switch (closed.kind) {
    case "client":
      return null;
    case "consultation_closed":
      return "completed";
    case "access_revoked":
      return "revoked";
    default:
      return "session_ended";
  }
}

export class WaitingRoom {
  readonly realtime: RealtimeClient;
  readonly chat: ChatStore;
  /** The consultation's call (ringing, pre-call check, the call). */
  readonly call: CallSession;
  private readonly queuePosition: () => Promise<QueuePosition>;

  private readonly statusSig: Signal<ConsultationStatus>;
  private readonly positionSig = signal<number | undefined>(undefined);
  private readonly estimateSig = signal<string | undefined>(undefined);
  private readonly doctorJoinedSig = signal(false);
  private readonly transferredSig = signal(false);
  private readonly endedSig = signal<EndReason | null>(null);
  private closeReason: "completed" | "cancelled" | null = null;
  private readonly offs: Array<() => void> = [];
  private started = false;

  readonly status: ReadonlySignal<ConsultationStatus>;
  /** 1 for the next patient; undefined when not waiting or not known yet. */
  readonly position: ReadonlySignal<number | undefined> = this.positionSig;
  /** When the doctor expects to start (RFC 3339), if they said. */
  readonly estimatedStartAt: ReadonlySignal<string | undefined> = this.estimateSig;
  /** Set when a doctor accepted the consultation while the patient was here. */
  readonly doctorJoined: ReadonlySignal<boolean> = this.doctorJoinedSig;
  /** Set when the consultation was moved to another queue or doctor. */
  readonly transferred: ReadonlySignal<boolean> = this.transferredSig;
  /** Set once the patient's place is gone. */
  readonly ended: ReadonlySignal<EndReason | null> = this.endedSig;

  constructor(
    readonly participation: Participation,
    deps: Partial<RoomDeps> = {},
  ) {
    const d = { ...defaults(participation), ...deps };
    this.realtime = d.realtime;
    this.queuePosition = d.queuePosition;
    this.chat = new ChatStore(
      d.chat,
      { participantId: participation.participant_id },
      { persist: d.unsent },
    );
    this.call = new CallSession(participation.consultation_id, d.calls, {
      identity: `p-${participation.participant_id}`,
      role: "participant",
    });
    this.statusSig = signal<ConsultationStatus>(participation.consultation_status);
    this.status = this.statusSig;
  }

  /** Connects, loads the place and the chat, and follows the events. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const rt = this.realtime;
    const cid = this.participation.consultation_id;
    const mine = (d: { consultation_id?: string }) => d.consultation_id === undefined || d.consultation_id === cid;
    this.offs.push(
      this.chat.attach(rt, cid),
      this.call.attach(rt),
      rt.on("queue.position", (d) => {
        this.positionSig.value = d.position;
      }),
      rt.on("consultation.estimate", (d) => {
        if (mine(d)) this.estimateSig.value = d.start_at;
      }),
      rt.on("consultation.accepted", (d) => {
        if (!mine(d)) return;
        batch(() => {
          this.statusSig.value = "active";
          this.positionSig.value = undefined;
          this.doctorJoinedSig.value = true;
        });
      }),
      rt.on("consultation.transferred", (d) => {
        if (!mine(d)) return;
        batch(() => {
          this.transferredSig.value = true;
          this.doctorJoinedSig.value = false;
        });
        void this.refresh();
      }),
      rt.on("consultation.closed", (d) => {
        if (!mine(d)) return;
        this.closeReason = d.reason === "cancelled" ? "cancelled" : "completed";
        this.finish(this.closeReason);
      }),
      rt.on("participant.revoked", (d) => {
        if (mine(d) && d.participant_id === this.participation.participant_id) this.finish("revoked");
      }),
      rt.onResync(() => void this.refresh()),
    );
    const stopWatch = this.realtime.closed.subscribe((closed) => {
      if (!closed) return;
      const reason = endOf(closed);
      if (reason) this.finish(reason === "completed" ? (this.closeReason ?? "completed") : reason);
    });
    this.offs.push(stopWatch);
    rt.connect();
    void this.refresh();
    void this.chat.sync();
  }

  /** Reloads the status, place and estimate. */
  async refresh(): Promise<void> {
    try {
      const pos = await this.queuePosition();
      batch(() => {
        const was = this.statusSig.value;
        this.statusSig.value = pos.consultation_status;
        this.positionSig.value = pos.position;
        if (pos.estimated_start_at !== undefined || pos.consultation_status !== "pending") {
          this.estimateSig.value = pos.estimated_start_at;
        }
        if (was === "pending" && pos.consultation_status === "active") this.doctorJoinedSig.value = true;
      });
      if (pos.consultation_status === "closed") this.finish(this.closeReason ?? "completed");
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) this.finish("session_ended");
      // Otherwise keep what is shown; the next event or resync tries again.
    }
  }

  private finish(reason: EndReason): void {
    if (this.endedSig.value) return;
    this.endedSig.value = reason;
    this.stop();
  }

  /** Disconnects and stops every timer. */
  stop(): void {
    for (const off of this.offs.splice(0)) off();
    const phase = this.call.phase.value;
    if (phase.name === "in_call") phase.client.leave();
    this.realtime.close();
    this.chat.dispose();
  }
}
