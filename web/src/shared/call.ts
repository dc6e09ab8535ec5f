/**
 * The browser's call client: one participant in a call on a media node,
 * speaking the protocol of docs/signalling.md (contract/signal in Go; the Go
 * twin is media/signalclient).
 *
 * - The signalling socket goes to the join answer's signal_url with the
 *   subprotocols ["hcw.signal.v1", "hcw.grant.<grant>"] (never the grant in
 *   the URL). First message: join {room, resume?}; the node answers joined.
 * - Two peer connections: "pub", offered by this client, carries the
 *   microphone and the camera; "sub", offered by the node (once it has a
 *   track to send, and again as tracks come and go), carries the others'.
 * - A track is announced with publish {cid = MediaStreamTrack.id, kind,
 *   source, layers} and acknowledged with published {track} BEFORE the pub
 *   offer that carries it. The camera is sent as three simulcast encodings
 *   (rid q, h, f), or one when the browser refuses.
 * - A screen share is a third track (source "screen", one encoding,
 *   contentHint "detail"), offered only when the grant's sources allow it
 *   (the join answer's sources; from a backend that does not send them,
 *   the grant's claims; the node checks again). Stopping it, here or with the
 *   browser's own "Stop sharing", sends unpublish and renegotiates pub.
 * - Remote tracks are told apart by the node's track id: the msid of the
 *   sub offer's m-section (by mid), else the MediaStreamTrack id. A
 *   participant's "screen" track is kept apart from their camera.
 * - ICE candidates trickle both ways; remote ones arriving before the remote
 *   description are queued.
 * - Trouble: ICE disconnected/failed shows "reconnecting" and restarts ICE
 *   on pub; a dropped socket (or a sub that failed) rejoins with
 *   resume: true within the node's grace period, asking the backend for a
 *   fresh join answer when the grant expired (the grant is for joining only).
 *
 * The node refuses unknown fields (it decodes strictly): every message here
 * carries exactly the contract's fields.
 */
import { batch, computed, signal, type ReadonlySignal } from "@preact/signals";
import { ApiError } from "./api";
import type { CallKind, JoinInfo } from "./api-types";
import type { SocketLike } from "./realtime";

// ---------------------------------------------------------------- protocol

/** The subprotocol of the signalling socket; the grant goes next to it. */
export const SIGNAL_SUBPROTOCOL = "hcw.signal.v1";
export const GRANT_SUBPROTOCOL_PREFIX = "hcw.grant.";

/** One signalling message. */
export interface SignalEnvelope<T = unknown> {
  type: string;
  id?: string;
  data?: T;
}

/** contract/signal.Layer. */
export interface Layer {
  rid: "q" | "h" | "f";
  width?: number;
  height?: number;
  bitrate?: number;
}

/** contract/signal.TrackInfo. */
export interface TrackInfo {
  id: string;
  participant: string;
  kind: "audio" | "video" | string;
  source: "camera" | "microphone" | "screen" | string;
  muted: boolean;
  layers?: Layer[];
}

/** contract/signal.ParticipantInfo. */
export interface ParticipantInfo {
  id: string;
  name: string;
  role: string;
  state: "active" | "reconnecting" | string;
  tracks?: TrackInfo[];
}

/** contract/signal.Joined. */
export interface Joined {
  self: ParticipantInfo;
  participants: ParticipantInfo[];
  grace_seconds: number;
}

/** The node's stable error codes (contract/signal Err*). */
export type SignalErrorCode =
  | "grant_invalid"
  | "grant_expired"
  | "wrong_room"
  | "wrong_node"
  | "source_not_allowed"
  | "room_full"
  | "node_draining"
  | "room_ended"
  | "removed"
  | "bad_message"
  | "rate_limited"
  | "internal";

/** A refusal or failure the node reported (or a local one: "timeout", "closed"). */
export class CallError extends Error {
  override readonly name = "CallError";
  constructor(
    readonly code: SignalErrorCode | "timeout" | "closed" | "socket" | string,
    message: string,
  ) {
    super(message);
  }
}

/** Codes after which this join answer cannot work again: ask the backend for a new one. */
const NEEDS_FRESH_JOIN = new Set(["grant_invalid", "grant_expired", "wrong_node", "node_draining", "wrong_room"]);
/** Codes that end the call for good. */
const FATAL = new Set(["room_ended", "removed", "room_full"]);

// ---------------------------------------------------------------- environment

/** The part of RTCPeerConnection the client uses (a fake in tests). */
export interface PeerConnectionLike {
  readonly localDescription: RTCSessionDescription | null;
  readonly remoteDescription: RTCSessionDescription | null;
  readonly iceConnectionState: RTCIceConnectionState;
  readonly signalingState: RTCSignalingState;
  onicecandidate: ((ev: RTCPeerConnectionIceEvent) => unknown) | null;
  oniceconnectionstatechange: ((ev: Event) => unknown) | null;
  ontrack: ((ev: RTCTrackEvent) => unknown) | null;
  createOffer(options?: RTCOfferOptions): Promise<RTCSessionDescriptionInit>;
  createAnswer(): Promise<RTCSessionDescriptionInit>;
  setLocalDescription(desc: RTCSessionDescriptionInit): Promise<void>;
  setRemoteDescription(desc: RTCSessionDescriptionInit): Promise<void>;
  addIceCandidate(candidate: RTCIceCandidateInit): Promise<void>;
  addTransceiver(track: MediaStreamTrack, init?: RTCRtpTransceiverInit): RTCRtpTransceiver;
  getStats(): Promise<RTCStatsReport>;
  close(): void;
}

/** The media-device calls the client makes (navigator.mediaDevices in a browser). */
export interface MediaDevicesLike {
  getUserMedia(constraints: MediaStreamConstraints): Promise<MediaStream>;
  enumerateDevices(): Promise<MediaDeviceInfo[]>;
  /** Screen capture; missing on phones and in older browsers. */
  getDisplayMedia?(options?: DisplayMediaStreamOptions): Promise<MediaStream>;
}

export interface CallOptions {
  /** Default new WebSocket(url, protocols). */
  createSocket?: (url: string, protocols: string[]) => SocketLike;
  /** Default new RTCPeerConnection(config). */
  createPeerConnection?: (config: RTCConfiguration) => PeerConnectionLike;
  /** Default navigator.mediaDevices. */
  mediaDevices?: MediaDevicesLike | null;
  /** Asks the backend for a new join answer (POST .../call/join): the grant expired or the node changed. */
  refreshJoin?: () => Promise<JoinInfo>;
  /** How long a request (join, publish, offer) waits for its answer (default 10 s). */
  requestTimeoutMs?: number;
  /** How long to keep trying to get back into the call after a drop (default 5 min). */
  reconnectForMs?: number;
  /** Reconnect delays: first and cap (default 500 ms, 5 s). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** ICE "disconnected" for this long restarts ICE on pub (default 2.5 s). */
  iceRestartAfterMs?: number;
  /** How often stats feed the network quality (default 2 s; 0 turns it off). */
  statsIntervalMs?: number;
  /** Default Date.now. */
  now?: () => number;
  /** Default window (online, visibilitychange); null: ignore. */
  environment?: CallEnvironment | null;
  /** Send simulcast (three encodings) for the camera (default true). */
  simulcast?: boolean;
  /**
   * "relay": gather relay candidates only, through the join answer's
   * turns: servers (TURN over TLS on 443), for networks that let nothing
   * else through. Default: what localStorage[ICE_POLICY_STORAGE_KEY] says
   * on this device, else "all".
   */
  iceTransportPolicy?: RTCIceTransportPolicy;
}

/**
 * localStorage key that forces relay-only ICE on this device ("relay"),
 * without a new build: support staff (or an end-to-end test) set it for a
 * network that blocks UDP and every port but 443.
 */
export const ICE_POLICY_STORAGE_KEY = "hcw.iceTransportPolicy";

function storedIcePolicy(): RTCIceTransportPolicy {
  try {
    return globalThis.localStorage?.getItem(ICE_POLICY_STORAGE_KEY) === "relay" ? "relay" : "all";
  } catch {
    return "all";
  }
}

/** The page events the client follows. */
export interface CallEnvironment {
  addEventListener(type: "online" | "visibilitychange", listener: () => void): void;
  removeEventListener(type: "online" | "visibilitychange", listener: () => void): void;
}

// ---------------------------------------------------------------- state

/** Where the call is. */
export type CallState = "idle" | "connecting" | "connected" | "reconnecting" | "ended";

