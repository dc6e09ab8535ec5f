import { useEffect, useMemo, useRef } from "preact/hooks";
import type { CallPhase, CallSession } from "./call-session";
import { CallScreen } from "./CallScreen";
import { keepFocus } from "./focus";
import { t } from "./i18n";
import type { PrecallOptions } from "./precall";
import { PrecallScreen } from "./PrecallScreen";
import { Ringer } from "./precall";

function endText(reason: string): string {
  switch (reason) {
    case "hung_up":
      return t("call.ended.hung_up");
    case "declined":
      return t("call.ended.declined");
    case "no_answer":
      return t("call.ended.no_answer");
    case "max_duration":
      return t("call.ended.max_duration");
    case "removed":
      return t("call.ended.removed");
    case "duplicate_identity":
      return t("call.ended.duplicate_identity");
    case "connection_lost":
      return t("call.ended.connection_lost");
    default:
      return t("call.ended.generic");
  }
}

function failText(code: string): string {
  switch (code) {
    case "no_media_node":
      return t("call.failed.no_media_node");
    case "no_active_call":
    case "call_not_ringing":
    case "room_ended":
      return t("call.failed.no_active_call");
    case "network":
    case "socket":
    case "timeout":
      return t("call.failed.network");
    default:
      return t("call.failed.generic");
  }
}

/** The ringing notice: sound, a visible alert read out at once, accept and decline. */
export function IncomingCall({ session, phase, ring = true }: { session: CallSession; phase: Extract<CallPhase, { name: "ringing" }>; ring?: boolean }) {
  const ringer = useMemo(() => new Ringer(), []);
  const acceptRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (ring) ringer.start();
    acceptRef.current?.focus();
    return () => ringer.stop();
  }, [phase.callId]);
  return (
    <section class="hcw-card hcw-incoming" role="alertdialog" aria-labelledby="incoming-title" aria-describedby="incoming-body">
      <h2 id="incoming-title" class="hcw-card-title" aria-live="assertive">
        {phase.kind === "video" ? t("call.incomingVideo") : t("call.incomingAudio")}
      </h2>
      <p id="incoming-body">{t("call.incomingBody")}</p>
      {session.error.value && (
        <p class="hcw-field-error" role="alert">
          {failText(session.error.value)}
        </p>
      )}
      <div class="hcw-actions">
        <button ref={acceptRef} type="button" id="call-accept" class="hcw-button hcw-button-ok" disabled={session.busy.value} onClick={() => void session.accept()}>
          {t("call.accept")}
        </button>
        <button type="button" id="call-decline" class="hcw-button hcw-button-danger" disabled={session.busy.value} onClick={() => void session.decline()}>
          {t("call.decline")}
        </button>
      </div>
    </section>
  );
}

/**
 * Where the focus goes when a phase begins and the button that had it is
 * gone (Accept, Join the call, Leave): the phase's own control. Phases
 * pass quickly (ringing, available, precall as a call is answered): one
 * whose control is already gone moves nothing, and the next one has it.
 */
const PHASE_FOCUS: Record<Exclude<CallPhase["name"], "none">, string | null> = {
  ringing: "call-accept",
  available: "call-join",
  precall: "precall-title",
  joining: null,
  in_call: "call-mute",
  failed: "call-failed-close",
  ended: "call-ended-close",
};

export interface CallPanelProps {
  session: CallSession;
  /** Doctors hang up for everyone; participants leave. */
  leaveLabel?: string;
  /** Skip the pre-call check (doctors go straight in). */
  precall?: boolean;
  /** Tests pass fakes and silence. */
  precallOptions?: PrecallOptions;
  ring?: boolean;
  /** Where the focus goes when the call is over and the panel empty (ids, the first that can take it). */
  fallbackFocus?: string[];
}

/** Everything about the consultation's call, by phase. Renders nothing when there is no call. */
export function CallPanel({ session, leaveLabel, precall = true, precallOptions, ring, fallbackFocus = ["page-title"] }: CallPanelProps) {
  const phase = session.phase.value;
  // A new phase (not the first one): if the focus was on a button that is gone, it goes to the new phase's
  // main control, or when the call is over to the fallback. While joining it waits for the call's controls.
  const mounted = useRef(false);
  useEffect(() => {
    if (!mounted.current) {
      mounted.current = true;
      return;
    }
    if (phase.name === "none") keepFocus(...fallbackFocus);
    else {
      const id = PHASE_FOCUS[phase.name];
      if (id) keepFocus(id);
    }
  }, [phase.name]);
  switch (phase.name) {
    case "none":
      return null;
    case "ringing":
      return <IncomingCall session={session} phase={phase} ring={ring} />;
    case "available":
      return (
        <section class="hcw-card hcw-call-available" aria-live="polite">
          <p>{t("call.available")}</p>
          <button
            type="button"
            id="call-join"
            class="hcw-button hcw-button-ok"
            onClick={() => (precall ? void session.accept() : void session.join(null))}
          >
            {t("call.join")}
          </button>
        </section>
      );
    case "precall":
      return <PrecallScreen video={phase.kind === "video"} onContinue={(s) => void session.join(s)} options={precallOptions} />;
    case "joining":
      return (
        <p class="hcw-busy" role="status" id="call-joining">
          {t("call.joining")}
        </p>
      );
    case "in_call":
      return <CallScreen client={phase.client} onLeave={() => void session.leave()} leaveLabel={leaveLabel} />;
    case "failed":
      return (
        <section class="hcw-card" role="alert" id="call-failed" data-code={phase.code}>
          <p>{failText(phase.code)}</p>
          <button type="button" id="call-failed-close" class="hcw-button" onClick={() => session.dismiss()}>
            {t("common.close")}
          </button>
        </section>
      );
    case "ended":
      return (
        <section class="hcw-card" role="status" id="call-ended" data-reason={phase.reason}>
          <p>{endText(phase.reason)}</p>
          <button type="button" id="call-ended-close" class="hcw-button" onClick={() => session.dismiss()}>
            {t("common.close")}
          </button>
        </section>
      );
  }
}
