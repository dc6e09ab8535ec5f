/**
 * A consultation's call as one app sees it: ringing, the pre-call check,
 * joining, the call itself and how it ended. Fed by the /ws events
 * call.ringing / accepted / declined / ended and by GET .../call (at start
 * and at every resync); drives the backend's call REST operations and the
 * CallClient.
 */
import { signal, type ReadonlySignal } from "@preact/signals";
import { ApiError, requestJson, getJson } from "./api";
import type { components } from "./api-schema";
import { parseCallInfo, parseCurrentCall, parseJoinInfo, type CallInfo, type CallKind, type JoinInfo } from "./api-types";
import { CallClient, type CallEndReason, type CallOptions } from "./call";
import type { RealtimeClient } from "./realtime";

/** The backend's call operations for one consultation. */
export interface CallApi {
  current(): Promise<CallInfo | null>;
  accept(): Promise<CallInfo>;
  decline(): Promise<CallInfo>;
  join(): Promise<JoinInfo>;
  /** Doctors only. */
  start?(kind: CallKind): Promise<CallInfo>;
  /** Doctors only: hang up for everyone. */
  end?(): Promise<CallInfo>;
}

/**
 * REST calls under base (/consultations/{id}/call): staff and participants
 * share the routes; the session says who is asking.
 */
export function callApi(base: string): CallApi {
  return {
    current: () => getJson(base, parseCurrentCall),
    accept: () => requestJson("POST", `${base}/accept`, parseCallInfo),
    decline: () => requestJson("POST", `${base}/decline`, parseCallInfo),
    join: () => requestJson("POST", `${base}/join`, parseJoinInfo),
    start: (kind) => requestJson("POST", base, parseCallInfo, { body: { kind } satisfies components["schemas"]["startCallRequest"] }),
    end: () => requestJson("POST", `${base}/end`, parseCallInfo),
  };
}

/** Where this app is in the consultation's call. */
export type CallPhase =
  | { name: "none" }
  /** A call rings for me. */
  | { name: "ringing"; callId: string; kind: CallKind }
  /** A call is on and I am not in it (I left, or reloaded the page): I may join. */
  | { name: "available"; callId: string; kind: CallKind }
  /** I accepted: the pre-call check before joining. */
  | { name: "precall"; callId: string; kind: CallKind }
  | { name: "joining"; callId: string; kind: CallKind }
  | { name: "in_call"; callId: string; kind: CallKind; client: CallClient }
  /** Joining failed (no_media_node, the node refused). */
  | { name: "failed"; callId: string; kind: CallKind; code: string }
  /** The call ended (reason from call.ended, or the client's). */
  | { name: "ended"; reason: string };

export interface CallSessionOptions {
  /** Who I am in the call: u-<user id> or p-<participant id>. */
  identity: string;
  /** Participants answer ringing calls; the doctor starts and ends them. */
  role: "participant" | "doctor";
  /** Tests pass fakes. */
  createClient?: (join: JoinInfo, options: CallOptions) => CallClient;
  clientOptions?: CallOptions;
}

/** A consultation's call, for one app. */
export class CallSession {
  private readonly phaseSig = signal<CallPhase>({ name: "none" });
  /** Where the call is for me. */
  readonly phase: ReadonlySignal<CallPhase> = this.phaseSig;
  private readonly busySig = signal(false);
  /** A request is on its way (buttons wait). */
  readonly busy: ReadonlySignal<boolean> = this.busySig;
  private readonly errorSig = signal<string | null>(null);
  /** The last refused request's code. */
  readonly error: ReadonlySignal<string | null> = this.errorSig;
  private readonly offs: Array<() => void> = [];
  private readonly createClient: (join: JoinInfo, options: CallOptions) => CallClient;
  /** Calls I declined or left, not to ring again on a refresh. */
  private readonly dismissed = new Set<string>();

  constructor(
    readonly consultationId: string,
    private readonly api: CallApi,
    private readonly opts: CallSessionOptions,
  ) {
    this.createClient = opts.createClient ?? ((j, o) => new CallClient(j, o));
  }

  /** Follows the socket's call events (and refetches on resync). */
  attach(rt: RealtimeClient): () => void {
    const mine = (d: { consultation_id?: string }) => d.consultation_id === this.consultationId;
    this.offs.push(
      rt.on("call.ringing", (d) => {
        if (!mine(d)) return;
        const cur = this.phaseSig.value;
        if (cur.name === "in_call" || cur.name === "joining" || cur.name === "precall") return;
        if (this.opts.role === "doctor") {
          // My own call from another device or tab: it is on.
          if (cur.name === "none" || cur.name === "ended") this.phaseSig.value = { name: "available", callId: d.call_id, kind: d.kind };
          return;
        }
        this.phaseSig.value = { name: "ringing", callId: d.call_id, kind: d.kind };
      }),
      rt.on("call.accepted", (d) => {
        // I answered on another device: stop ringing here.
        if (mine(d) && d.participant === this.opts.identity && this.phaseSig.value.name === "ringing") {
          const p = this.phaseSig.value;
          this.phaseSig.value = { name: "available", callId: p.callId, kind: p.kind };
        }
      }),
      rt.on("call.declined", (d) => {
        if (mine(d) && d.participant === this.opts.identity && this.phaseSig.value.name === "ringing") {
          this.dismissed.add(d.call_id);
          this.phaseSig.value = { name: "none" };
        }
      }),
      rt.on("call.ended", (d) => {
        if (!mine(d)) return;
        const cur = this.phaseSig.value;
        if ("callId" in cur && cur.callId !== d.call_id) return;
        if (cur.name === "in_call") cur.client.leave();
        this.phaseSig.value = cur.name === "none" ? cur : { name: "ended", reason: d.reason };
      }),
      rt.onResync(() => void this.refresh()),
    );
    void this.refresh();
    return () => this.detach();
  }

