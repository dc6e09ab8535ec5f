import { describe, expect, it } from "vitest";
import { FakeMediaDevices } from "./call-fakes";
import { PrecallCheck, levelOf } from "./precall";

const quiet = { createAudioContext: () => null, schedule: () => 0, cancel: () => {} };

describe("PrecallCheck", () => {
  it("is ready with a camera and a microphone", async () => {
    const media = new FakeMediaDevices();
    const c = new PrecallCheck({ ...quiet, mediaDevices: media });
    expect(c.verdict.value).toBe("checking");
    await c.start();
    expect(c.verdict.value).toBe("ready");
    expect(c.cameraId.value).toBe("video-dev-1");
    expect(c.devices.value).toHaveLength(4);
  });

  it("goes on with sound only when the camera is refused", async () => {
    const media = new FakeMediaDevices();
    media.refuseVideo = true;
    const c = new PrecallCheck({ ...quiet, mediaDevices: media });
    await c.start();
    expect(c.camera.value).toBe("refused");
    expect(c.microphone.value).toBe("ok");
    expect(c.verdict.value).toBe("audio_only");
    expect(c.stream.value?.getAudioTracks()).toHaveLength(1);
  });

  it("says when nothing works", async () => {
    const media = new FakeMediaDevices();
    media.refuseVideo = media.refuseAudio = true;
    const c = new PrecallCheck({ ...quiet, mediaDevices: media });
    await c.start();
    expect(c.verdict.value).toBe("no_microphone");
  });

  it("does not ask for the camera for an audio call", async () => {
    const media = new FakeMediaDevices();
    const c = new PrecallCheck({ ...quiet, mediaDevices: media, video: false });
    await c.start();
    expect(media.requests).toEqual([{ audio: true }]);
    expect(c.verdict.value).toBe("audio_only");
  });

  it("hands the stream over without stopping it, and stops it otherwise", async () => {
    const media = new FakeMediaDevices();
    const c = new PrecallCheck({ ...quiet, mediaDevices: media });
    await c.start();
    const s = c.takeStream();
    expect(s?.getTracks().every((t) => t.readyState === "live")).toBe(true);
    const d = new PrecallCheck({ ...quiet, mediaDevices: media });
    await d.start();
    const tracks = d.stream.value!.getTracks();
    d.stop();
    expect(tracks.every((t) => t.readyState === "ended")).toBe(true);
  });

  it("switches the camera and keeps the microphone", async () => {
    const media = new FakeMediaDevices();
    const c = new PrecallCheck({ ...quiet, mediaDevices: media });
    await c.start();
    const mic = c.stream.value!.getAudioTracks()[0];
    await c.selectDevice("videoinput", "video-dev-2");
    expect(c.cameraId.value).toBe("video-dev-2");
    expect(c.microphoneId.value).toBe("audio-dev-1");
    expect(mic?.readyState).toBe("live");
  });
});

describe("levelOf", () => {
  it("is 0 for silence and grows with loudness", () => {
    expect(levelOf(new Uint8Array(64).fill(128))).toBe(0);
    const loud = Uint8Array.from({ length: 64 }, (_, i) => (i % 2 ? 160 : 96));
    expect(levelOf(loud)).toBeGreaterThan(0.5);
  });
});
