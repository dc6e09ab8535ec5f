/**
 * State behind the consultation view's tools: the private note (saved by
 * itself a moment after typing stops) and the participants list (kept
 * live by the participant.* and invite.updated events of the consultation).
 */
import { batch, signal, type ReadonlySignal, type Signal } from "@preact/signals";
import type { RealtimeClient } from "../shared/realtime";
import * as api from "./api";
import { errorCode } from "./auth";

/** Longest note the backend takes, in characters (code points). */
export const MAX_NOTE_LENGTH = 10_000;

export type NoteState = "saved" | "dirty" | "saving" | "error";

export interface NoteOptions {
  /** Quiet time after the last keystroke before saving (default 1.5 s). */
  debounceMs?: number;
  save?: (consultationId: string, text: string) => Promise<void>;
  now?: () => Date;
}

/** The doctor's private note of one consultation. */
export class NoteDraft {
  private readonly textSig: Signal<string>;
  private readonly stateSig = signal<NoteState>("saved");
  private readonly savedAtSig = signal<Date | null>(null);
  private readonly errorSig = signal<string | null>(null);
  readonly text: ReadonlySignal<string>;
  /** saved: what is shown is stored; dirty: a save is due; saving; error: the last save failed (errorCode in error). */
  readonly state: ReadonlySignal<NoteState> = this.stateSig;
  /** When this page last stored the note. */
  readonly savedAt: ReadonlySignal<Date | null> = this.savedAtSig;
  readonly error: ReadonlySignal<string | null> = this.errorSig;
  private readonly debounceMs: number;
  private readonly doSave: (consultationId: string, text: string) => Promise<void>;
  private readonly now: () => Date;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inFlight: Promise<void> | null = null;
  private stored: string;

  constructor(
    readonly consultationId: string,
    initial: string,
    options: NoteOptions = {},
  ) {
    this.textSig = signal(initial);
    this.text = this.textSig;
    this.stored = initial;
    this.debounceMs = options.debounceMs ?? 1500;
    this.doSave = options.save ?? api.saveNote;
    this.now = options.now ?? (() => new Date());
  }

  /** Too long to be stored. */
  get tooLong(): boolean {
    return [...this.textSig.value].length > MAX_NOTE_LENGTH;
  }

  /** The doctor typed: saves after the quiet time. */
  input(text: string): void {
    this.textSig.value = text;
    this.clearTimer();
    if (text === this.stored && !this.inFlight) {
      this.stateSig.value = "saved";
      return;
    }
    this.stateSig.value = "dirty";
    if (this.tooLong) return;
    this.timer = setTimeout(() => void this.save(), this.debounceMs);
  }

  /** Saves now (the save button, leaving the field or the page); resolves once stored or failed. */
  async save(): Promise<void> {
    this.clearTimer();
    if (this.inFlight) {
      await this.inFlight;
      // What was typed meanwhile goes in a round of its own.
      if (this.textSig.value !== this.stored) return this.save();
      return;
    }
    const text = this.textSig.value;
    if (text === this.stored && this.stateSig.value !== "error") {
      this.stateSig.value = "saved";
      return;
    }
    if (this.tooLong) return;
    this.stateSig.value = "saving";
    this.errorSig.value = null;
    this.inFlight = this.doSave(this.consultationId, text).then(
      () => {
        this.stored = text;
        batch(() => {
          this.savedAtSig.value = this.now();
          this.stateSig.value = this.textSig.value === text ? "saved" : "dirty";
        });
      },
      (err: unknown) => {
        batch(() => {
          this.errorSig.value = errorCode(err);
          this.stateSig.value = "error";
        });
      },
    );
    try {
      await this.inFlight;
    } finally {
      this.inFlight = null;
    }
    if ((this.stateSig.value as NoteState) === "dirty" && !this.timer) this.timer = setTimeout(() => void this.save(), this.debounceMs);
  }

  /** Leaving: saves what is pending, without waiting. */
  dispose(): void {
    if (this.timer || this.stateSig.value === "dirty") void this.save();
    this.clearTimer();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

export type ParticipantsApi = Pick<typeof api, "listParticipants">;

/** The invite status the participants list shows for p (none for the patient). */
export function shownInviteStatus(p: api.Participant): string | undefined {
  return p.role === "patient" ? undefined : p.invite_status;
}

/**
 * The participants of a consultation, refetched on each participant event
 * of it and on invite.updated; a participant who comes online while shown
 * as not yet joined (their invite just redeemed) is refetched too.
 */
export class ParticipantsStore {
  private readonly listSig = signal<api.Participant[]>([]);
  private readonly loadedSig = signal(false);
  private readonly errorSig = signal<string | null>(null);
  readonly list: ReadonlySignal<api.Participant[]> = this.listSig;
  readonly loaded: ReadonlySignal<boolean> = this.loadedSig;
  readonly error: ReadonlySignal<string | null> = this.errorSig;
  private seq = 0;

  constructor(
    readonly consultationId: string,
    private readonly a: ParticipantsApi = api,
  ) {}

  attach(rt: RealtimeClient): () => void {
    const mine = (d: { consultation_id?: string } | undefined) => d?.consultation_id === this.consultationId;
    const offs = [
      rt.on("participant.added", (d) => {
        if (mine(d)) void this.refresh();
      }),
      rt.on("participant.revoked", (d) => {
        if (mine(d)) void this.refresh();
      }),
      rt.on("interpreter_request.accepted", (d) => {
        if (mine(d)) void this.refresh();
      }),
      rt.on("invite.updated", (d) => {
        if (mine(d)) void this.refresh();
      }),
      rt.on("participant.presence", (d) => {
        if (mine(d)) this.presence(d.participant_id, d.online);
      }),
      rt.onResync(() => void this.refresh()),
    ];
    void this.refresh();
    return () => offs.forEach((off) => off());
  }

  async refresh(): Promise<void> {
    const seq = ++this.seq;
    try {
      const list = await this.a.listParticipants(this.consultationId);
      if (seq !== this.seq) return; // a newer fetch is on its way
      batch(() => {
        this.listSig.value = list;
        this.loadedSig.value = true;
        this.errorSig.value = null;
      });
    } catch (err) {
      if (seq === this.seq) this.errorSig.value = errorCode(err);
    }
  }

  private presence(participantId: string, online: boolean): void {
    const list = this.listSig.value;
    const known = list.find((p) => p.participant_id === participantId);
    if (!known) {
      void this.refresh();
      return;
    }
    this.listSig.value = list.map((p) => (p.participant_id === participantId && p.online !== online ? { ...p, online } : p));
    // Online while shown as invited (sent, opened, …): they have just joined, and the list says so once fetched.
    const status = shownInviteStatus(known);
    if (online && status !== undefined && status !== "redeemed") void this.refresh();
  }
}