/** Why the call ended. */
export type CallEndReason =
  /** leave() was called. */
  | "left"
  /** The doctor or the backend took this participant out. */
  | "removed"
  /** The call (room) ended. */
  | "room_ended"
  /** The same participant joined from another tab or device. */
  | "duplicate_identity"
  /** Could not get back into the call in time. */
  | "connection_lost"
  /** A refusal the client cannot get past (CallClient.error says which). */
  | "error";

/** Network quality, as shown to the user. */
export type NetworkQuality = "excellent" | "good" | "poor" | "lost" | "unknown";

/** A remote participant as the UI shows it. */
export interface RemoteParticipant {
  id: string;
  name: string;
  role: string;
  /** "reconnecting" while their connection is down (the node keeps their place). */
  state: string;
  tracks: TrackInfo[];
  /** Their audio and video, as received on the sub connection. */
  stream: MediaStream | null;
  audioMuted: boolean;
  videoMuted: boolean;
  /** Has a camera track published. */
  hasVideo: boolean;
  quality: NetworkQuality;
  /** Has a screen share published (shown on the main stage). */
  hasScreen: boolean;
  /** The screen share's video, as received (apart from `stream`). */
  screen: MediaStream | null;
}

/** Per-track receive counters (for the e2e tests and the quality indicator). */
export interface InboundTrackStats {
  /** The node's track id (or the browser's when unknown). */
  trackId: string;
  participant: string;
  kind: "audio" | "video";
  packetsReceived: number;
  packetsLost: number;
  bytesReceived: number;
  framesDecoded?: number;
  frameWidth?: number;
  frameHeight?: number;
}

/** The candidate pair a peer connection uses (from getStats). */
export interface CandidatePairInfo {
  /** host, srflx, prflx or relay: the local candidate's type ("relay": through TURN). */
  localType: string;
  remoteType: string;
  /** udp or tcp, between the browser and the TURN server or the node. */
  protocol?: string;
  /** For a relay candidate: udp, tcp or tls to the TURN server. */
  relayProtocol?: string;
}

export interface CallStats {
  inbound: InboundTrackStats[];
  /** The candidate pairs in use on pub and sub. */
  transport?: { pub?: CandidatePairInfo; sub?: CandidatePairInfo };
  /** Round trip to the node in ms (pub's selected candidate pair), when known. */
  rttMs?: number;
  /** Bits/s the browser estimates it can send. */
  availableOutgoingBitrate?: number;
}

/** A subscription preference for one remote track. */
export interface SubscriptionPreference {
  quality?: "low" | "medium" | "high";
  paused: boolean;
}

export type DeviceKind = "audioinput" | "videoinput" | "audiooutput";

// ---------------------------------------------------------------- helpers

/** The candidate pair in use, from a peer connection's stats (the transport's selection, else the nominated pair). */
export function selectedPair(report: RTCStatsReport): CandidatePairInfo | undefined {
  const all = new Map<string, Record<string, unknown>>();
  report.forEach((s: Record<string, unknown>) => {
    if (typeof s["id"] === "string") all.set(s["id"], s);
  });
  let pair: Record<string, unknown> | undefined;
  for (const s of all.values()) {
    if (s["type"] === "transport" && typeof s["selectedCandidatePairId"] === "string") {
      pair = all.get(s["selectedCandidatePairId"]);
      if (pair) break;
    }
  }
  if (!pair) {
    for (const s of all.values()) {
      if (s["type"] === "candidate-pair" && (s["nominated"] === true || s["selected"] === true) && s["state"] === "succeeded") {
        pair = s;
        break;
      }
    }
  }
  if (!pair) return undefined;
  const local = all.get(String(pair["localCandidateId"]));
  const remote = all.get(String(pair["remoteCandidateId"]));
  if (!local) return undefined;
  const info: CandidatePairInfo = { localType: String(local["candidateType"] ?? ""), remoteType: String(remote?.["candidateType"] ?? "") };
  if (typeof local["protocol"] === "string") info.protocol = local["protocol"];
  if (typeof local["relayProtocol"] === "string") info.relayProtocol = local["relayProtocol"];
  return info;
}

interface Pending {
  resolve: (env: SignalEnvelope) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** One peer connection and its queue of early remote candidates. */
class Peer {
  hasRemote = false;
  private queued: RTCIceCandidateInit[] = [];
  /** One negotiation at a time. */
  chain: Promise<void> = Promise.resolve();

  constructor(
    readonly target: "pub" | "sub",
    readonly pc: PeerConnectionLike,
  ) {}

  async setRemote(desc: RTCSessionDescriptionInit): Promise<void> {
    await this.pc.setRemoteDescription(desc);
    this.hasRemote = true;
    const queued = this.queued;
    this.queued = [];
    for (const c of queued) await this.pc.addIceCandidate(c).catch(() => undefined);
  }

  addCandidate(c: RTCIceCandidateInit): void {
    if (!this.hasRemote) {
      this.queued.push(c);
      return;
    }
    void this.pc.addIceCandidate(c).catch(() => undefined);
  }

  /** Candidates waiting for the remote description (tests). */
  get queuedCount(): number {
    return this.queued.length;
  }
}

/** Only the contract's fields of a candidate (the node refuses unknown ones). */
export function candidateInit(c: RTCIceCandidate | RTCIceCandidateInit): RTCIceCandidateInit {
  const j = typeof (c as RTCIceCandidate).toJSON === "function" ? (c as RTCIceCandidate).toJSON() : c;
  const out: RTCIceCandidateInit = { candidate: j.candidate ?? "" };
  if (j.sdpMid !== undefined && j.sdpMid !== null) out.sdpMid = j.sdpMid;
  if (j.sdpMLineIndex !== undefined && j.sdpMLineIndex !== null) out.sdpMLineIndex = j.sdpMLineIndex;
  if (j.usernameFragment !== undefined && j.usernameFragment !== null) out.usernameFragment = j.usernameFragment;
  return out;
}

function sdpOf(d: RTCSessionDescriptionInit | null | undefined): { type: string; sdp: string } {
  return { type: d?.type ?? "", sdp: d?.sdp ?? "" };
}

/** The simulcast layers for a capture of width x height (quarter, half, full). */
export function simulcastLayers(width: number, height: number): Layer[] {
  const w = width > 0 ? width : 1280;
  const h = height > 0 ? height : 720;
  return [
    { rid: "q", width: Math.round(w / 4), height: Math.round(h / 4), bitrate: 150_000 },
    { rid: "h", width: Math.round(w / 2), height: Math.round(h / 2), bitrate: 500_000 },
    { rid: "f", width: w, height: h, bitrate: 1_500_000 },
  ];
}

function encodingsOf(layers: Layer[]): RTCRtpEncodingParameters[] {
  const full = layers.at(-1)?.width ?? 1;
  return layers.map((l) => ({
    rid: l.rid,
    maxBitrate: l.bitrate,
    scaleResolutionDownBy: l.width ? Math.max(1, full / l.width) : 1,
  }));
}

/** Loss and round trip to a quality word (the node's thresholds, roughly). */
export function qualityOf(loss: number, rttMs: number | undefined): NetworkQuality {
  if (loss >= 0.5) return "lost";
  if (loss >= 0.08 || (rttMs !== undefined && rttMs >= 500)) return "poor";
  if (loss >= 0.02 || (rttMs !== undefined && rttMs >= 250)) return "good";
  return "excellent";
}

/** What a media source the grant lets its holder publish (contract/grant Sources). */
export type MediaSource = "camera" | "microphone" | "screen";

/**
 * The sources a media grant allows, read from its claims (not verified:
 * the node does that; this only decides which buttons to offer). An audio
 * call's grant (audio_only) allows the microphone alone. Null when the
 * grant cannot be read.
 */
export function grantSources(grant: string): MediaSource[] | null {
  const part = grant.split(".")[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const bin = atob(b64);
    const claims: unknown = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
    if (typeof claims !== "object" || claims === null) return null;
    const c = claims as { sources?: unknown; audio_only?: unknown };
    if (!Array.isArray(c.sources)) return null;
    const all = c.sources.filter((x): x is MediaSource => x === "camera" || x === "microphone" || x === "screen");
    return c.audio_only === true ? all.filter((x) => x === "microphone") : all;
  } catch {
    return null;
  }
}

/** What the join answer says the grant allows; the grant's claims when it does not say. */
export function joinSources(join: JoinInfo): MediaSource[] | null {
  if (join.sources) return join.sources.filter((x): x is MediaSource => x === "camera" || x === "microphone" || x === "screen");
  return grantSources(join.grant);
}

/** The msid track id of each m-section of an SDP, by mid (the node names a track by its own id there). */
export function msidByMid(sdp: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const section of sdp.split(/\r?\n(?=m=)/)) {
    const mid = /^a=mid:(\S+)/m.exec(section)?.[1];
    const track = /^a=msid:\S+ (\S+)/m.exec(section)?.[1];
    if (mid && track) out.set(mid, track);
  }
  return out;
}