  detach(): void {
    for (const off of this.offs.splice(0)) off();
  }

  /** Reads the current call: rings, offers to join, or notices it ended. */
  async refresh(): Promise<void> {
    let call: CallInfo | null;
    try {
      call = await this.api.current();
    } catch {
      return; // the next event or resync tries again
    }
    const cur = this.phaseSig.value;
    if (!call || call.state === "ended") {
      if (cur.name === "ringing" || cur.name === "available" || cur.name === "precall") this.phaseSig.value = { name: "none" };
      if (cur.name === "in_call" && call?.id === cur.callId) {
        cur.client.leave();
        this.phaseSig.value = { name: "ended", reason: call.end_reason ?? "hung_up" };
      }
      return;
    }
    if (cur.name === "in_call" || cur.name === "joining" || cur.name === "precall" || cur.name === "failed") return;
    if (this.dismissed.has(call.id)) return;
    const me = call.participants.find((p) => p.identity === this.opts.identity);
    if (this.opts.role === "participant" && call.state === "ringing" && !me?.accepted_at && !me?.declined_at) {
      this.phaseSig.value = { name: "ringing", callId: call.id, kind: call.kind };
    } else if (me?.declined_at) {
      this.phaseSig.value = { name: "none" };
    } else {
      this.phaseSig.value = { name: "available", callId: call.id, kind: call.kind };
    }
  }

  /** Answers the ringing call: on to the pre-call check. */
  async accept(): Promise<void> {
    const cur = this.phaseSig.value;
    if (cur.name !== "ringing" && cur.name !== "available") return;
    if (cur.name === "ringing") {
      const ok = await this.run(() => this.api.accept());
      if (!ok) return;
    }
    this.phaseSig.value = { name: "precall", callId: cur.callId, kind: cur.kind };
  }

  /** Declines the ringing call. */
  async decline(): Promise<void> {
    const cur = this.phaseSig.value;
    if (cur.name !== "ringing") return;
    this.dismissed.add(cur.callId);
    this.phaseSig.value = { name: "none" };
    await this.run(() => this.api.decline());
  }

  /** Doctors: starts a call and joins it at once. */
  async start(kind: CallKind): Promise<void> {
    if (!this.api.start) return;
    const start = this.api.start;
    let call: CallInfo | undefined;
    const ok = await this.run(async () => {
      call = await start(kind);
    });
    if (!ok) {
      // A call already on (call_in_progress): join it.
      if (this.errorSig.value === "call_in_progress") await this.refresh();
      return;
    }
    if (call) await this.join(null, { callId: call.id, kind: call.kind });
  }

  /** Joins with the pre-call check's stream (or asks for media itself with null). */
  async join(stream: MediaStream | null, target?: { callId: string; kind: CallKind }): Promise<void> {
    const cur = this.phaseSig.value;
    const t = target ?? ("callId" in cur ? { callId: cur.callId, kind: cur.kind } : null);
    if (!t) return;
    this.phaseSig.value = { name: "joining", ...t };
    let join: JoinInfo;
    try {
      join = await this.api.join();
    } catch (err) {
      for (const tr of stream?.getTracks() ?? []) tr.stop();
      this.phaseSig.value = { name: "failed", ...t, code: codeOf(err) };
      return;
    }
    const client = this.createClient(join, { ...this.opts.clientOptions, refreshJoin: () => this.api.join() });
    this.phaseSig.value = { name: "in_call", ...t, client };
    const stop = client.ended.subscribe((reason) => {
      if (reason) {
        stop();
        this.onClientEnded(client, reason);
      }
    });
    try {
      await client.start(stream);
    } catch (err) {
      if (this.phaseSig.value.name === "in_call") this.phaseSig.value = { name: "failed", ...t, code: codeOf(err) };
    }
  }

  /** Leaves the call (a doctor hangs up for everyone). */
  async leave(): Promise<void> {
    const cur = this.phaseSig.value;
    if (cur.name === "in_call") {
      cur.client.leave();
      this.phaseSig.value = { name: "available", callId: cur.callId, kind: cur.kind };
    }
    if (this.opts.role === "doctor" && this.api.end) {
      const end = this.api.end;
      await this.run(() => end());
      this.phaseSig.value = { name: "none" };
    }
  }

  /** Back from "ended" or "failed" to nothing. */
  dismiss(): void {
    const cur = this.phaseSig.value;
    if (cur.name === "ended" || cur.name === "failed") this.phaseSig.value = { name: "none" };
    if (cur.name === "failed") void this.refresh();
  }

  private onClientEnded(client: CallClient, reason: CallEndReason): void {
    const cur = this.phaseSig.value;
    if (cur.name !== "in_call" || cur.client !== client || reason === "left") return;
    this.phaseSig.value =
      reason === "error"
        ? { name: "failed", callId: cur.callId, kind: cur.kind, code: client.error.value?.code ?? "internal" }
        : { name: "ended", reason };
  }

  private async run(fn: () => Promise<unknown>): Promise<boolean> {
    this.busySig.value = true;
    this.errorSig.value = null;
    try {
      await fn();
      return true;
    } catch (err) {
      this.errorSig.value = codeOf(err);
      return false;
    } finally {
      this.busySig.value = false;
    }
  }
}

function codeOf(err: unknown): string {
  if (err instanceof ApiError) return err.code ?? (err.status === undefined ? "network" : `http_${err.status}`);
  if (err && typeof err === "object" && "code" in err && typeof (err as { code: unknown }).code === "string") {
    return (err as { code: string }).code;
  }
  return "internal";
}
