/**
 * The pre-call check: camera preview, microphone level, a test tone on the
 * chosen speaker, device choice, and a plain verdict. The stream it opened is
 * handed to the call (no second permission prompt).
 *
 * Also the small WebAudio helpers of the call screens: the ringer of an
 * incoming call and the test tone (generated, no sound file), and the
 * screen wake lock.
 */
import { computed, signal, type ReadonlySignal } from "@preact/signals";
import type { MediaDevicesLike } from "./call";

/** What the check concludes. */
export type PrecallVerdict =
  /** Still looking. */
  | "checking"
  /** Camera and microphone work. */
  | "ready"
  /** The microphone works; no camera (refused or missing): the call is audio only. */
  | "audio_only"
  /** No microphone: the others will not hear you (you can still see and hear them, and chat). */
  | "no_microphone";

export type DeviceState = "pending" | "ok" | "refused" | "missing";

/** The part of AudioContext the check uses. */
export interface AudioContextLike {
  readonly state: AudioContextState;
  readonly currentTime: number;
  readonly destination: AudioDestinationNode;
  createMediaStreamSource(stream: MediaStream): MediaStreamAudioSourceNode;
  createAnalyser(): AnalyserNode;
  createOscillator(): OscillatorNode;
  createGain(): GainNode;
  resume(): Promise<void>;
  close(): Promise<void>;
  setSinkId?: (id: string) => Promise<void>;
}

export interface PrecallOptions {
  /** Default navigator.mediaDevices. */
  mediaDevices?: MediaDevicesLike | null;
  /** Default new AudioContext(); null when WebAudio is missing. */
  createAudioContext?: () => AudioContextLike | null;
  /** Check the camera too (false for an audio call). Default true. */
  video?: boolean;
  /** Default requestAnimationFrame / cancelAnimationFrame (setTimeout where missing). */
  schedule?: (cb: () => void) => number;
  cancel?: (handle: number) => void;
}

function defaultAudioContext(): AudioContextLike | null {
  const AC = (globalThis as { AudioContext?: new () => AudioContext }).AudioContext;
  if (!AC) return null;
  try {
    return new AC() as unknown as AudioContextLike;
  } catch {
    return null;
  }
}

/** Loudness 0..1 of a time-domain byte buffer (128 is silence), scaled so speech reads well. */
export function levelOf(samples: Uint8Array): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (const v of samples) {
    const x = (v - 128) / 128;
    sum += x * x;
  }
  const rms = Math.sqrt(sum / samples.length);
  return Math.min(1, rms * 4);
}

/** A short two-note tone: the speaker test, and each ring of an incoming call. */
export function playTone(ctx: AudioContextLike, notes: Array<[freq: number, seconds: number]>, volume = 0.2): number {
  let at = ctx.currentTime + 0.02;
  for (const [freq, seconds] of notes) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "sine";
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0, at);
    gain.gain.linearRampToValueAtTime(volume, at + 0.03);
    gain.gain.setValueAtTime(volume, at + seconds - 0.05);
    gain.gain.linearRampToValueAtTime(0, at + seconds);
    osc.connect(gain);
    gain.connect(ctx.destination);
    osc.start(at);
    osc.stop(at + seconds + 0.01);
    at += seconds;
  }
  return at - ctx.currentTime;
}

/** The pre-call check's state. start(), then takeStream() for the call or stop(). */
export class PrecallCheck {
  private readonly media: MediaDevicesLike | null;
  private readonly createCtx: () => AudioContextLike | null;
  private readonly wantVideo: boolean;
  private readonly schedule: (cb: () => void) => number;
  private readonly cancel: (handle: number) => void;

  private readonly streamSig = signal<MediaStream | null>(null);
  private readonly cameraSig = signal<DeviceState>("pending");
  private readonly micSig = signal<DeviceState>("pending");
  private readonly levelSig = signal(0);
  private readonly heardSig = signal(false);
  private readonly devicesSig = signal<MediaDeviceInfo[]>([]);
  private readonly cameraIdSig = signal<string | null>(null);
  private readonly micIdSig = signal<string | null>(null);
  private readonly speakerIdSig = signal<string | null>(null);