/** A MediaStream of these tracks (a stand-in where MediaStream does not exist: tests). */
function streamOf(tracks: MediaStreamTrack[]): MediaStream {
  if (typeof MediaStream !== "undefined") return new MediaStream(tracks);
  return {
    id: tracks.map((t) => t.id).join("+"),
    getTracks: () => tracks,
    getAudioTracks: () => tracks.filter((t) => t.kind === "audio"),
    getVideoTracks: () => tracks.filter((t) => t.kind === "video"),
  } as unknown as MediaStream;
}

/** Plays audio on a chosen output where the browser can (HTMLMediaElement.setSinkId). */
export async function applySink(el: HTMLMediaElement | null, deviceId: string | null): Promise<boolean> {
  const withSink = el as (HTMLMediaElement & { setSinkId?: (id: string) => Promise<void> }) | null;
  if (!withSink || typeof withSink.setSinkId !== "function" || deviceId === null) return false;
  try {
    await withSink.setSinkId(deviceId);
    return true;
  } catch {
    return false;
  }
}

/** Shows a stream in a media element (srcObject has no attribute form) and starts it. */
export function attachStream(el: HTMLMediaElement | null, stream: MediaStream | null): void {
  if (!el || el.srcObject === stream) return;
  try {
    el.srcObject = stream;
  } catch {
    return; // not a real MediaStream (tests)
  }
  if (stream) void el.play?.()?.catch(() => undefined);
}

/** True where audio output can be chosen. */
export function canChooseSpeaker(): boolean {
  return typeof globalThis.HTMLMediaElement !== "undefined" && "setSinkId" in HTMLMediaElement.prototype;
}

const VIDEO_CONSTRAINTS: MediaTrackConstraints = {
  width: { ideal: 1280 },
  height: { ideal: 720 },
  frameRate: { ideal: 30, max: 30 },
};

const AUDIO_CONSTRAINTS: MediaTrackConstraints = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

/** Screen capture: text stays sharp; few frames are enough. */
const SCREEN_OPTIONS: DisplayMediaStreamOptions = {
  video: { frameRate: { ideal: 15, max: 30 } },
  audio: false,
};
/** The screen share's one encoding (no simulcast: a document is read at full resolution or not at all). */
export const SCREEN_MAX_BITRATE = 2_500_000;

/** Local media as chosen: what to publish. */
interface LocalTrack {
  source: MediaSource;
  track: MediaStreamTrack;
  /** The node's track id, once published. */
  trackId?: string;
  transceiver?: RTCRtpTransceiver;
  layers?: Layer[];
}

// ---------------------------------------------------------------- the client

/** One participant's call. Create with the backend's join answer, start(), leave(). */
export class CallClient {
  private join: JoinInfo;
  private readonly opts: Required<
    Pick<
      CallOptions,
      | "requestTimeoutMs"
      | "reconnectForMs"
      | "backoffInitialMs"
      | "backoffMaxMs"
      | "iceRestartAfterMs"
      | "statsIntervalMs"
      | "now"
      | "simulcast"
      | "iceTransportPolicy"
    >
  >;
  private readonly createSocket: (url: string, protocols: string[]) => SocketLike;
  private readonly createPC: (config: RTCConfiguration) => PeerConnectionLike;
  private readonly media: MediaDevicesLike | null;
  private readonly refreshJoin: (() => Promise<JoinInfo>) | undefined;
  private readonly env: CallEnvironment | null;

  // signals
  private readonly stateSig = signal<CallState>("idle");
  private readonly endSig = signal<CallEndReason | null>(null);
  private readonly errorSig = signal<CallError | null>(null);
  private readonly selfSig = signal<ParticipantInfo | null>(null);
  private readonly remotesSig = signal<ReadonlyMap<string, RemoteParticipant>>(new Map());
  private readonly speakerSig = signal<string | null>(null);
  private readonly localStreamSig = signal<MediaStream | null>(null);
  private readonly micMutedSig = signal(false);
  private readonly cameraOffSig = signal(false);
  private readonly nodeQualitySig = signal<NetworkQuality>("unknown");
  private readonly statsQualitySig = signal<NetworkQuality>("unknown");
  private readonly mediaErrorSig = signal<string | null>(null);
  private readonly devicesSig = signal<MediaDeviceInfo[]>([]);
  private readonly micIdSig = signal<string | null>(null);
  private readonly cameraIdSig = signal<string | null>(null);
  private readonly speakerIdSig = signal<string | null>(null);
  private readonly iceTroubleSig = signal(false);
  private readonly sourcesSig = signal<MediaSource[] | null>(null);
  private readonly screenSharingSig = signal(false);
  private readonly screenErrorSig = signal<string | null>(null);

  /** Where the call is ("reconnecting" also while ICE is down). */
  readonly state: ReadonlySignal<CallState> = computed(() =>
    this.stateSig.value === "connected" && this.iceTroubleSig.value ? "reconnecting" : this.stateSig.value,
  );
  /** Set once ended, with why. */
  readonly ended: ReadonlySignal<CallEndReason | null> = this.endSig;
  /** The last error the node (or the client) reported; the call may go on. */
  readonly error: ReadonlySignal<CallError | null> = this.errorSig;
  /** This participant as the node knows it. */
  readonly self: ReadonlySignal<ParticipantInfo | null> = this.selfSig;
  /** The others, by id. */
  readonly participants: ReadonlySignal<ReadonlyMap<string, RemoteParticipant>> = this.remotesSig;
  /** The loudest remote (or local) speaker's participant id. */
  readonly activeSpeaker: ReadonlySignal<string | null> = this.speakerSig;
  /** The microphone and camera as captured (the self view). */
  readonly localStream: ReadonlySignal<MediaStream | null> = this.localStreamSig;
  readonly micMuted: ReadonlySignal<boolean> = this.micMutedSig;
  readonly cameraOff: ReadonlySignal<boolean> = this.cameraOffSig;
  /** Why local media is missing or partial ("camera_refused", "microphone_refused", "no_devices"). */
  readonly mediaError: ReadonlySignal<string | null> = this.mediaErrorSig;
  readonly devices: ReadonlySignal<MediaDeviceInfo[]> = this.devicesSig;
  readonly microphoneId: ReadonlySignal<string | null> = this.micIdSig;
  readonly cameraId: ReadonlySignal<string | null> = this.cameraIdSig;
  /** The chosen audio output (apply it to media elements with applySink). */
  readonly speakerId: ReadonlySignal<string | null> = this.speakerIdSig;
  /**
   * A screen share may be offered: a video call whose grant allows the
   * "screen" source (doctors, by default) in a browser that can capture
   * the screen (not phones).
   */
  readonly canShareScreen: ReadonlySignal<boolean> = computed(
    () =>
      this.join.kind === "video" &&
      (this.sourcesSig.value?.includes("screen") ?? false) &&
      typeof this.media?.getDisplayMedia === "function",
  );
  /** This participant is sharing their screen. */
  readonly screenSharing: ReadonlySignal<boolean> = this.screenSharingSig;
  /** Why the last screen share did not start: "screen_failed" (capture), "screen_refused" (the node). */
  readonly screenError: ReadonlySignal<string | null> = this.screenErrorSig;
  /** This side's network quality: the node's report when it sends one, else from stats. */
  readonly quality: ReadonlySignal<NetworkQuality> = computed(() =>
    this.nodeQualitySig.value !== "unknown" ? this.nodeQualitySig.value : this.statsQualitySig.value,
  );
  /** The call's kind (an audio call publishes the microphone only). */
  get kind(): CallKind {
    return this.join.kind;
  }
  get room(): string {
    return this.join.room;
  }

  private ws: SocketLike | null = null;
  private pub: Peer | null = null;
  private sub: Peer | null = null;
  private nextId = 0;
  private readonly pending = new Map<string, Pending>();
  private local: LocalTrack[] = [];
  private graceSeconds = 0;
  private droppedAt: number | null = null;
  private reconnecting: Promise<void> | null = null;
  private needFreshJoin = false;
  private iceTimer: ReturnType<typeof setTimeout> | null = null;
  private statsTimer: ReturnType<typeof setInterval> | null = null;
  private readonly prefs = new Map<string, SubscriptionPreference>();
  private autoPaused = false;
  private lowQuality = false;
  /** Received tracks per participant, by the node's track id (else the browser's). */
  private readonly remoteMedia = new Map<string, Map<string, MediaStreamTrack>>();
  /** The streams built from them, kept while their tracks stay the same (a new srcObject restarts a video). */
  private readonly streamCache = new Map<string, { camera: string; cameraStream: MediaStream | null; screen: string; screenStream: MediaStream | null }>();
  /** The node's track id of each m-section of the sub connection, by mid. */
  private subTrackIds = new Map<string, string>();
  /** Screen shares stopped while disconnected: unpublished once back. */
  private unpublishOnResume: string[] = [];
  private screenBusy = false;
  private listening = false;
  private generation = 0;

