import { useEffect, useRef } from "preact/hooks";
import { useSignal } from "@preact/signals";
import { applySink, attachStream, canChooseSpeaker, type CallClient, type NetworkQuality, type RemoteParticipant } from "./call";
import { t } from "./i18n";
import { ScreenWakeLock } from "./precall";

/** Sets a media element's stream (srcObject cannot be an attribute). */
function useStream(ref: { current: HTMLMediaElement | null }, stream: MediaStream | null): void {
  useEffect(() => attachStream(ref.current, stream), [stream]);
}

function useSink(ref: { current: HTMLMediaElement | null }, sinkId: string | null): void {
  useEffect(() => {
    void applySink(ref.current, sinkId);
  }, [sinkId]);
}

function qualityText(q: NetworkQuality): string {
  switch (q) {
    case "excellent":
      return t("call.quality.excellent");
    case "good":
      return t("call.quality.good");
    case "poor":
      return t("call.quality.poor");
    case "lost":
      return t("call.quality.lost");
    case "unknown":
      return t("call.quality.unknown");
  }
}

/** The participant shown large: the active speaker, else the first one with video, else the first. */
export function mainParticipant(list: RemoteParticipant[], speaker: string | null): RemoteParticipant | undefined {
  return (
    list.find((p) => p.id === speaker && p.hasVideo && !p.videoMuted) ??
    list.find((p) => p.hasVideo && !p.videoMuted) ??
    list[0]
  );
}

/** Plays one other participant's audio (everyone but the main one, who plays in #remote-video). */
function RemoteAudio({ p, sinkId }: { p: RemoteParticipant; sinkId: string | null }) {
  const ref = useRef<HTMLAudioElement>(null);
  useStream(ref, p.stream);
  useSink(ref, sinkId);
  return <audio ref={ref} autoPlay class="hcw-visually-hidden" data-participant={p.id} />;
}

function Devices({ client }: { client: CallClient }) {
  const devices = client.devices.value;
  const mics = devices.filter((d) => d.kind === "audioinput");
  const cams = devices.filter((d) => d.kind === "videoinput");
  const outs = canChooseSpeaker() ? devices.filter((d) => d.kind === "audiooutput") : [];
  const row = (id: string, label: string, list: MediaDeviceInfo[], value: string | null, kind: MediaDeviceKind) =>
    list.length > 0 && (
      <div class="hcw-field">
        <label for={id}>{label}</label>
        <select id={id} value={value ?? list[0]?.deviceId ?? ""} onChange={(e) => void client.selectDevice(kind, e.currentTarget.value)}>
          {list.map((d, i) => (
            <option key={d.deviceId} value={d.deviceId}>
              {d.label || t("precall.deviceN", { n: i + 1 })}
            </option>
          ))}
        </select>
      </div>
    );
  return (
    <div class="hcw-call-devices" id="call-devices">
      {row("call-mic-select", t("precall.microphone"), mics, client.microphoneId.value, "audioinput")}
      {client.kind === "video" && row("call-camera-select", t("precall.camera"), cams, client.cameraId.value, "videoinput")}
      {row("call-speaker-select", t("precall.speaker"), outs, client.speakerId.value, "audiooutput")}
    </div>
  );
}

export interface CallScreenProps {
  client: CallClient;
  /** The leave button. */
  onLeave: () => void;
  /** "Hang up" (a doctor ends the call for everyone) rather than "Leave". */
  leaveLabel?: string;
}

/**
 * The call: the other participant large, the self view small, and the
 * controls in a bar BELOW the video (never over a face, on a phone held
 * upright either). Keeps the screen awake while it shows.
 */
