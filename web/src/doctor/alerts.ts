/**
 * Telling the doctor a patient arrived while they look elsewhere: a short
 * two-tone chime made with WebAudio (no audio file), and the number of
 * waiting patients in the page title, "(2) HCW@Home — Doctor".
 *
 * Browsers keep audio off until the page had a user gesture: the
 * AudioContext is made (or resumed) on the first click or key press, and an
 * arrival before that shows a hint instead of failing silently. Muting is
 * remembered on this device.
 */
import { effect, signal, type ReadonlySignal, type Signal } from "@preact/signals";
import type { Consultation } from "../shared/api-types";

export const SOUND_MUTED_STORAGE_KEY = "hcw.doctor.soundMuted";

/** The part of AudioContext the chime uses (a fake in tests). */
export interface AudioContextLike {
  readonly state: string;
  readonly currentTime: number;
  readonly destination: AudioNode;
  resume(): Promise<void>;
  createOscillator(): OscillatorNode;
  createGain(): GainNode;
}

/** What the alert watches: the dashboard's waiting lists. */
export interface WaitingSource {
  readonly waiting: ReadonlySignal<ReadonlyMap<string, Consultation[]>>;
  readonly loaded: ReadonlySignal<boolean>;
}

export interface ArrivalAlertOptions {
  /** Makes the audio context, at the first user gesture. Default new AudioContext(); null: no audio. */
  createAudio?: (() => AudioContextLike | null) | null;
  /** Default localStorage. */
  storage?: Storage | null;
  /** Default document (title and the gesture listeners). */
  document?: Document | null;
}

function defaultStorage(): Storage | null {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

function defaultAudio(): AudioContextLike | null {
  const Ctor = (globalThis as { AudioContext?: new () => AudioContextLike; webkitAudioContext?: new () => AudioContextLike }).AudioContext ??
    (globalThis as { webkitAudioContext?: new () => AudioContextLike }).webkitAudioContext;
  return Ctor ? new Ctor() : null;
}

const GESTURES = ["pointerdown", "keydown", "touchstart"] as const;

export class ArrivalAlert {
  private readonly createAudio: (() => AudioContextLike | null) | null;
  private readonly storage: Storage | null;
  private readonly doc: Document | null;
  private readonly mutedSig: Signal<boolean>;
  private readonly blockedSig = signal(false);
  private readonly countSig = signal(0);
  /** Sound off (remembered on this device). */
  readonly muted: ReadonlySignal<boolean>;
  /** A patient arrived while the browser still blocked audio (no click or key press yet). */
  readonly blocked: ReadonlySignal<boolean> = this.blockedSig;
  /** Patients waiting in my queues (shown in the title). */
  readonly count: ReadonlySignal<number> = this.countSig;
  /** How many chimes played (tests, diagnostics). */
  played = 0;
  private ctx: AudioContextLike | null = null;
  private baseTitle = "";
  private known: Set<string> | null = null;
  private offs: Array<() => void> = [];

  constructor(options: ArrivalAlertOptions = {}) {
    this.createAudio = options.createAudio === undefined ? defaultAudio : options.createAudio;
    this.storage = options.storage === undefined ? defaultStorage() : options.storage;
    this.doc = options.document === undefined ? (globalThis.document ?? null) : options.document;
    let stored = false;
    try {
      stored = this.storage?.getItem(SOUND_MUTED_STORAGE_KEY) === "1";
    } catch {
      // storage refused: not muted
    }
    this.mutedSig = signal(stored);
    this.muted = this.mutedSig;
  }

  setMuted(muted: boolean): void {
    this.mutedSig.value = muted;
    try {
      if (muted) this.storage?.setItem(SOUND_MUTED_STORAGE_KEY, "1");
      else this.storage?.removeItem(SOUND_MUTED_STORAGE_KEY);
    } catch {
      // not remembered; still applied
    }
    if (!muted) this.unlock();
  }

  /** Follows the waiting lists: chimes when a consultation appears, keeps the title's count. */
  attach(source: WaitingSource): () => void {
    const doc = this.doc;
    if (doc) {
      this.baseTitle = doc.title.replace(/^\(\d+\)\s*/, "");
      for (const g of GESTURES) doc.addEventListener(g, this.unlock, { capture: true, passive: true });
      this.offs.push(() => {
        for (const g of GESTURES) doc.removeEventListener(g, this.unlock, { capture: true });
        doc.title = this.baseTitle;
      });
    }
    this.offs.push(
      effect(() => {
        if (!source.loaded.value) return;
        this.update(source.waiting.value);
      }),
    );
    return () => this.detach();
  }

  detach(): void {
    for (const off of this.offs.splice(0)) off();
    this.known = null;
  }

  private update(waiting: ReadonlyMap<string, Consultation[]>): void {
    const ids = new Set<string>();
    for (const list of waiting.values()) for (const c of list) ids.add(c.id);
    const arrived = this.known !== null && [...ids].some((id) => !this.known!.has(id));
    this.known = ids;
    this.countSig.value = ids.size;
    if (this.doc) this.doc.title = ids.size > 0 ? `(${ids.size}) ${this.baseTitle}` : this.baseTitle;
    if (arrived) this.chime();
  }

  /** A user gesture: audio may start now. */
  readonly unlock = (): void => {
    try {
      if (!this.ctx && this.createAudio) this.ctx = this.createAudio();
      if (this.ctx && this.ctx.state === "suspended") void this.ctx.resume().catch(() => undefined);
    } catch {
      this.ctx = null; // no audio on this device
    }
    if (this.ctx) this.blockedSig.value = false;
  };

  /** Plays the chime, unless muted or audio is still blocked. */
  chime(): void {
    if (this.mutedSig.value) return;
    const ctx = this.ctx;
    if (!ctx || ctx.state !== "running") {
      if (this.createAudio) this.blockedSig.value = true;
      return;
    }
    try {
      const t0 = ctx.currentTime;
      const tone = (freq: number, at: number) => {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.type = "sine";
        osc.frequency.setValueAtTime(freq, at);
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.25);
        osc.connect(gain);
        gain.connect(ctx.destination);
        osc.start(at);
        osc.stop(at + 0.3);
      };
      tone(880, t0);
      tone(1318.5, t0 + 0.18);
      this.played++;
    } catch {
      // A chime is a nicety: never break the dashboard for it.
    }
  }
}