  constructor(join: JoinInfo, options: CallOptions = {}) {
    this.join = join;
    this.opts = {
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      reconnectForMs: options.reconnectForMs ?? 5 * 60_000,
      backoffInitialMs: options.backoffInitialMs ?? 500,
      backoffMaxMs: options.backoffMaxMs ?? 5_000,
      iceRestartAfterMs: options.iceRestartAfterMs ?? 2_500,
      statsIntervalMs: options.statsIntervalMs ?? 2_000,
      now: options.now ?? Date.now,
      simulcast: options.simulcast ?? true,
      iceTransportPolicy: options.iceTransportPolicy ?? storedIcePolicy(),
    };
    this.createSocket = options.createSocket ?? ((url, protocols) => new WebSocket(url, protocols));
    this.createPC =
      options.createPeerConnection ?? ((config) => new RTCPeerConnection(config) as unknown as PeerConnectionLike);
    this.media = options.mediaDevices === undefined ? (globalThis.navigator?.mediaDevices ?? null) : options.mediaDevices;
    this.refreshJoin = options.refreshJoin;
    this.env = options.environment === undefined ? (globalThis.window ?? null) : options.environment;
    this.sourcesSig.value = joinSources(join);
  }

  // ------------------------------------------------------------ public API

  /**
   * Gets the local media (or takes the pre-call check's stream), joins and
   * publishes. Resolves once joined and published; rejects (and ends the
   * call with "error") when the node refuses.
   */
  async start(stream?: MediaStream | null): Promise<void> {
    if (this.stateSig.value !== "idle") return;
    this.stateSig.value = "connecting";
    this.listen(true);
    if (stream) this.useStream(stream);
    else await this.acquireMedia();
    void this.refreshDevices();
    try {
      await this.session(false);
    } catch (err) {
      const e = this.asCallError(err);
      if (FATAL.has(e.code) || (!this.refreshJoin && NEEDS_FRESH_JOIN.has(e.code))) {
        this.finish(e.code === "room_ended" || e.code === "removed" ? e.code : "error", e);
        throw e;
      }
      // A socket that would not open or a grant that expired: try again like a drop.
      this.needFreshJoin = NEEDS_FRESH_JOIN.has(e.code) || e.code === "socket";
      void this.recover();
      return;
    }
    this.startStats();
  }

  /** Leaves the call: tells the node, closes everything, releases the camera and microphone. */
  leave(): void {
    if (this.endSig.value) return;
    this.send("leave", { reason: "client_left" });
    this.finish("left");
  }

  /** Mutes or unmutes the microphone (track.enabled and the node's mute). */
  setMicMuted(muted: boolean): void {
    const mic = this.localOf("microphone");
    this.micMutedSig.value = muted;
    if (!mic) return;
    mic.track.enabled = !muted;
    if (mic.trackId) this.send("mute", { track_id: mic.trackId, muted });
  }

  /**
   * Turns the camera off (the track is stopped, so the camera's light goes
   * out) or back on (captured again and swapped in without renegotiating).
   */
  async setCameraOff(off: boolean): Promise<void> {
    const cam = this.localOf("camera");
    if (!cam) return;
    this.cameraOffSig.value = off;
    if (off) {
      cam.track.enabled = false;
      if (cam.trackId) this.send("mute", { track_id: cam.trackId, muted: true });
      await cam.transceiver?.sender.replaceTrack(null).catch(() => undefined);
      cam.track.stop();
      this.refreshLocalStream();
      return;
    }
    const track = await this.captureVideo(this.cameraIdSig.value);
    if (!track) {
      this.cameraOffSig.value = true;
      return;
    }
    if (!cam.transceiver && this.pub && this.ws) {
      // Published again (after a resume while the camera was off).
      cam.track = track;
      this.refreshLocalStream();
      const gen = this.generation;
      this.addTransceiver(this.pub, cam);
      await this.announce(cam, gen).catch(() => undefined);
      await this.negotiate(false).catch(() => undefined);
      return;
    }
    await this.swapCamera(cam, track);
    if (cam.trackId) this.send("mute", { track_id: cam.trackId, muted: false });
  }

  /**
   * Shares a screen, window or tab (the browser asks which) as its own
   * track, source "screen". Resolves true once shared (published, or to be
   * published when the connection is back); false when the user cancelled,
   * the grant does not allow it or the node refused.
   */
  async startScreenShare(): Promise<boolean> {
    if (!this.canShareScreen.value || this.screenSharingSig.value || this.screenBusy || this.endSig.value) return false;
    const media = this.media;
    if (!media?.getDisplayMedia) return false;
    this.screenBusy = true;
    try {
      let track: MediaStreamTrack | undefined;
      try {
        const s = await media.getDisplayMedia(SCREEN_OPTIONS);
        track = s.getVideoTracks()[0];
        for (const other of s.getTracks()) if (other !== track) other.stop();
      } catch (err) {
        // The user cancelled the browser's picker (NotAllowedError): nothing to say.
        const name = (err as { name?: unknown } | null)?.name;
        if (name !== "NotAllowedError" && name !== "AbortError") {
          this.screenErrorSig.value = "screen_failed";
        }
        return false;
      }
      if (!track) return false;
      if (this.endSig.value) {
        track.stop();
        return false;
      }
      try {
        track.contentHint = "detail";
      } catch {
        // Not supported: the browser's default.
      }
      const l: LocalTrack = { source: "screen", track };
      // The browser's own "Stop sharing" (or the shared window closing) ends the track.
      track.onended = () => void this.stopScreenShare();
      this.local.push(l);
      this.screenSharingSig.value = true;
      this.screenErrorSig.value = null;
      const pub = this.pub;
      if (!pub || !this.ws || this.stateSig.value !== "connected") return true; // published with the rest once back
      const gen = this.generation;
      this.addTransceiver(pub, l);
      try {
        await this.announce(l, gen);
      } catch (err) {
        // source_not_allowed, or the connection dropped (then it is published on resume).
        if (this.asCallError(err).code === "socket" || gen !== this.generation) return this.local.includes(l);
        await this.dropScreen(l);
        this.screenErrorSig.value = "screen_refused";
        return false;
      }
      if (!this.local.includes(l)) {
        // Stopped while the node acknowledged it.
        if (l.trackId) this.send("unpublish", { track_id: l.trackId });
        return false;
      }
      await this.negotiate(false).catch(() => undefined);
      return true;
    } finally {
      this.screenBusy = false;
    }
  }

  /** Stops the screen share: unpublish, and the browser's capture ends. */
  async stopScreenShare(): Promise<void> {
    const l = this.localOf("screen");
    if (!l) return;
    if (l.trackId && !this.send("unpublish", { track_id: l.trackId })) this.unpublishOnResume.push(l.trackId);
    await this.dropScreen(l);
  }

  /** Forgets a local screen track: stops it and retires its transceiver (renegotiating pub). */
  private async dropScreen(l: LocalTrack): Promise<void> {
    this.local = this.local.filter((x) => x !== l);
    this.screenSharingSig.value = false;
    l.track.onended = null;
    l.track.stop();
    const tr = l.transceiver;
    l.transceiver = undefined;
    if (!tr || !this.pub || !this.ws) return;
    await tr.sender.replaceTrack(null).catch(() => undefined);
    try {
      tr.direction = "inactive";
    } catch {
      // A transceiver of a closed connection.
    }
    await this.negotiate(false).catch(() => undefined);
  }

  /** Switches to the next camera (front/back on a phone). */
  async switchCamera(): Promise<void> {
    await this.refreshDevices();
    const cams = this.devicesSig.value.filter((d) => d.kind === "videoinput");
    if (cams.length < 2) return;
    const current = this.cameraIdSig.value ?? this.localOf("camera")?.track.getSettings().deviceId ?? null;
    const i = cams.findIndex((d) => d.deviceId === current);
    const next = cams[(i + 1) % cams.length];
    if (next) await this.selectDevice("videoinput", next.deviceId);
  }

