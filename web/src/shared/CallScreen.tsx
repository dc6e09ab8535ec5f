import { useEffect, useRef } from "preact/hooks";
import { useSignal } from "@preact/signals";
import {
  applySink,
  attachStream,
  canChooseSpeaker,
  type CallClient,
  type NetworkQuality,
  type RemoteParticipant,
  type SubscriptionPreference,
} from "./call";
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

/**
 * How the others are shown:
 * - "screen": someone shares a screen: it takes the stage, and everyone
 *   (the presenter's camera too) is a tile beside or under it;
 * - "gallery": two or more others: one tile each, in a grid;
 * - "solo": one other (or nobody yet), large, the self view over a corner.
 */
export type CallLayout =
  | { name: "solo"; main: RemoteParticipant | undefined }
  | { name: "gallery"; tiles: RemoteParticipant[] }
  | { name: "screen"; presenter: RemoteParticipant; tiles: RemoteParticipant[] };

export function callLayout(list: RemoteParticipant[], speaker: string | null): CallLayout {
  // The first to share keeps the stage (no flipping between two presenters as they speak).
  const presenter = list.find((p) => p.hasScreen);
  if (presenter) return { name: "screen", presenter, tiles: list };
  if (list.length >= 2) return { name: "gallery", tiles: list };
  return { name: "solo", main: mainParticipant(list, speaker) };
}

/** Plays one other participant's audio (every remote video is muted: audio does not stop when the layout changes). */
function RemoteAudio({ p, sinkId }: { p: RemoteParticipant; sinkId: string | null }) {
  const ref = useRef<HTMLAudioElement>(null);
  useStream(ref, p.stream);
  useSink(ref, sinkId);
  return <audio ref={ref} autoPlay class="hcw-visually-hidden" data-participant={p.id} />;
}

function MicOffIcon() {
  return (
    <svg class="hcw-call-icon" viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" focusable="false">
      <path
        fill="currentColor"
        d="M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3Zm5-3a5 5 0 0 1-8.5 3.5l-1.4 1.4A7 7 0 0 0 11 17.9V21h2v-3.1A7 7 0 0 0 19 11h-2ZM3.3 2 2 3.3l18.7 18.7 1.3-1.3L3.3 2Z"
      />
    </svg>
  );
}

/** One other participant: their camera (or their initial), name, microphone state, speaking highlight. */
function RemoteTile({ p, speaking, videoId, live = false }: { p: RemoteParticipant; speaking: boolean; videoId?: string; live?: boolean }) {
  const ref = useRef<HTMLVideoElement>(null);
  useStream(ref, p.stream);
  const name = p.name || t("call.otherParticipant");
  const showVideo = p.hasVideo && !p.videoMuted;
  return (
    <div
      class={`hcw-call-tile${speaking ? " hcw-call-tile-speaking" : ""}`}
      data-testid="call-tile"
      data-participant={p.id}
      data-speaking={speaking ? "true" : "false"}
      data-muted={p.audioMuted ? "true" : "false"}
    >
      <video
        id={videoId}
        ref={ref}
        class={`hcw-call-remote${showVideo ? "" : " hcw-call-hidden-video"}`}
        autoPlay
        playsInline
        muted
        aria-label={t("call.remoteLabel", { name })}
      />
      {!showVideo && (
        <div class="hcw-call-placeholder" aria-hidden="true">
          <span class="hcw-call-avatar">{name.slice(0, 1).toUpperCase()}</span>
        </div>
      )}
      <p class="hcw-call-caption" aria-live={live ? "polite" : undefined}>
        <span class="hcw-call-name">{name}</span>
        {p.state === "reconnecting" && <span class="hcw-call-state"> — {t("call.otherReconnecting")}</span>}
        {p.audioMuted && (
          <span class="hcw-call-muted" data-testid="call-tile-muted">
            <span class="hcw-call-sep"> — </span>
            <MicOffIcon />
            <span class="hcw-call-muted-text">{t("call.otherMuted")}</span>
          </span>
        )}
        {speaking && <span class="hcw-visually-hidden"> — {t("call.speaking")}</span>}
      </p>
    </div>
  );
}

/** The self view (its own element in each layout, so it gets its stream when it mounts). */
function SelfView({ stream, hidden, tile, speaking = false }: { stream: MediaStream | null; hidden: boolean; tile: boolean; speaking?: boolean }) {
  const ref = useRef<HTMLVideoElement>(null);
  useStream(ref, stream);
  const video = (
    <video
      id="local-video"
      ref={ref}
      class={`hcw-call-self${hidden ? " hcw-call-hidden-video" : ""}`}
      autoPlay
      playsInline
      muted
      aria-label={t("call.selfLabel")}
    />
  );
  if (!tile) return video;
  return (
    <div class={`hcw-call-tile hcw-call-tile-self${speaking ? " hcw-call-tile-speaking" : ""}`} data-testid="call-self-tile" data-speaking={speaking ? "true" : "false"}>
      {video}
      {hidden && (
        <div class="hcw-call-placeholder" aria-hidden="true">
          <span class="hcw-call-avatar">{t("call.you").slice(0, 1).toUpperCase()}</span>
        </div>
      )}
      <p class="hcw-call-caption">{t("call.you")}</p>
    </div>
  );
}