  readonly stream: ReadonlySignal<MediaStream | null> = this.streamSig;
  readonly camera: ReadonlySignal<DeviceState> = this.cameraSig;
  readonly microphone: ReadonlySignal<DeviceState> = this.micSig;
  /** Microphone loudness 0..1, live. */
  readonly level: ReadonlySignal<number> = this.levelSig;
  /** The microphone picked up sound at least once. */
  readonly heard: ReadonlySignal<boolean> = this.heardSig;
  readonly devices: ReadonlySignal<MediaDeviceInfo[]> = this.devicesSig;
  readonly cameraId: ReadonlySignal<string | null> = this.cameraIdSig;
  readonly microphoneId: ReadonlySignal<string | null> = this.micIdSig;
  readonly speakerId: ReadonlySignal<string | null> = this.speakerIdSig;
  readonly verdict: ReadonlySignal<PrecallVerdict> = computed(() => {
    const mic = this.micSig.value;
    const cam = this.cameraSig.value;
    if (mic === "pending" || (this.wantVideo && cam === "pending")) return "checking";
    if (mic !== "ok") return "no_microphone";
    if (!this.wantVideo || cam !== "ok") return "audio_only";
    return "ready";
  });

  private ctx: AudioContextLike | null = null;
  private analyser: AnalyserNode | null = null;
  private source: MediaStreamAudioSourceNode | null = null;
  private frame: number | null = null;
  private stopped = false;

  constructor(options: PrecallOptions = {}) {
    this.media = options.mediaDevices === undefined ? (globalThis.navigator?.mediaDevices ?? null) : options.mediaDevices;
    this.createCtx = options.createAudioContext ?? defaultAudioContext;
    this.wantVideo = options.video ?? true;
    const raf = globalThis.requestAnimationFrame?.bind(globalThis);
    const caf = globalThis.cancelAnimationFrame?.bind(globalThis);
    this.schedule = options.schedule ?? raf ?? ((cb) => setTimeout(cb, 50) as unknown as number);
    this.cancel = options.cancel ?? caf ?? ((h) => clearTimeout(h));
  }

  /** Asks for the camera and microphone (the microphone alone when the camera is refused). */
  async start(): Promise<void> {
    if (!this.media) {
      this.micSig.value = "missing";
      this.cameraSig.value = "missing";
      return;
    }
    let stream: MediaStream | null = null;
    if (this.wantVideo) {
      try {
        stream = await this.media.getUserMedia({ audio: true, video: { width: { ideal: 1280 }, height: { ideal: 720 } } });
      } catch (err) {
        this.cameraSig.value = deviceError(err);
      }
    } else {
      this.cameraSig.value = "missing";
    }
    if (!stream) {
      try {
        stream = await this.media.getUserMedia({ audio: true });
      } catch (err) {
        this.micSig.value = deviceError(err);
      }
    }
    if (this.stopped) {
      for (const t of stream?.getTracks() ?? []) t.stop();
      return;
    }
    if (stream) this.adopt(stream);
    await this.refreshDevices();
  }

  private adopt(stream: MediaStream): void {
    const audio = stream.getAudioTracks()[0];
    const video = stream.getVideoTracks()[0];
    this.micSig.value = audio ? "ok" : this.micSig.value === "pending" ? "missing" : this.micSig.value;
    if (this.wantVideo) this.cameraSig.value = video ? "ok" : this.cameraSig.value === "pending" ? "missing" : this.cameraSig.value;
    if (audio) this.micIdSig.value = audio.getSettings().deviceId ?? null;
    if (video) this.cameraIdSig.value = video.getSettings().deviceId ?? null;
    this.streamSig.value = stream;
    this.meter(audio ? stream : null);
  }

  /** Lists devices (labels appear once a permission was given). */
  async refreshDevices(): Promise<void> {
    try {
      this.devicesSig.value = (await this.media?.enumerateDevices()) ?? [];
    } catch {
      this.devicesSig.value = [];
    }
  }

  /** Switches one input: captured again, the old track stopped. */
  async selectDevice(kind: "audioinput" | "videoinput" | "audiooutput", deviceId: string): Promise<void> {
    if (kind === "audiooutput") {
      this.speakerIdSig.value = deviceId;
      return;
    }
    if (!this.media) return;
    const old = this.streamSig.value;
    const keep = old?.getTracks().filter((t) => t.kind !== (kind === "audioinput" ? "audio" : "video")) ?? [];
    try {
      const s =
        kind === "audioinput"
          ? await this.media.getUserMedia({ audio: { deviceId: { exact: deviceId } } })
          : await this.media.getUserMedia({ video: { deviceId: { exact: deviceId }, width: { ideal: 1280 }, height: { ideal: 720 } } });
      for (const t of old?.getTracks() ?? []) if (!keep.includes(t)) t.stop();
      const tracks = [...keep, ...s.getTracks()];
      this.adopt(typeof MediaStream !== "undefined" ? new MediaStream(tracks) : s);
    } catch (err) {
      if (kind === "audioinput") this.micSig.value = deviceError(err);
      else this.cameraSig.value = deviceError(err);
    }
  }