  /** Chooses an input or output device. Inputs are captured again and swapped in. */
  async selectDevice(kind: DeviceKind, deviceId: string): Promise<void> {
    if (kind === "audiooutput") {
      this.speakerIdSig.value = deviceId;
      return;
    }
    if (kind === "videoinput") {
      this.cameraIdSig.value = deviceId;
      const cam = this.localOf("camera");
      if (!cam || this.cameraOffSig.value) return;
      const track = await this.captureVideo(deviceId);
      if (track) await this.swapCamera(cam, track);
      return;
    }
    this.micIdSig.value = deviceId;
    const mic = this.localOf("microphone");
    if (!mic || !this.media) return;
    try {
      const s = await this.media.getUserMedia({ audio: { ...AUDIO_CONSTRAINTS, deviceId: { exact: deviceId } } });
      const track = s.getAudioTracks()[0];
      if (!track) return;
      track.enabled = !this.micMutedSig.value;
      await mic.transceiver?.sender.replaceTrack(track);
      mic.track.stop();
      mic.track = track;
      this.refreshLocalStream();
    } catch {
      this.mediaErrorSig.value = "microphone_refused";
    }
  }

  /** Lists the devices (labels once a permission was given). */
  async refreshDevices(): Promise<MediaDeviceInfo[]> {
    if (!this.media) return [];
    try {
      const list = await this.media.enumerateDevices();
      this.devicesSig.value = list;
      return list;
    } catch {
      return [];
    }
  }

  /** Sets a preference for one remote track (quality cap, or paused). */
  setSubscription(trackId: string, pref: SubscriptionPreference): void {
    this.prefs.set(trackId, pref);
    this.sendSubscription(trackId);
  }

  /** Receive counters per remote track, from the sub connection's stats. */
  async stats(): Promise<CallStats> {
    const out: CallStats = { inbound: [] };
    const sub = this.sub?.pc;
    if (sub) {
      const report = await sub.getStats();
      const pair = selectedPair(report);
      if (pair) out.transport = { ...out.transport, sub: pair };
      report.forEach((s: Record<string, unknown>) => {
        if (s["type"] !== "inbound-rtp") return;
        const kind = (s["kind"] ?? s["mediaType"]) === "video" ? "video" : "audio";
        const ident = this.identifyInbound(s, kind);
        const item: InboundTrackStats = {
          trackId: ident.trackId,
          participant: ident.participant,
          kind,
          packetsReceived: Number(s["packetsReceived"] ?? 0),
          packetsLost: Number(s["packetsLost"] ?? 0),
          bytesReceived: Number(s["bytesReceived"] ?? 0),
        };
        if (kind === "video") {
          item.framesDecoded = Number(s["framesDecoded"] ?? 0);
          if (typeof s["frameWidth"] === "number") item.frameWidth = s["frameWidth"];
          if (typeof s["frameHeight"] === "number") item.frameHeight = s["frameHeight"];
        }
        out.inbound.push(item);
      });
    }
    const pub = this.pub?.pc;
    if (pub) {
      const report = await pub.getStats();
      const pair = selectedPair(report);
      if (pair) out.transport = { ...out.transport, pub: pair };
      report.forEach((s: Record<string, unknown>) => {
        if (s["type"] === "candidate-pair" && (s["nominated"] === true || s["selected"] === true) && s["state"] === "succeeded") {
          const rtt = s["currentRoundTripTime"];
          if (typeof rtt === "number") out.rttMs = Math.round(rtt * 1000);
          const bw = s["availableOutgoingBitrate"];
          if (typeof bw === "number") out.availableOutgoingBitrate = bw;
        }
      });
    }
    return out;
  }

  // ------------------------------------------------------------ local media

  private localOf(source: LocalTrack["source"]): LocalTrack | undefined {
    return this.local.find((l) => l.source === source);
  }

  private useStream(stream: MediaStream): void {
    const audio = stream.getAudioTracks()[0];
    const video = this.join.kind === "video" ? stream.getVideoTracks()[0] : undefined;
    if (this.join.kind !== "video") for (const v of stream.getVideoTracks()) v.stop();
    this.local = [];
    if (audio) this.local.push({ source: "microphone", track: audio });
    if (video) this.local.push({ source: "camera", track: video });
    if (audio) this.micIdSig.value = audio.getSettings().deviceId ?? null;
    if (video) this.cameraIdSig.value = video.getSettings().deviceId ?? null;
    if (!video && this.join.kind === "video") this.cameraOffSig.value = true;
    this.refreshLocalStream();
  }

  /** Camera and microphone; the microphone alone when the camera is refused or missing. */
  private async acquireMedia(): Promise<void> {
    if (!this.media) {
      this.mediaErrorSig.value = "no_devices";
      return;
    }
    const wantVideo = this.join.kind === "video";
    try {
      const s = await this.media.getUserMedia({ audio: AUDIO_CONSTRAINTS, video: wantVideo ? VIDEO_CONSTRAINTS : false });
      this.useStream(s);
      return;
    } catch {
      // Try with less below.
    }
    if (wantVideo) {
      try {
        const s = await this.media.getUserMedia({ audio: AUDIO_CONSTRAINTS });
        this.mediaErrorSig.value = "camera_refused";
        this.useStream(s);
        return;
      } catch {
        // Neither: receive only.
      }
    }
    this.mediaErrorSig.value = "microphone_refused";
    this.useStream(new MediaStreamShim().stream);
  }

  private async captureVideo(deviceId: string | null): Promise<MediaStreamTrack | null> {
    if (!this.media) return null;
    try {
      const video: MediaTrackConstraints = deviceId ? { ...VIDEO_CONSTRAINTS, deviceId: { exact: deviceId } } : VIDEO_CONSTRAINTS;
      const s = await this.media.getUserMedia({ video });
      const track = s.getVideoTracks()[0] ?? null;
      if (track && !deviceId) this.cameraIdSig.value = track.getSettings().deviceId ?? null;
      return track;
    } catch {
      this.mediaErrorSig.value = "camera_refused";
      return null;
    }
  }

  private async swapCamera(cam: LocalTrack, track: MediaStreamTrack): Promise<void> {
    const old = cam.track;
    await cam.transceiver?.sender.replaceTrack(track).catch(() => undefined);
    cam.track = track;
    if (old !== track) old.stop();
    this.refreshLocalStream();
  }

  /** The self view: the microphone and the camera (not the screen share). */
  private refreshLocalStream(): void {
    const tracks = this.local.filter((l) => l.source !== "screen").map((l) => l.track).filter((t) => t.readyState !== "ended");
    this.localStreamSig.value = tracks.length > 0 && typeof MediaStream !== "undefined" ? new MediaStream(tracks) : null;
  }

  private releaseMedia(): void {
    for (const l of this.local) {
      l.track.onended = null;
      l.track.stop();
    }
    this.local = this.local.filter((l) => l.source !== "screen");
    this.screenSharingSig.value = false;
    this.localStreamSig.value = null;
  }

  // ------------------------------------------------------------ session

  private rtcConfig(): RTCConfiguration {
    const relay = this.opts.iceTransportPolicy === "relay";
    let servers = this.join.ice_servers;
    if (relay) {
      // Only TURN over TLS: what goes through a network that lets 443 alone out.
      const tls = servers
        .map((s) => ({ ...s, urls: s.urls.filter((u) => u.startsWith("turns:")) }))
        .filter((s) => s.urls.length > 0);
      if (tls.length > 0) servers = tls;
    }
    const config: RTCConfiguration = {
      iceServers: servers.map((s) => {
        const server: RTCIceServer = { urls: s.urls };
        if (s.username !== undefined) server.username = s.username;
        if (s.credential !== undefined) server.credential = s.credential;
        return server;
      }),
      bundlePolicy: "max-bundle",
    };
    if (relay) config.iceTransportPolicy = "relay";
    return config;
  }

  /** Opens a socket, joins (resuming or not), sets up both peer connections and publishes. */
  private async session(resume: boolean): Promise<void> {
    const gen = ++this.generation;
    this.teardownTransport();
    this.subTrackIds = new Map();
    const pub = new Peer("pub", this.createPC(this.rtcConfig()));
    const sub = new Peer("sub", this.createPC(this.rtcConfig()));
    this.pub = pub;
    this.sub = sub;
    this.wirePeer(pub, gen);
    this.wirePeer(sub, gen);
    sub.pc.ontrack = (ev) => {
      if (gen === this.generation) this.onRemoteTrack(ev);
    };

    await this.openSocket(gen);
    const reply = await this.request("join", resume ? { room: this.join.room, resume: true } : { room: this.join.room });
    if (reply.type !== "joined") throw new CallError("bad_message", `join answered with ${reply.type}`);
    this.onJoined(reply.data as Joined);
    this.droppedAt = null;
    this.stateSig.value = "connected";
    // A screen share stopped while disconnected: the node kept its place on resume.
    const stale = this.unpublishOnResume;
    this.unpublishOnResume = [];
    if (resume) for (const id of stale) this.send("unpublish", { track_id: id });
    await this.publishAll(gen);
    // State what this page wants for every remote video, not only what it
    // changed: the node may hold this identity's earlier session (a tab that
    // was closed went hidden first, and paused its remote video).
    this.resendVideoSubscriptions();
    const videos = new Set([...this.remotesSig.value.values()].flatMap((p) => p.tracks.filter((t) => t.kind === "video").map((t) => t.id)));
    for (const id of this.prefs.keys()) if (!videos.has(id)) this.sendSubscription(id);
  }

