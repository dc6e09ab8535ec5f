/**
 * Fakes of the browser's WebRTC objects for the call client's tests (and the
 * call screen's): a peer connection that records what it is asked, tracks,
 * and a media node that answers over a FakeSocket. Never imported by app code.
 */
import type { JoinInfo } from "./api-types";
import type { MediaDevicesLike, ParticipantInfo, PeerConnectionLike } from "./call";
import { FakeSocket } from "./test-support";

let trackSeq = 0;

/** A MediaStreamTrack stand-in. */
export class FakeTrack {
  readonly id: string;
  enabled = true;
  readyState: MediaStreamTrackState = "live";
  contentHint = "";
  onended: (() => void) | null = null;
  constructor(
    readonly kind: "audio" | "video",
    readonly deviceId = `${kind}-dev-1`,
    id?: string,
  ) {
    this.id = id ?? `${kind}-track-${++trackSeq}`;
  }
  stop(): void {
    this.readyState = "ended";
  }
  /** Ended by the browser (its "Stop sharing" bar, a device unplugged): unlike stop(), fires ended. */
  end(): void {
    this.readyState = "ended";
    this.onended?.();
  }
  getSettings(): MediaTrackSettings {
    return this.kind === "video" ? { deviceId: this.deviceId, width: 1280, height: 720 } : { deviceId: this.deviceId };
  }
}

/** A MediaStream stand-in holding FakeTracks. */
export function fakeStream(tracks: FakeTrack[], id = "local"): MediaStream {
  return {
    id,
    getTracks: () => tracks,
    getAudioTracks: () => tracks.filter((t) => t.kind === "audio"),
    getVideoTracks: () => tracks.filter((t) => t.kind === "video"),
  } as unknown as MediaStream;
}

export interface FakeTransceiver {
  track: FakeTrack;
  init: RTCRtpTransceiverInit | undefined;
  direction: RTCRtpTransceiverDirection;
  mid: string | null;
  replaced: Array<FakeTrack | null>;
  sender: { replaceTrack(t: FakeTrack | null): Promise<void>; getParameters(): { encodings: RTCRtpEncodingParameters[] } };
}

let pcSeq = 0;

/** An RTCPeerConnection stand-in that records calls. */
export class FakePeerConnection implements PeerConnectionLike {
  readonly n = ++pcSeq;
  localDescription: RTCSessionDescription | null = null;
  remoteDescription: RTCSessionDescription | null = null;
  iceConnectionState: RTCIceConnectionState = "new";
  signalingState: RTCSignalingState = "stable";
  onicecandidate: ((ev: RTCPeerConnectionIceEvent) => unknown) | null = null;
  oniceconnectionstatechange: ((ev: Event) => unknown) | null = null;
  ontrack: ((ev: RTCTrackEvent) => unknown) | null = null;
  readonly transceivers: FakeTransceiver[] = [];
  readonly candidates: RTCIceCandidateInit[] = [];
  readonly offers: Array<RTCOfferOptions | undefined> = [];
  /** What happened, in order: "remote:offer", "candidate", ... */
  readonly log: string[] = [];
  closed = false;
  /** Refuse sendEncodings (a browser without simulcast). */
  refuseSimulcast = false;
  stats: Array<Record<string, unknown>> = [];

  constructor(readonly config: RTCConfiguration) {}

  async createOffer(options?: RTCOfferOptions): Promise<RTCSessionDescriptionInit> {
    this.offers.push(options);
    return { type: "offer", sdp: `offer-${this.n}-${this.offers.length}${options?.iceRestart ? "-restart" : ""}` };
  }
  async createAnswer(): Promise<RTCSessionDescriptionInit> {
    return { type: "answer", sdp: `answer-${this.n}` };
  }
  async setLocalDescription(desc: RTCSessionDescriptionInit): Promise<void> {
    this.localDescription = desc as RTCSessionDescription;
    this.log.push(`local:${desc.type}`);
  }
  async setRemoteDescription(desc: RTCSessionDescriptionInit): Promise<void> {
    this.remoteDescription = desc as RTCSessionDescription;
    this.log.push(`remote:${desc.type}`);
  }
  async addIceCandidate(c: RTCIceCandidateInit): Promise<void> {
    if (!this.remoteDescription) throw new Error("InvalidStateError: no remote description");
    this.candidates.push(c);
    this.log.push("candidate");
  }
  addTransceiver(track: MediaStreamTrack, init?: RTCRtpTransceiverInit): RTCRtpTransceiver {
    if (this.refuseSimulcast && init?.sendEncodings && init.sendEncodings.length > 1) {
      throw new Error("OperationError: simulcast not supported");
    }
    const t: FakeTransceiver = {
      track: track as unknown as FakeTrack,
      init,
      direction: init?.direction ?? "sendrecv",
      mid: String(this.transceivers.length),
      replaced: [],
      sender: {
        replaceTrack: async (x) => {
          t.replaced.push(x);
        },
        getParameters: () => ({ encodings: init?.sendEncodings ?? [{}] }),
      },
    };
    this.transceivers.push(t);
    return t as unknown as RTCRtpTransceiver;
  }
  async getStats(): Promise<RTCStatsReport> {
    const map = new Map(this.stats.map((s, i) => [String(s["id"] ?? i), s]));
    return map as unknown as RTCStatsReport;
  }
  close(): void {
    this.closed = true;
  }