  /** Plays a short tone on the chosen speaker. Resolves with its length in seconds (0 without WebAudio). */
  async testSpeaker(): Promise<number> {
    const ctx = this.audio();
    if (!ctx) return 0;
    await ctx.resume().catch(() => undefined);
    const sink = this.speakerIdSig.value;
    if (sink && typeof ctx.setSinkId === "function") await ctx.setSinkId(sink).catch(() => undefined);
    return playTone(ctx, [
      [660, 0.35],
      [880, 0.35],
      [660, 0.35],
    ]);
  }

  /** Hands the stream over to the call; the check lets go of it without stopping its tracks. */
  takeStream(): MediaStream | null {
    const s = this.streamSig.value;
    this.streamSig.value = null;
    this.stop();
    return s;
  }

  /** Stops the meter and any stream still held. */
  stop(): void {
    this.stopped = true;
    if (this.frame !== null) this.cancel(this.frame);
    this.frame = null;
    this.source?.disconnect();
    this.source = null;
    this.analyser = null;
    void this.ctx?.close().catch(() => undefined);
    this.ctx = null;
    for (const t of this.streamSig.value?.getTracks() ?? []) t.stop();
    this.streamSig.value = null;
  }

  private audio(): AudioContextLike | null {
    if (!this.ctx) this.ctx = this.createCtx();
    return this.ctx;
  }

  private meter(stream: MediaStream | null): void {
    if (this.frame !== null) this.cancel(this.frame);
    this.frame = null;
    this.source?.disconnect();
    this.source = null;
    if (!stream) return;
    const ctx = this.audio();
    if (!ctx) return;
    try {
      this.source = ctx.createMediaStreamSource(stream);
      this.analyser = ctx.createAnalyser();
      this.analyser.fftSize = 512;
      this.source.connect(this.analyser);
    } catch {
      return;
    }
    void ctx.resume().catch(() => undefined);
    const buf = new Uint8Array(this.analyser.fftSize);
    const tick = () => {
      if (!this.analyser || this.stopped) return;
      this.analyser.getByteTimeDomainData(buf);
      const level = levelOf(buf);
      // Smooth a little so the meter does not flicker.
      this.levelSig.value = Math.max(level, this.levelSig.value * 0.85);
      if (level > 0.08) this.heardSig.value = true;
      this.frame = this.schedule(tick);
    };
    this.frame = this.schedule(tick);
  }
}

function deviceError(err: unknown): DeviceState {
  const name = err instanceof Error || (typeof err === "object" && err !== null && "name" in err) ? String((err as { name: unknown }).name) : "";
  return name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError" ? "missing" : "refused";
}

// ---------------------------------------------------------------- ringer

/** An incoming call's ring: two notes every 3 s, and a vibration where phones allow it. */
export class Ringer {
  private ctx: AudioContextLike | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly createCtx: () => AudioContextLike | null = defaultAudioContext) {}

  start(): void {
    if (this.timer) return;
    const ring = () => {
      try {
        if (!this.ctx) this.ctx = this.createCtx();
        const ctx = this.ctx;
        if (ctx) {
          void ctx.resume().catch(() => undefined);
          playTone(ctx, [
            [880, 0.4],
            [660, 0.4],
          ], 0.25);
        }
      } catch {
        // No sound (autoplay policy): the notice stays visible.
      }
      globalThis.navigator?.vibrate?.([300, 200, 300]);
    };
    ring();
    this.timer = setInterval(ring, 3000);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    void this.ctx?.close().catch(() => undefined);
    this.ctx = null;
  }
}

// ---------------------------------------------------------------- wake lock

interface WakeLockSentinelLike {
  release(): Promise<void>;
}

/** Keeps the screen on while held (navigator.wakeLock where it exists), taken again when the page is shown again. */
export class ScreenWakeLock {
  private sentinel: WakeLockSentinelLike | null = null;
  private held = false;

  private readonly onVisible = (): void => {
    if (this.held && document.visibilityState === "visible") void this.request();
  };

  async acquire(): Promise<boolean> {
    this.held = true;
    globalThis.document?.addEventListener("visibilitychange", this.onVisible);
    return this.request();
  }

  private async request(): Promise<boolean> {
    const wl = (globalThis.navigator as { wakeLock?: { request(type: "screen"): Promise<WakeLockSentinelLike> } } | undefined)
      ?.wakeLock;
    if (!wl) return false;
    try {
      this.sentinel = await wl.request("screen");
      return true;
    } catch {
      return false;
    }
  }

  release(): void {
    this.held = false;
    globalThis.document?.removeEventListener("visibilitychange", this.onVisible);
    void this.sentinel?.release().catch(() => undefined);
    this.sentinel = null;
  }
}