  private openSocket(gen: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let ws: SocketLike;
      try {
        ws = this.createSocket(this.join.signal_url, [SIGNAL_SUBPROTOCOL, GRANT_SUBPROTOCOL_PREFIX + this.join.grant]);
      } catch (err) {
        reject(new CallError("socket", `signalling socket: ${String(err)}`));
        return;
      }
      this.ws = ws;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        resolve();
      };
      ws.onmessage = (ev) => {
        if (ws === this.ws && gen === this.generation) this.onMessage(ev.data);
      };
      ws.onerror = () => undefined;
      ws.onclose = (ev) => {
        if (ws !== this.ws) return;
        this.ws = null;
        this.failPending(new CallError("socket", `signalling socket closed (${ev.code})`));
        if (!opened) {
          reject(new CallError("socket", `signalling socket refused (${ev.code})`));
          return;
        }
        this.onSocketLost();
      };
    });
  }

  private wirePeer(peer: Peer, gen: number): void {
    peer.pc.onicecandidate = (ev) => {
      if (gen !== this.generation || !ev.candidate) return;
      this.send("trickle", { target: peer.target, candidate: candidateInit(ev.candidate) });
    };
    peer.pc.oniceconnectionstatechange = () => {
      if (gen === this.generation) this.onIceState();
    };
  }

  private onJoined(j: Joined): void {
    this.graceSeconds = j.grace_seconds;
    batch(() => {
      this.selfSig.value = j.self;
      const map = new Map<string, RemoteParticipant>();
      for (const p of j.participants) map.set(p.id, this.remoteOf(p, this.remotesSig.value.get(p.id)));
      this.remotesSig.value = map;
    });
  }

  /** Announces each local track, waits for the acks, then offers pub once. */
  private async publishAll(gen: number): Promise<void> {
    const pub = this.pub;
    if (!pub) return;
    // A camera turned off was stopped: it is published again when turned on.
    const ready = this.local.filter((l) => l.track.readyState !== "ended");
    for (const l of ready) this.addTransceiver(pub, l);
    for (const l of ready) await this.announce(l, gen);
    if (gen === this.generation && ready.length > 0) await this.negotiate(false);
  }

  /** publish {cid, kind, source, muted?, layers?}, and keep the node's track id from published. */
  private async announce(l: LocalTrack, gen: number): Promise<void> {
    const muted = l.source === "microphone" ? this.micMutedSig.value : false;
    const msg: Record<string, unknown> = {
      cid: l.track.id,
      kind: l.source === "microphone" ? "audio" : "video",
      source: l.source,
    };
    if (muted) msg["muted"] = true;
    if (l.layers && l.layers.length > 0) msg["layers"] = l.layers;
    const reply = await this.request("publish", msg);
    if (gen !== this.generation) return;
    const ack = reply.data as { cid: string; track: TrackInfo };
    l.trackId = ack.track.id;
  }

  private addTransceiver(pub: Peer, l: LocalTrack): void {
    const streams = typeof MediaStream !== "undefined" ? [new MediaStream([l.track])] : [];
    if (l.source === "screen") {
      // One encoding, sized as captured: simulcast would only blur the text.
      l.transceiver = pub.pc.addTransceiver(l.track, { direction: "sendonly", streams, sendEncodings: [{ maxBitrate: SCREEN_MAX_BITRATE }] });
      l.layers = undefined;
      return;
    }
    if (l.source === "camera" && this.opts.simulcast) {
      const s = l.track.getSettings();
      const layers = simulcastLayers(s.width ?? 0, s.height ?? 0);
      try {
        const tr = pub.pc.addTransceiver(l.track, { direction: "sendonly", streams, sendEncodings: encodingsOf(layers) });
        const n = tr.sender.getParameters?.().encodings?.length ?? layers.length;
        l.transceiver = tr;
        l.layers = n >= layers.length ? layers : undefined;
        return;
      } catch {
        // The browser refuses simulcast: one encoding below.
      }
    }
    l.transceiver = pub.pc.addTransceiver(l.track, { direction: "sendonly", streams });
    l.layers = undefined;
  }

  /** One offer/answer on pub (ICE restart when asked). */
  private negotiate(iceRestart: boolean): Promise<void> {
    const pub = this.pub;
    if (!pub) return Promise.resolve();
    const run = async () => {
      if (pub !== this.pub) return;
      const offer = await pub.pc.createOffer(iceRestart ? { iceRestart: true } : undefined);
      await pub.pc.setLocalDescription(offer);
      const reply = await this.request("offer", { target: "pub", sdp: sdpOf(pub.pc.localDescription ?? offer) });
      if (reply.type !== "answer") throw new CallError("bad_message", `offer answered with ${reply.type}`);
      const ans = reply.data as { target: string; sdp: RTCSessionDescriptionInit };
      if (pub !== this.pub) return;
      await pub.setRemote({ type: "answer", sdp: ans.sdp.sdp ?? "" });
    };
    const p = pub.chain.then(run, run);
    pub.chain = p.catch(() => undefined);
    return p;
  }

  /** The node's (re)offer of sub. */
  private onSubOffer(sdp: RTCSessionDescriptionInit): void {
    const sub = this.sub;
    if (!sub) return;
    const run = async () => {
      if (sub !== this.sub) return;
      // Before the description: its track events come while it is applied.
      this.subTrackIds = msidByMid(sdp.sdp ?? "");
      await sub.setRemote({ type: "offer", sdp: sdp.sdp ?? "" });
      const answer = await sub.pc.createAnswer();
      await sub.pc.setLocalDescription(answer);
      this.send("answer", { target: "sub", sdp: sdpOf(sub.pc.localDescription ?? answer) });
    };
    sub.chain = sub.chain.then(run, run).catch((err: unknown) => {
      this.errorSig.value = new CallError("internal", `answer the node's offer: ${String(err)}`);
    });
  }

  // ------------------------------------------------------------ messages

  private send(type: string, data?: unknown, id?: string): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return false;
    const env: SignalEnvelope = { type };
    if (id !== undefined) env.id = id;
    if (data !== undefined) env.data = data;
    ws.send(JSON.stringify(env));
    return true;
  }

  private request(type: string, data: unknown): Promise<SignalEnvelope> {
    const id = String(++this.nextId);
    return new Promise<SignalEnvelope>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new CallError("timeout", `${type}: no answer in ${this.opts.requestTimeoutMs} ms`));
      }, this.opts.requestTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      if (!this.send(type, data, id)) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new CallError("socket", `${type}: not connected`));
      }
    });
  }

  private failPending(err: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(err);
    }
  }

  private onMessage(raw: unknown): void {
    if (typeof raw !== "string") return;
    let env: SignalEnvelope;
    try {
      const v: unknown = JSON.parse(raw);
      if (typeof v !== "object" || v === null || typeof (v as SignalEnvelope).type !== "string") return;
      env = v as SignalEnvelope;
    } catch {
      return;
    }
    if (env.id !== undefined && env.id !== "") {
      const p = this.pending.get(env.id);
      if (p) {
        this.pending.delete(env.id);
        clearTimeout(p.timer);
        if (env.type === "error") {
          const e = (env.data ?? {}) as { code?: string; message?: string };
          const err = new CallError(e.code ?? "internal", e.message ?? "refused");
          this.errorSig.value = err;
          p.reject(err);
        } else {
          p.resolve(env);
        }
        return;
      }
    }
    this.dispatch(env);
  }

  private dispatch(env: SignalEnvelope): void {
    const d = (env.data ?? {}) as Record<string, unknown>;
    switch (env.type) {
      case "offer": {
        const m = d as { target?: string; sdp?: RTCSessionDescriptionInit };
        if (m.target === "sub" && m.sdp) this.onSubOffer(m.sdp);
        return;
      }
      case "trickle": {
        const m = d as { target?: string; candidate?: RTCIceCandidateInit | null };
        if (!m.candidate) return;
        const peer = m.target === "sub" ? this.sub : this.pub;
        peer?.addCandidate(m.candidate);
        return;
      }
      case "participant_joined":
      case "participant_updated": {
        const p = d as unknown as ParticipantInfo;
        if (p.id === this.selfSig.value?.id) return;
        this.updateRemotes((m) => m.set(p.id, this.remoteOf(p, m.get(p.id))));
        return;
      }
      case "participant_left": {
        const id = String(d["id"] ?? "");
        this.remoteMedia.delete(id);
        this.streamCache.delete(id);
        this.updateRemotes((m) => m.delete(id));
        if (this.speakerSig.value === id) this.speakerSig.value = null;
        return;
      }
      case "track_published": {
        const t = d as unknown as TrackInfo;
        this.updateRemotes((m) => {
          const p = m.get(t.participant);
          if (!p) return;
          const tracks = [...p.tracks.filter((x) => x.id !== t.id), t];
          m.set(p.id, this.remoteOf({ ...p, tracks }, p));
        });
        this.sendSubscription(t.id);
        return;
      }
      case "track_unpublished": {
        const id = String(d["id"] ?? "");
        const who = String(d["participant"] ?? "");
        this.remoteMedia.get(who)?.delete(id);
        this.updateRemotes((m) => {
          const p = m.get(who);
          if (p) m.set(p.id, this.remoteOf({ ...p, tracks: p.tracks.filter((x) => x.id !== id) }, p));
        });
        return;
      }
      case "speakers": {
        const list = (d["speakers"] ?? []) as Array<{ participant: string; level: number }>;
        const top = list.find((s) => s.level > 0);
        this.speakerSig.value = top ? top.participant : null;
        return;
      }
      case "quality": {
        const q = d as { participant?: string; quality?: NetworkQuality };
        const quality = q.quality ?? "unknown";
        if (q.participant === this.selfSig.value?.id) {
          this.nodeQualitySig.value = quality;
          this.adaptToQuality();
        } else if (q.participant) {
          this.updateRemotes((m) => {
            const p = m.get(q.participant ?? "");
            if (p) m.set(p.id, { ...p, quality });
          });
        }
        return;
      }
      case "leave": {
        const reason = String(d["reason"] ?? "");
        if (reason === "node_shutdown") {
          // The node is going away: the backend places the call elsewhere.
          this.needFreshJoin = true;
          this.dropSocket();
          return;
        }
        const end: CallEndReason =
          reason === "removed" || reason === "room_ended" || reason === "duplicate_identity" ? reason : "room_ended";
        this.finish(end);
        return;
      }
      case "error": {
        const code = String(d["code"] ?? "internal");
        const err = new CallError(code, String(d["message"] ?? code));
        this.errorSig.value = err;
        if (FATAL.has(code)) this.finish(code === "removed" || code === "room_ended" ? code : "error", err);
        return;
      }
      default:
        return;
    }
  }

  private updateRemotes(change: (m: Map<string, RemoteParticipant>) => void): void {
    const m = new Map(this.remotesSig.value);
    change(m);
    this.remotesSig.value = m;
  }

  private remoteOf(p: ParticipantInfo | RemoteParticipant, prev?: RemoteParticipant): RemoteParticipant {
    const tracks = p.tracks ?? [];
    const audio = tracks.find((t) => t.kind === "audio");
    const video = tracks.find((t) => t.source === "camera") ?? tracks.find((t) => t.kind === "video" && t.source !== "screen");
    const screen = tracks.find((t) => t.source === "screen");
    const media = this.streamsOf(p.id, tracks);
    return {
      id: p.id,
      name: p.name,
      role: p.role,
      state: p.state,
      tracks,
      stream: media.stream,
      audioMuted: audio ? audio.muted : true,
      videoMuted: video ? video.muted : true,
      hasVideo: video !== undefined,
      quality: prev?.quality ?? "unknown",
      hasScreen: screen !== undefined && !screen.muted,
      screen: media.screen,
    };
  }

  /**
   * A participant's received tracks as two streams: microphone and camera
   * (the latest of each kind), and the screen share. The same tracks give
   * the same MediaStream objects (a new srcObject would restart a video).
   */
  private streamsOf(id: string, tracks: TrackInfo[]): { stream: MediaStream | null; screen: MediaStream | null } {
    let audio: MediaStreamTrack | undefined;
    let video: MediaStreamTrack | undefined;
    let screen: MediaStreamTrack | undefined;
    for (const [key, track] of this.remoteMedia.get(id) ?? []) {
      if (track.readyState === "ended") continue;
      if (tracks.find((t) => t.id === key)?.source === "screen") screen = track;
      else if (track.kind === "audio") audio = track;
      else video = track;
    }
    const cam = [audio, video].filter((t): t is MediaStreamTrack => t !== undefined);
    const camKey = cam.map((t) => t.id).join(" ");
    const screenKey = screen?.id ?? "";
    const prev = this.streamCache.get(id);
    const next = {
      camera: camKey,
      cameraStream: prev && prev.camera === camKey ? prev.cameraStream : cam.length > 0 ? streamOf(cam) : null,
      screen: screenKey,
      screenStream: prev && prev.screen === screenKey ? prev.screenStream : screen ? streamOf([screen]) : null,
    };
    this.streamCache.set(id, next);
    return { stream: next.cameraStream, screen: next.screenStream };
  }

  private onRemoteTrack(ev: RTCTrackEvent): void {
    // The node's stream id is the participant's id; its track id, in the msid of the track's m-section.
    const participant = ev.streams[0]?.id ?? "";
    const track = ev.track;
    const mid = ev.transceiver?.mid ?? null;
    const key = (mid !== null ? this.subTrackIds.get(mid) : undefined) ?? track.id;
    let media = this.remoteMedia.get(participant);
    if (!media) this.remoteMedia.set(participant, (media = new Map()));
    media.delete(key); // the latest last
    media.set(key, track);
    const refresh = () =>
      this.updateRemotes((m) => {
        const prev = m.get(participant);
        m.set(participant, this.remoteOf(prev ?? { id: participant, name: "", role: "", state: "active", tracks: [] }, prev));
      });
    refresh();
    track.onended = () => {
      const held = this.remoteMedia.get(participant);
      if (held?.get(key) !== track) return;
      held.delete(key);
      if (!this.endSig.value) refresh();
    };
  }

  /** Maps an inbound-rtp stat to the node's track id and its participant. */
  private identifyInbound(
    s: Record<string, unknown>,
    kind: "audio" | "video",
  ): { trackId: string; participant: string } {
    const trackIdentifier = typeof s["trackIdentifier"] === "string" ? s["trackIdentifier"] : undefined;
    for (const p of this.remotesSig.value.values()) {
      for (const t of p.tracks) {
        if (trackIdentifier !== undefined && t.id === trackIdentifier) return { trackId: t.id, participant: p.id };
      }
    }
    // Browsers that name remote tracks themselves: the participant who sent it, by the sub offer's msid.
    for (const [participant, media] of this.remoteMedia) {
      for (const [key, track] of media) {
        if (track.id !== trackIdentifier) continue;
        const known = this.remotesSig.value.get(participant)?.tracks ?? [];
        const info = known.find((t) => t.id === key) ?? known.find((t) => t.kind === kind && t.source !== "screen");
        return { trackId: info?.id ?? key, participant };
      }
    }
    return { trackId: trackIdentifier ?? String(s["id"] ?? ""), participant: "" };
  }

  // ------------------------------------------------------------ subscriptions and quality

  private sendSubscription(trackId: string): void {
    const explicit = this.prefs.get(trackId);
    const isVideo = [...this.remotesSig.value.values()].some((p) => p.tracks.some((t) => t.id === trackId && t.kind === "video"));
    if (!explicit && !isVideo) return;
    if (!explicit && !this.autoPaused && !this.lowQuality) return;
    const pref: SubscriptionPreference = explicit ?? { paused: false };
    const paused = pref.paused || (isVideo && this.autoPaused);
    const quality = isVideo && this.lowQuality ? "low" : pref.quality;
    const msg: Record<string, unknown> = { track_id: trackId, paused };
    if (quality) msg["quality"] = quality;
    this.send("subscription", msg);
  }

  private resendVideoSubscriptions(): void {
    for (const p of this.remotesSig.value.values()) {
      for (const t of p.tracks) {
        if (t.kind !== "video") continue;
        const pref = this.prefs.get(t.id);
        const msg: Record<string, unknown> = { track_id: t.id, paused: (pref?.paused ?? false) || this.autoPaused };
        const quality = this.lowQuality ? "low" : (pref?.quality ?? "high");
        msg["quality"] = quality;
        this.send("subscription", msg);
      }
    }
  }

  /** Hidden page: pause remote video; visible again: resume it. */
  private readonly onVisibility = (): void => {
    const hidden = globalThis.document?.visibilityState === "hidden";
    if (hidden === this.autoPaused) return;
    this.autoPaused = hidden;
    this.resendVideoSubscriptions();
  };

  private readonly onOnline = (): void => {
    if (this.reconnecting || this.endSig.value) return;
    if (!this.ws) void this.recover();
  };

  /** Weak link: ask for the low layer; back to high once it is good again. */
  private adaptToQuality(): void {
    const q = this.quality.value;
    const low = q === "poor" || q === "lost";
    if (low === this.lowQuality) return;
    this.lowQuality = low;
    this.resendVideoSubscriptions();
  }

  private lastLoss = new Map<string, { received: number; lost: number }>();

  private startStats(): void {
    if (this.statsTimer || this.opts.statsIntervalMs <= 0) return;
    this.statsTimer = setInterval(() => {
      void this.stats().then(
        (s) => {
          let received = 0;
          let lost = 0;
          for (const i of s.inbound) {
            const prev = this.lastLoss.get(i.trackId) ?? { received: 0, lost: 0 };
            received += Math.max(0, i.packetsReceived - prev.received);
            lost += Math.max(0, i.packetsLost - prev.lost);
            this.lastLoss.set(i.trackId, { received: i.packetsReceived, lost: i.packetsLost });
          }
          const total = received + lost;
          if (total === 0 && s.rttMs === undefined) return;
          this.statsQualitySig.value = qualityOf(total > 0 ? lost / total : 0, s.rttMs);
          this.adaptToQuality();
        },
        () => undefined,
      );
    }, this.opts.statsIntervalMs);
  }

  // ------------------------------------------------------------ trouble

  private onIceState(): void {
    const pubState = this.pub?.pc.iceConnectionState;
    const subState = this.sub?.pc.iceConnectionState;
    const bad = (s: RTCIceConnectionState | undefined) => s === "disconnected" || s === "failed";
    this.iceTroubleSig.value = bad(pubState) || bad(subState);
    if (subState === "failed" && this.ws) {
      // Only the node can offer sub again: get fresh connections by resuming.
      this.dropSocket();
      return;
    }
    if (pubState === "failed") {
      this.restartPubIce();
    } else if (pubState === "disconnected" && !this.iceTimer) {
      this.iceTimer = setTimeout(() => {
        this.iceTimer = null;
        if (this.pub?.pc.iceConnectionState === "disconnected" || this.pub?.pc.iceConnectionState === "failed") {
          this.restartPubIce();
        }
      }, this.opts.iceRestartAfterMs);
    }
    if (!bad(pubState) && this.iceTimer) {
      clearTimeout(this.iceTimer);
      this.iceTimer = null;
    }
  }

  private restartPubIce(): void {
    if (!this.ws || this.endSig.value) return;
    void this.negotiate(true).catch(() => {
      // The socket is probably gone too: recover() takes over.
    });
  }

  /** Closes the socket on purpose (sub failed, node shutting down) and resumes. */
  private dropSocket(): void {
    const ws = this.ws;
    if (ws) {
      this.ws = null;
      ws.onopen = ws.onclose = ws.onmessage = ws.onerror = null;
      try {
        ws.close(1000, "reconnecting");
      } catch {
        // Already closing.
      }
    }
    this.failPending(new CallError("socket", "reconnecting"));
    this.onSocketLost();
  }

  private onSocketLost(): void {
    if (this.endSig.value) return;
    if (this.droppedAt === null) this.droppedAt = this.opts.now();
    void this.recover();
  }

  /** Gets back into the call: resume within the grace period, with a fresh join answer when needed. */
  private recover(): Promise<void> {
    if (this.reconnecting) return this.reconnecting;
    const run = async () => {
      this.stateSig.value = "reconnecting";
      if (this.droppedAt === null) this.droppedAt = this.opts.now();
      const started = this.opts.now();
      let attempt = 0;
      while (!this.endSig.value) {
        if (this.opts.now() - started > this.opts.reconnectForMs) {
          this.finish("connection_lost");
          return;
        }
        if (attempt > 0) {
          const exp = Math.min(this.opts.backoffMaxMs, this.opts.backoffInitialMs * 2 ** (attempt - 1));
          await delay(exp / 2 + Math.random() * (exp / 2));
          if (this.endSig.value) return;
        }
        attempt++;
        if (this.needFreshJoin || this.grantExpired()) {
          if (!this.refreshJoin) {
            if (this.grantExpired()) {
              this.finish("connection_lost");
              return;
            }
          } else {
            try {
              const fresh = await this.refreshJoin();
              if (fresh.node !== this.join.node) this.droppedAt = 0; // a new node holds no place: join anew
              this.join = fresh;
              this.sourcesSig.value = joinSources(fresh);
              this.needFreshJoin = false;
            } catch (err) {
              if (err instanceof ApiError && (err.status === 404 || err.status === 409 || err.status === 401 || err.status === 403)) {
                this.finish("room_ended");
                return;
              }
              continue; // 503 no_media_node or no network: try again
            }
          }
        }
        const resume = this.droppedAt !== null && this.opts.now() - this.droppedAt < this.graceSeconds * 1000;
        try {
          await this.session(resume);
          this.reconnecting = null;
          this.startStats();
          return;
        } catch (err) {
          const e = this.asCallError(err);
          if (FATAL.has(e.code)) {
            this.finish(e.code === "room_ended" || e.code === "removed" ? e.code : "error", e);
            return;
          }
          if (NEEDS_FRESH_JOIN.has(e.code)) this.needFreshJoin = true;
          // A refused handshake looks like any closed socket: after two, ask for a fresh grant.
          else if (e.code === "socket" && attempt >= 2) this.needFreshJoin = true;
          this.teardownTransport();
        }
      }
    };
    this.reconnecting = run().finally(() => {
      this.reconnecting = null;
    });
    return this.reconnecting;
  }

  private grantExpired(): boolean {
    const at = Date.parse(this.join.grant_expires_at);
    return Number.isFinite(at) && this.opts.now() > at - 5_000;
  }

  private asCallError(err: unknown): CallError {
    if (err instanceof CallError) return err;
    return new CallError("internal", err instanceof Error ? err.message : String(err));
  }

  // ------------------------------------------------------------ teardown

  private listen(on: boolean): void {
    if (!this.env || on === this.listening) return;
    this.listening = on;
    if (on) {
      this.env.addEventListener("online", this.onOnline);
      this.env.addEventListener("visibilitychange", this.onVisibility);
    } else {
      this.env.removeEventListener("online", this.onOnline);
      this.env.removeEventListener("visibilitychange", this.onVisibility);
    }
  }

  private teardownTransport(): void {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onclose = ws.onmessage = ws.onerror = null;
      try {
        ws.close(1000, "");
      } catch {
        // Already closing.
      }
    }
    this.failPending(new CallError("closed", "connection replaced"));
    for (const p of [this.pub, this.sub]) {
      if (!p) continue;
      p.pc.onicecandidate = p.pc.oniceconnectionstatechange = p.pc.ontrack = null;
      try {
        p.pc.close();
      } catch {
        // Already closed.
      }
    }
    this.pub = this.sub = null;
    for (const l of this.local) l.transceiver = undefined;
    this.iceTroubleSig.value = false;
    if (this.iceTimer) clearTimeout(this.iceTimer);
    this.iceTimer = null;
  }

  private finish(reason: CallEndReason, err?: CallError): void {
    if (this.endSig.value) return;
    this.generation++;
    batch(() => {
      if (err) this.errorSig.value = err;
      this.endSig.value = reason;
      this.stateSig.value = "ended";
    });
    this.teardownTransport();
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.statsTimer = null;
    this.listen(false);
    this.releaseMedia();
  }

  // ------------------------------------------------------------ test hooks

  /** Remote candidates queued before each peer's remote description (tests). */
  get queuedCandidates(): { pub: number; sub: number } {
    return { pub: this.pub?.queuedCount ?? 0, sub: this.sub?.queuedCount ?? 0 };
  }

  /** The node's id of the local track of a source, once published. */
  publishedTrackId(source: MediaSource): string | undefined {
    return this.localOf(source)?.trackId;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** An empty stream where MediaStream exists (receive-only participation). */
class MediaStreamShim {
  readonly stream: MediaStream;
  constructor() {
    this.stream =
      typeof MediaStream !== "undefined"
        ? new MediaStream()
        : ({ getAudioTracks: () => [], getVideoTracks: () => [], getTracks: () => [] } as unknown as MediaStream);
  }
}