export function CallScreen({ client, onLeave, leaveLabel }: CallScreenProps) {
  const remoteRef = useRef<HTMLVideoElement>(null);
  const localRef = useRef<HTMLVideoElement>(null);
  const showDevices = useSignal(false);

  const state = client.state.value;
  const participants = [...client.participants.value.values()];
  const main = mainParticipant(participants, client.activeSpeaker.value);
  const others = participants.filter((p) => p !== main);
  const local = client.localStream.value;
  const micMuted = client.micMuted.value;
  const cameraOff = client.cameraOff.value;
  const sinkId = client.speakerId.value;
  const isVideo = client.kind === "video";
  const cams = client.devices.value.filter((d) => d.kind === "videoinput");

  useStream(remoteRef, main?.stream ?? null);
  useSink(remoteRef, sinkId);
  useStream(localRef, local);

  useEffect(() => {
    const lock = new ScreenWakeLock();
    void lock.acquire();
    // For the end-to-end tests: receive counters per track.
    const g = globalThis as { hcwCallStats?: () => Promise<unknown> };
    g.hcwCallStats = () => client.stats();
    return () => {
      lock.release();
      if (g.hcwCallStats) delete g.hcwCallStats;
    };
  }, [client]);

  const showRemoteVideo = main !== undefined && main.hasVideo && !main.videoMuted;
  const mediaError = client.mediaError.value;

  return (
    <section class="hcw-call" aria-labelledby="call-heading" data-call-state={state}>
      <h2 id="call-heading" class="hcw-visually-hidden">
        {isVideo ? t("call.videoHeading") : t("call.audioHeading")}
      </h2>
      {state === "reconnecting" && (
        <p class="hcw-notice hcw-notice-warn" role="status" id="call-reconnecting">
          {t("call.reconnecting")}
        </p>
      )}
      {state === "connecting" && (
        <p class="hcw-notice" role="status" id="call-connecting">
          {t("call.connecting")}
        </p>
      )}
      {mediaError && (
        <p class="hcw-notice hcw-notice-warn" role="status">
          {mediaError === "camera_refused" ? t("call.cameraRefused") : t("call.microphoneRefused")}
        </p>
      )}
      <div class={`hcw-call-stage${isVideo ? "" : " hcw-call-stage-audio"}`}>
        <video
          id="remote-video"
          ref={remoteRef}
          class={`hcw-call-remote${showRemoteVideo ? "" : " hcw-call-hidden-video"}`}
          autoPlay
          playsInline
          aria-label={main ? t("call.remoteLabel", { name: main.name || t("call.otherParticipant") }) : t("call.waitingOther")}
        />
        {!showRemoteVideo && (
          <div class="hcw-call-placeholder" aria-hidden="true">
            <span class="hcw-call-avatar">{(main?.name || "?").slice(0, 1).toUpperCase()}</span>
          </div>
        )}
        <p class="hcw-call-caption" aria-live="polite">
          {main ? (
            <>
              {main.name || t("call.otherParticipant")}
              {main.state === "reconnecting" && ` — ${t("call.otherReconnecting")}`}
              {main.audioMuted && ` — ${t("call.otherMuted")}`}
            </>
          ) : (
            t("call.waitingOther")
          )}
        </p>
        {isVideo && (
          <video
            id="local-video"
            ref={localRef}
            class={`hcw-call-self${cameraOff ? " hcw-call-hidden-video" : ""}`}
            autoPlay
            playsInline
            muted
            aria-label={t("call.selfLabel")}
          />
        )}
      </div>
      {others.map((p) => (
        <RemoteAudio key={p.id} p={p} sinkId={sinkId} />
      ))}
      <div class="hcw-call-bar" role="toolbar" aria-label={t("call.controls")}>
        <button
          type="button"
          id="call-mute"
          class={`hcw-button hcw-call-button${micMuted ? " hcw-call-button-off" : ""}`}
          aria-pressed={micMuted}
          onClick={() => client.setMicMuted(!micMuted)}
        >
          {micMuted ? t("call.unmute") : t("call.mute")}
        </button>
        {isVideo && (
          <button
            type="button"
            id="call-camera"
            class={`hcw-button hcw-call-button${cameraOff ? " hcw-call-button-off" : ""}`}
            aria-pressed={cameraOff}
            onClick={() => void client.setCameraOff(!cameraOff)}
          >
            {cameraOff ? t("call.cameraOn") : t("call.cameraOff")}
          </button>
        )}
        {isVideo && cams.length > 1 && !cameraOff && (
          <button type="button" id="call-switch-camera" class="hcw-button hcw-call-button" onClick={() => void client.switchCamera()}>
            {t("call.switchCamera")}
          </button>
        )}
        <button
          type="button"
          id="call-settings"
          class="hcw-button hcw-call-button"
          aria-expanded={showDevices.value}
          aria-controls="call-devices"
          onClick={() => {
            showDevices.value = !showDevices.value;
            if (showDevices.value) void client.refreshDevices();
          }}
        >
          {t("call.devices")}
        </button>
        <button type="button" id="call-leave" class="hcw-button hcw-call-button hcw-button-danger" onClick={onLeave}>
          {leaveLabel ?? t("call.leave")}
        </button>
      </div>
      {showDevices.value && <Devices client={client} />}
      <p class="hcw-call-quality hcw-muted" id="call-quality" data-quality={client.quality.value}>
        {t("call.network", { quality: qualityText(client.quality.value) })}
      </p>
    </section>
  );
}
