import { useEffect, useMemo, useRef } from "preact/hooks";
import { useSignal } from "@preact/signals";
import { attachStream, canChooseSpeaker } from "./call";
import { keepFocus } from "./focus";
import { t } from "./i18n";
import { PrecallCheck, type PrecallOptions, type PrecallVerdict } from "./precall";

export interface PrecallScreenProps {
  /** Check the camera (a video call). */
  video: boolean;
  /** The continue button: gets the checked stream (null when nothing works). */
  onContinue: (stream: MediaStream | null) => void;
  /** A cancel button (the check from the waiting room; absent before a call). */
  onCancel?: () => void;
  /** The continue button's words (default "Join the call"). */
  continueLabel?: string;
  /** Tests pass fakes. */
  options?: PrecallOptions;
}

function verdictText(v: PrecallVerdict): string {
  switch (v) {
    case "checking":
      return t("precall.checking");
    case "ready":
      return t("precall.ready");
    case "audio_only":
      return t("precall.audioOnly");
    case "no_microphone":
      return t("precall.noMicrophone");
  }
}

/** Camera preview, microphone meter, speaker test, device choice and a verdict. */
export function PrecallScreen({ video, onContinue, onCancel, continueLabel, options }: PrecallScreenProps) {
  const check = useMemo(() => new PrecallCheck({ ...options, video }), [video]);
  const previewRef = useRef<HTMLVideoElement>(null);
  const tonePlaying = useSignal(false);
  const handedOver = useRef(false);

  useEffect(() => {
    void check.start();
    return () => {
      if (!handedOver.current) check.stop();
    };
  }, [check]);
  // Opened with a button that is gone now: the focus goes to the check's heading.
  useEffect(() => keepFocus("precall-title"), []);

  const stream = check.stream.value;
  useEffect(() => {
    attachStream(previewRef.current, stream);
  }, [stream]);

  const verdict = check.verdict.value;
  const devices = check.devices.value;
  const mics = devices.filter((d) => d.kind === "audioinput");
  const cams = devices.filter((d) => d.kind === "videoinput");
  const outs = canChooseSpeaker() ? devices.filter((d) => d.kind === "audiooutput") : [];
  const level = check.level.value;

  const select = (id: string, label: string, list: MediaDeviceInfo[], value: string | null, kind: "audioinput" | "videoinput" | "audiooutput") =>
    list.length > 1 && (
      <div class="hcw-field">
        <label for={id}>{label}</label>
        <select id={id} value={value ?? list[0]?.deviceId ?? ""} onChange={(e) => void check.selectDevice(kind, e.currentTarget.value)}>
          {list.map((d, i) => (
            <option key={d.deviceId} value={d.deviceId}>
              {d.label || t("precall.deviceN", { n: i + 1 })}
            </option>
          ))}
        </select>
      </div>
    );

  return (
    <section class="hcw-card hcw-precall" aria-labelledby="precall-title">
      <h2 id="precall-title" class="hcw-card-title" tabIndex={-1}>
        {t("precall.title")}
      </h2>
      {video && (
        <div class="hcw-precall-preview">
          <video id="precall-preview" ref={previewRef} autoPlay playsInline muted aria-label={t("precall.preview")} />
          {check.camera.value !== "ok" && check.camera.value !== "pending" && (
            <p class="hcw-precall-nocamera">
              {check.camera.value === "refused" ? t("precall.cameraRefused") : t("precall.cameraMissing")}
            </p>
          )}
        </div>
      )}
      {select("precall-camera", t("precall.camera"), cams, check.cameraId.value, "videoinput")}
      <div class="hcw-field">
        <label for="precall-level">{t("precall.level")}</label>
        <meter id="precall-level" min={0} max={1} low={0.08} optimum={0.5} value={level} />
        <p class="hcw-hint">
          {check.microphone.value === "ok"
            ? check.heard.value
              ? t("precall.heard")
              : t("precall.speak")
            : check.microphone.value === "refused"
              ? t("precall.microphoneRefused")
              : check.microphone.value === "missing"
                ? t("precall.microphoneMissing")
                : t("precall.checking")}
        </p>
      </div>
      {select("precall-microphone", t("precall.microphone"), mics, check.microphoneId.value, "audioinput")}
      {select("precall-speaker", t("precall.speaker"), outs, check.speakerId.value, "audiooutput")}
      <div class="hcw-field">
        <button
          type="button"
          id="precall-speaker-test"
          class="hcw-button hcw-button-secondary"
          disabled={tonePlaying.value}
          onClick={async () => {
            tonePlaying.value = true;
            const seconds = await check.testSpeaker();
            setTimeout(() => (tonePlaying.value = false), Math.max(300, seconds * 1000));
          }}
        >
          {tonePlaying.value ? t("precall.tonePlaying") : t("precall.testSpeaker")}
        </button>
      </div>
      <p class={`hcw-notice${verdict === "ready" ? " hcw-notice-ok" : verdict === "checking" ? "" : " hcw-notice-warn"}`} role="status" id="precall-verdict" data-verdict={verdict}>
        {verdictText(verdict)}
      </p>
      {(check.camera.value === "refused" || check.microphone.value === "refused") && <p class="hcw-hint">{t("precall.permissionHelp")}</p>}
      <div class="hcw-actions">
        <button
          type="button"
          id="precall-continue"
          class="hcw-button"
          onClick={() => {
            handedOver.current = true;
            onContinue(check.takeStream());
          }}
        >
          {continueLabel ?? t("precall.continue")}
        </button>
        {onCancel && (
          <button type="button" id="precall-cancel" class="hcw-button hcw-button-secondary" onClick={onCancel}>
            {t("precall.close")}
          </button>
        )}
      </div>
    </section>
  );
}
