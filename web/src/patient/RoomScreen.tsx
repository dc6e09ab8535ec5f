import { useEffect, useMemo } from "preact/hooks";
import { useSignal } from "@preact/signals";
import type { Participation } from "../shared/api-types";
import { CallPanel } from "../shared/CallPanel";
import type { ChatItem } from "../shared/chat";
import { ChatPanel } from "../shared/ChatPanel";
import type { PrecallOptions } from "../shared/precall";
import { PrecallScreen } from "../shared/PrecallScreen";
import { keepFocus } from "../shared/focus";
import { formatDate, t } from "../shared/i18n";
import type { EndReason } from "./flow";
import { WaitingRoom } from "./room";

export interface RoomScreenProps {
  participation: Participation;
  onEnd: (reason: EndReason) => void;
  /** Told when the consultation's status changes (the page title follows it). */
  onStatus?: (status: Participation["consultation_status"]) => void;
  /** Tests pass a room with fakes. */
  createRoom?: (p: Participation) => WaitingRoom;
  /** Tests pass fake devices for the pre-call check, and silence the ringer. */
  precallOptions?: PrecallOptions;
  ring?: boolean;
}

/** The browser's online state, live. */
function useOnline() {
  const online = useSignal(globalThis.navigator?.onLine ?? true);
  useEffect(() => {
    const up = () => (online.value = true);
    const down = () => (online.value = false);
    window.addEventListener("online", up);
    window.addEventListener("offline", down);
    return () => {
      window.removeEventListener("online", up);
      window.removeEventListener("offline", down);
    };
  }, []);
  return online;
}

/** The current time, every 30 s (for "in about N minutes"). */
function useNow(intervalMs = 30_000) {
  const now = useSignal(Date.now());
  useEffect(() => {
    const id = setInterval(() => (now.value = Date.now()), intervalMs);
    return () => clearInterval(id);
  }, [intervalMs]);
  return now;
}

function senderLabel(item: ChatItem): string {
  return item.senderUserId ? t("chat.careTeam") : t("chat.otherParticipant");
}

function WaitingStatus({ room, now }: { room: WaitingRoom; now: number }) {
  const position = room.position.value;
  const estimate = room.estimatedStartAt.value;
  const lines: string[] = [];
  if (position === 1) lines.push(t("room.next"));
  else if (position !== undefined && position > 1) lines.push(t("room.ahead", { count: position - 1 }));
  else lines.push(t("room.waiting"));
  return (
    <>
      {/* Read out when the place changes, not every time anything re-renders. */}
      <p class="hcw-position" aria-live="polite" aria-atomic="true" id="queue-position">
        {lines.join(" ")}
      </p>
      {estimate !== undefined && <Estimate at={estimate} now={now} />}
    </>
  );
}

function Estimate({ at, now }: { at: string; now: number }) {
  const ms = Date.parse(at) - now;
  if (Number.isNaN(ms)) return null;
  const minutes = Math.round(ms / 60_000);
  return (
    <p class="hcw-estimate" aria-live="polite" aria-atomic="true" id="queue-estimate">
      {minutes <= 0 ? (
        t("room.estimateNow")
      ) : (
        <>
          {t("room.estimate", { time: formatDate(at, "time") })} {t("room.estimateIn", { count: minutes })}
        </>
      )}
    </p>
  );
}

/** The waiting room and, once a doctor accepted, the consultation's page. */
export function RoomScreen({ participation, onEnd, onStatus, createRoom, precallOptions, ring }: RoomScreenProps) {
  // One room per participant and consultation: a status update of the
  // participation (the title) must not reconnect.
  const room = useMemo(
    () => (createRoom ?? ((p) => new WaitingRoom(p)))(participation),
    [participation.participant_id, participation.consultation_id, createRoom],
  );
  const online = useOnline();
  const now = useNow();

  useEffect(() => {
    room.start();
    return () => room.stop();
  }, [room]);

  const ended = room.ended.value;
  useEffect(() => {
    if (ended) onEnd(ended);
  }, [ended, onEnd]);

  const status = room.status.value;
  useEffect(() => {
    if (status !== "closed") onStatus?.(status);
  }, [status, onStatus]);
  const connection = room.realtime.state.value;
  const testing = useSignal(false);
  const callPhase = room.call.phase.value.name;

  return (
    <div class="hcw-room">
      {connection === "reconnecting" && (
        <p class="hcw-notice hcw-notice-warn" role="status" id="connection-status">
          {online.value ? t("connection.reconnecting") : t("connection.offline")}
        </p>
      )}
      <CallPanel session={room.call} precallOptions={precallOptions} ring={ring} fallbackFocus={["precall-open", "page-title"]} />
      {testing.value && callPhase === "none" && (
        <PrecallScreen
          video
          options={precallOptions}
          continueLabel={t("precall.done")}
          onContinue={(stream) => {
            for (const tr of stream?.getTracks() ?? []) tr.stop();
            testing.value = false;
            keepFocus("precall-open", "page-title");
          }}
        />
      )}
      <section class="hcw-card hcw-status" aria-labelledby="status-title">
        <h2 id="status-title" class="hcw-card-title">
          {t("room.statusHeading")}
        </h2>
        {participation.queue_name && <p class="hcw-muted">{t("room.queue", { name: participation.queue_name })}</p>}
        {room.doctorJoined.value && (
          <p class="hcw-notice hcw-notice-ok" role="alert" id="doctor-joined">
            {t("room.doctorJoined")}
          </p>
        )}
        {room.transferred.value && status === "pending" && (
          <p class="hcw-notice" role="status">
            {t("room.transferred")}
          </p>
        )}
        {status === "active" ? (
          <p>{t("room.active")}</p>
        ) : (
          <>
            <WaitingStatus room={room} now={now.value} />
            <p class="hcw-muted">{t("room.intro")}</p>
          </>
        )}
        {!testing.value && callPhase === "none" && (
          <button type="button" id="precall-open" class="hcw-button hcw-button-secondary" onClick={() => (testing.value = true)}>
            {t("precall.open")}
          </button>
        )}
      </section>
      <ChatPanel chat={room.chat} senderLabel={senderLabel} />
    </div>
  );
}