/** A shared screen, large and never cropped. */
function ScreenStage({ p }: { p: RemoteParticipant }) {
  const ref = useRef<HTMLVideoElement>(null);
  useStream(ref, p.screen);
  const label = t("call.screenLabel", { name: p.name || t("call.otherParticipant") });
  return (
    <div class="hcw-call-stage hcw-call-screen-stage" data-layout="screen" data-participant={p.id}>
      <video id="remote-screen" data-testid="call-screen-share" ref={ref} class="hcw-call-screen" autoPlay playsInline muted aria-label={label} />
      <p class="hcw-call-caption" aria-live="polite">
        {label}
      </p>
    </div>
  );
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
 * The call: the other participant large and the self view small; with two
 * or more others, a grid of tiles; a shared screen on the main stage with
 * everyone as tiles. The controls are in a bar BELOW the video (never over
 * a face, on a phone held upright either). Keeps the screen awake while it
 * shows.
 */
export function CallScreen({ client, onLeave, leaveLabel }: CallScreenProps) {
  const showDevices = useSignal(false);

  const state = client.state.value;
  const participants = [...client.participants.value.values()];
  const speaker = client.activeSpeaker.value;
  const layout = callLayout(participants, speaker);
  const local = client.localStream.value;
  const micMuted = client.micMuted.value;
  const cameraOff = client.cameraOff.value;
  const sinkId = client.speakerId.value;
  const isVideo = client.kind === "video";
  const cams = client.devices.value.filter((d) => d.kind === "videoinput");
  const sharing = client.screenSharing.value;
  const canShare = client.canShareScreen.value || sharing;
  const screenError = client.screenError.value;

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

  // The simulcast layer each camera needs: the full one alone on the stage, smaller ones in tiles.
  const tileQuality: SubscriptionPreference["quality"] =
    layout.name === "solo" ? "high" : layout.name === "screen" || layout.tiles.length > 4 ? "low" : "medium";
  const cameras = participants.flatMap((p) => p.tracks.filter((t) => t.source === "camera").map((t) => t.id));
  const subscriptions = cameras.map((id) => `${id}:${tileQuality}`).join(" ");
  useEffect(() => {
    for (const id of cameras) client.setSubscription(id, { quality: tileQuality, paused: false });
  }, [client, subscriptions]);

  const mediaError = client.mediaError.value;
  // #remote-video: the first other with their camera on (stable as people speak), for the end-to-end tests.
  const firstWithVideo = (layout.name === "solo" ? undefined : layout.tiles.find((p) => p.hasVideo && !p.videoMuted)) ?? participants[0];
  const tiles = (list: RemoteParticipant[]) =>
    list.map((p) => <RemoteTile key={p.id} p={p} speaking={p.id === speaker} videoId={p === firstWithVideo ? "remote-video" : undefined} />);

  return (
    <section class="hcw-call" aria-labelledby="call-heading" data-call-state={state} data-layout={layout.name}>
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
      {sharing && (
        <p class="hcw-notice" role="status" id="call-sharing">
          {t("call.sharingNotice")}
        </p>
      )}
      {screenError && !sharing && (
        <p class="hcw-notice hcw-notice-warn" role="status" id="call-screen-error">
          {screenError === "screen_refused" ? t("call.screenRefused") : t("call.screenFailed")}
        </p>
      )}
      {layout.name === "solo" && (
        <div class={`hcw-call-stage${isVideo ? "" : " hcw-call-stage-audio"}`} data-layout="solo">
          {layout.main ? (
            <RemoteTile key={layout.main.id} p={layout.main} speaking={false} videoId="remote-video" live />
          ) : (
            <div class="hcw-call-tile hcw-call-waiting">
              <div class="hcw-call-placeholder" aria-hidden="true">
                <span class="hcw-call-avatar">?</span>
              </div>
              <p class="hcw-call-caption" aria-live="polite">
                {t("call.waitingOther")}
              </p>
            </div>
          )}
          {isVideo && <SelfView stream={local} hidden={cameraOff} tile={false} />}
        </div>
      )}
      {layout.name !== "solo" && (
        <div class="hcw-call-view" data-layout={layout.name}>
          {layout.name === "screen" && <ScreenStage p={layout.presenter} />}
          <div
            class={`hcw-call-gallery${layout.name === "screen" ? " hcw-call-gallery-strip" : layout.tiles.length + (isVideo ? 1 : 0) <= 4 ? " hcw-call-gallery-few" : ""}`}
            data-testid="call-gallery"
            data-count={layout.tiles.length}
          >
            {tiles(layout.tiles)}
            {isVideo && <SelfView stream={local} hidden={cameraOff} tile speaking={speaker !== null && speaker === client.self.value?.id} />}
          </div>
        </div>
      )}
      {participants.map((p) => (
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
        {canShare && (
          <button
            type="button"
            id="call-screen"
            class={`hcw-button hcw-call-button${sharing ? " hcw-call-button-on" : ""}`}
            aria-pressed={sharing}
            onClick={() => void (sharing ? client.stopScreenShare() : client.startScreenShare())}
          >
            {sharing ? t("call.stopScreenShare") : t("call.shareScreen")}
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