  /** The browser found a local candidate. */
  emitCandidate(candidate: string): void {
    const c = { candidate, sdpMid: "0", sdpMLineIndex: 0, usernameFragment: "u", toJSON() {
      return { candidate, sdpMid: "0", sdpMLineIndex: 0, usernameFragment: "u" };
    } };
    this.onicecandidate?.({ candidate: c } as unknown as RTCPeerConnectionIceEvent);
  }

  setIce(state: RTCIceConnectionState): void {
    this.iceConnectionState = state;
    this.oniceconnectionstatechange?.(new Event("iceconnectionstatechange"));
  }

  /** A remote track arrives (sub): the node's stream id is the participant's id; mid names its m-section. */
  emitTrack(track: FakeTrack, participant: string, mid: string | null = null): void {
    this.ontrack?.({
      track,
      streams: [fakeStream([track], participant)],
      transceiver: { mid },
    } as unknown as RTCTrackEvent);
  }
}

/** A sub offer whose m-sections name the node's track ids (msid), as the node writes it. */
export function subOfferSdp(sections: Array<{ mid: string; participant: string; track: string; kind?: "audio" | "video" }>): string {
  const head = ["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0"];
  const body = sections.flatMap((m) => [
    `m=${m.kind ?? "video"} 9 UDP/TLS/RTP/SAVPF 96`,
    `a=mid:${m.mid}`,
    `a=msid:${m.participant} ${m.track}`,
    "a=sendonly",
  ]);
  return [...head, ...body, ""].join("\r\n");
}

/** Records every peer connection a client creates. */
export class PeerFactory {
  readonly pcs: FakePeerConnection[] = [];
  refuseSimulcast = false;
  readonly create = (config: RTCConfiguration): FakePeerConnection => {
    const pc = new FakePeerConnection(config);
    pc.refuseSimulcast = this.refuseSimulcast;
    this.pcs.push(pc);
    return pc;
  };
  /** The latest pub and sub (the client creates them in that order). */
  get pub(): FakePeerConnection {
    return this.pcs[this.pcs.length - 2]!;
  }
  get sub(): FakePeerConnection {
    return this.pcs[this.pcs.length - 1]!;
  }
}

/** A socket that also records the subprotocols it was opened with. */
export class SignalSocket extends FakeSocket {
  constructor(
    url: string,
    readonly protocols: string[],
  ) {
    super(url);
  }
}

export interface FakeNodeOptions {
  /** Open sockets by themselves (default true). */
  autoOpen?: boolean;
  /** Answer join, publish and pub offers by themselves (default true). */
  autoAnswer?: boolean;
  /** Participants already in the room. */
  others?: ParticipantInfo[];
  /** Refuse publishing these sources (source_not_allowed), as a node whose grant does not allow them. */
  refuseSources?: string[];
}

/** A media node behind FakeSockets: answers join, publish and offers like the real one. */
export class FakeNode {
  readonly sockets: SignalSocket[] = [];
  joinError: { code: string; message: string } | null = null;
  private trackSeq = 0;
  readonly tracksByCid = new Map<string, string>();
  /** The track ids the client unpublished. */
  readonly unpublished: string[] = [];

  constructor(private readonly options: FakeNodeOptions = {}) {}

  readonly create = (url: string, protocols: string[]): SignalSocket => {
    const s = new SignalSocket(url, protocols);
    this.sockets.push(s);
    const send = s.send.bind(s);
    s.send = (data: string) => {
      send(data);
      if (this.options.autoAnswer !== false) queueMicrotask(() => this.answer(s, JSON.parse(data) as Env));
    };
    if (this.options.autoOpen !== false) queueMicrotask(() => s.open(false));
    return s;
  };

  get last(): SignalSocket {
    const s = this.sockets.at(-1);
    if (!s) throw new Error("no socket yet");
    return s;
  }

