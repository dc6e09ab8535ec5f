// @vitest-environment happy-dom
import { signal } from "@preact/signals";
import { beforeEach, describe, expect, it } from "vitest";
import type { Consultation } from "../shared/api-types";
import { ArrivalAlert, SOUND_MUTED_STORAGE_KEY, type AudioContextLike } from "./alerts";

/** Records the tones scheduled; "suspended" until resumed, like a page without a gesture. */
class FakeAudio {
  state = "suspended";
  currentTime = 10;
  destination = {} as AudioNode;
  tones: number[] = [];
  async resume(): Promise<void> {
    this.state = "running";
  }
  createOscillator(): OscillatorNode {
    const tones = this.tones;
    return {
      type: "sine",
      frequency: { setValueAtTime: (f: number) => void tones.push(f) },
      connect: () => undefined,
      start: () => undefined,
      stop: () => undefined,
    } as unknown as OscillatorNode;
  }
  createGain(): GainNode {
    const p = { setValueAtTime: () => undefined, exponentialRampToValueAtTime: () => undefined };
    return { gain: p, connect: () => undefined } as unknown as GainNode;
  }
}

const C = (id: string) => ({ id, status: "pending", created_at: "2026-01-01T00:00:00Z" }) as Consultation;

function board() {
  return { waiting: signal<ReadonlyMap<string, Consultation[]>>(new Map()), loaded: signal(false) };
}

describe("ArrivalAlert", () => {
  beforeEach(() => {
    localStorage.clear();
    document.title = "HCW@Home — Doctor";
  });

  it("counts the waiting patients in the title and chimes on an arrival once audio is allowed", async () => {
    const audio = new FakeAudio();
    let made = 0;
    const alert = new ArrivalAlert({ createAudio: () => (made++, audio as AudioContextLike) });
    const b = board();
    const off = alert.attach(b);
    expect(made).toBe(0); // no AudioContext before a gesture

    b.waiting.value = new Map([["q1", [C("c1")]]]);
    b.loaded.value = true;
    expect(document.title).toBe("(1) HCW@Home — Doctor");
    expect(alert.played).toBe(0); // what was there at load is no arrival

    // An arrival before any click: the browser would refuse; a hint instead.
    b.waiting.value = new Map([["q1", [C("c1"), C("c2")]]]);
    expect(document.title).toBe("(2) HCW@Home — Doctor");
    expect(alert.played).toBe(0);
    expect(alert.blocked.value).toBe(true);

    // The first click makes and resumes the context.
    document.dispatchEvent(new Event("pointerdown"));
    await Promise.resolve();
    expect(made).toBe(1);
    expect(audio.state).toBe("running");
    expect(alert.blocked.value).toBe(false);

    b.waiting.value = new Map([["q1", [C("c2"), C("c3")]]]);
    expect(alert.played).toBe(1);
    expect(audio.tones).toEqual([880, 1318.5]);
    // Someone leaving is no arrival; an empty list restores the title.
    b.waiting.value = new Map([["q1", [C("c3")]]]);
    b.waiting.value = new Map();
    expect(alert.played).toBe(1);
    expect(document.title).toBe("HCW@Home — Doctor");

    b.waiting.value = new Map([["q1", [C("c4")]]]);
    off();
    expect(document.title).toBe("HCW@Home — Doctor");
  });

  it("remembers muting on this device", async () => {
    const audio = new FakeAudio();
    const alert = new ArrivalAlert({ createAudio: () => audio });
    alert.setMuted(true);
    expect(localStorage.getItem(SOUND_MUTED_STORAGE_KEY)).toBe("1");
    const again = new ArrivalAlert({ createAudio: () => audio });
    expect(again.muted.value).toBe(true);
    const b = board();
    again.attach(b);
    again.unlock();
    await Promise.resolve();
    b.loaded.value = true;
    b.waiting.value = new Map([["q1", [C("c1")]]]);
    expect(again.played).toBe(0);
    expect(again.blocked.value).toBe(false);
    again.setMuted(false);
    expect(localStorage.getItem(SOUND_MUTED_STORAGE_KEY)).toBeNull();
    b.waiting.value = new Map([["q1", [C("c1"), C("c2")]]]);
    expect(again.played).toBe(1);
  });

  it("stays quiet without WebAudio", () => {
    const alert = new ArrivalAlert({ createAudio: null });
    const b = board();
    alert.attach(b);
    b.loaded.value = true;
    b.waiting.value = new Map([["q1", [C("c1")]]]);
    document.dispatchEvent(new Event("keydown"));
    b.waiting.value = new Map([["q1", [C("c1"), C("c2")]]]);
    expect(alert.played).toBe(0);
    expect(alert.blocked.value).toBe(false);
    expect(document.title).toBe("(2) HCW@Home — Doctor");
  });
});