  private answer(s: SignalSocket, env: Env): void {
    if (s.readyState !== FakeSocket.OPEN) return;
    switch (env.type) {
      case "join":
        if (this.joinError) {
          s.message({ type: "error", id: env.id, data: this.joinError });
          return;
        }
        s.message({
          type: "joined",
          id: env.id,
          data: {
            self: { id: "p-me", name: "Me", role: "patient", state: "active" },
            participants: this.options.others ?? [{ id: "u-doc", name: "Dr Who", role: "doctor", state: "active" }],
            grace_seconds: 30,
          },
        });
        return;
      case "publish": {
        const d = env.data as { cid: string; kind: string; source: string };
        if (this.options.refuseSources?.includes(d.source)) {
          s.message({ type: "error", id: env.id, data: { code: "source_not_allowed", message: `${d.source} not allowed` } });
          return;
        }
        let id = this.tracksByCid.get(d.source);
        if (!id) this.tracksByCid.set(d.source, (id = `TR_${++this.trackSeq}`));
        s.message({
          type: "published",
          id: env.id,
          data: { cid: d.cid, track: { id, participant: "p-me", kind: d.kind, source: d.source, muted: false } },
        });
        return;
      }
      case "offer":
        s.message({ type: "answer", id: env.id, data: { target: "pub", sdp: { type: "answer", sdp: "node-answer" } } });
        return;
      case "unpublish":
        this.unpublished.push((env.data as { track_id: string }).track_id);
        return;
      default:
        return;
    }
  }
}

export interface Env {
  type: string;
  id?: string;
  data?: unknown;
}

/** A join answer for tests. */
export function joinInfo(over: Partial<JoinInfo> = {}): JoinInfo {
  return {
    call_id: "call-1",
    kind: "video",
    room: "c1",
    node: "media-1",
    signal_url: "wss://media.example/n/media-1/signal",
    grant: "g.r.ant",
    grant_expires_at: new Date(Date.now() + 5 * 60_000).toISOString(),
    ice_servers: [{ urls: ["turn:turn.example:3478?transport=udp"], username: "123:p-me", credential: "secret" }],
    ...over,
  };
}

/**
 * A media grant whose claims allow these sources (unsigned: the client
 * only reads the claims; the node verifies).
 */
export function fakeGrant(sources: string[], extra: Record<string, unknown> = {}): string {
  const b64 = (o: unknown) =>
    btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(o))))
      .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `${b64({ alg: "EdDSA", typ: "JWT" })}.${b64({ iss: "hcw-backend", aud: "hcw-media", sub: "u-doc", room: "c1", sources, ...extra })}.c2lnbmF0dXJl`;
}

/** navigator.mediaDevices stand-in. */
export class FakeMediaDevices implements MediaDevicesLike {
  refuseVideo = false;
  refuseAudio = false;
  readonly requests: MediaStreamConstraints[] = [];
  /** The screen picker: "ok" shares, "cancel" is the user closing it (NotAllowedError), "fail" another error. */
  screenPicker: "ok" | "cancel" | "fail" = "ok";
  readonly screenRequests: DisplayMediaStreamOptions[] = [];
  /** The screen tracks shared so far. */
  readonly screens: FakeTrack[] = [];
  /** Screen capture (set to undefined for a browser without it: a phone). */
  getDisplayMedia?: (options?: DisplayMediaStreamOptions) => Promise<MediaStream> = async (options) => {
    this.screenRequests.push(options ?? {});
    if (this.screenPicker === "cancel") throw new DOMException("Permission denied by user", "NotAllowedError");
    if (this.screenPicker === "fail") throw new DOMException("Could not start video source", "NotReadableError");
    const t = new FakeTrack("video", "screen:1");
    this.screens.push(t);
    return fakeStream([t], "screen");
  };
  devices: MediaDeviceInfo[] = [
    { deviceId: "audio-dev-1", kind: "audioinput", label: "Mic", groupId: "g" } as MediaDeviceInfo,
    { deviceId: "video-dev-1", kind: "videoinput", label: "Front", groupId: "g" } as MediaDeviceInfo,
    { deviceId: "video-dev-2", kind: "videoinput", label: "Back", groupId: "g" } as MediaDeviceInfo,
    { deviceId: "out-1", kind: "audiooutput", label: "Speaker", groupId: "g" } as MediaDeviceInfo,
  ];

  async getUserMedia(c: MediaStreamConstraints): Promise<MediaStream> {
    this.requests.push(c);
    if ((c.video && this.refuseVideo) || (c.audio && this.refuseAudio)) {
      throw new DOMException("Permission denied", "NotAllowedError");
    }
    const tracks: FakeTrack[] = [];
    if (c.audio) tracks.push(new FakeTrack("audio", deviceOf(c.audio) ?? "audio-dev-1"));
    if (c.video) tracks.push(new FakeTrack("video", deviceOf(c.video) ?? "video-dev-1"));
    return fakeStream(tracks);
  }

  async enumerateDevices(): Promise<MediaDeviceInfo[]> {
    return this.devices;
  }
}

function deviceOf(c: boolean | MediaTrackConstraints): string | undefined {
  if (typeof c !== "object") return undefined;
  const d = c.deviceId;
  if (typeof d === "string") return d;
  if (d && typeof d === "object" && !Array.isArray(d)) {
    const exact = (d as ConstrainDOMStringParameters).exact;
    return typeof exact === "string" ? exact : undefined;
  }
  return undefined;
}
