/**
 * History: my closed consultations (date, patient, duration, the patient's
 * rating), newest first, page by page; one opens read-only with its chat
 * and the private note.
 */
import { useEffect, useMemo } from "preact/hooks";
import { useSignal } from "@preact/signals";
import { ChatStore, type ChatTransport } from "../shared/chat";
import { ChatPanel } from "../shared/ChatPanel";
import { formatDate, t } from "../shared/i18n";
import * as api from "./api";
import { errorCode } from "./auth";

export interface HistoryDeps {
  history: typeof api.consultationHistory;
  detail: typeof api.getConsultationDetail;
  chat: (consultationId: string) => ChatTransport;
}

const defaultDeps: HistoryDeps = { history: api.consultationHistory, detail: api.getConsultationDetail, chat: api.doctorChat };

function patientName(c: api.ConsultationDetail): string {
  const p = c.patient;
  return (p ? `${p.first_name} ${p.last_name}`.trim() : "") || t("doctor.unnamedPatient");
}

/** Whole minutes from acceptance to close; null when never accepted. */
export function durationMinutes(c: Pick<api.ConsultationDetail, "accepted_at" | "closed_at">): number | null {
  if (!c.accepted_at || !c.closed_at) return null;
  const ms = Date.parse(c.closed_at) - Date.parse(c.accepted_at);
  return Number.isFinite(ms) && ms >= 0 ? Math.round(ms / 60_000) : null;
}

function durationText(c: api.ConsultationDetail): string {
  const m = durationMinutes(c);
  if (m === null) return c.close_reason === "cancelled" ? t("doctor.historyCancelled") : "—";
  if (m < 1) return t("doctor.durationUnderMinute");
  return t("doctor.durationMinutes", { count: m });
}

function ratingText(rating: string): string {
  switch (rating) {
    case "good":
      return t("doctor.rating.good");
    case "ok":
      return t("doctor.rating.ok");
    case "bad":
      return t("doctor.rating.bad");
    default:
      return rating;
  }
}

/** The patient's rating, else the first one given. */
function rating(c: api.ConsultationDetail): api.Feedback | undefined {
  const list = c.feedback ?? [];
  return list.find((f) => f.role === "patient") ?? list[0];
}

function HistoryList({ deps, onOpen }: { deps: HistoryDeps; onOpen: (id: string) => void }) {
  const rows = useSignal<api.ConsultationDetail[]>([]);
  const next = useSignal<string | undefined>(undefined);
  const loaded = useSignal(false);
  const busy = useSignal(false);
  const error = useSignal<string | null>(null);

  const load = async (cursor?: string) => {
    busy.value = true;
    error.value = null;
    try {
      const page = await deps.history(cursor);
      rows.value = cursor ? [...rows.value, ...page.consultations] : page.consultations;
      next.value = page.next;
      loaded.value = true;
    } catch (err) {
      error.value = errorCode(err);
    } finally {
      busy.value = false;
    }
  };

  useEffect(() => void load(), []);

  return (
    <section class="hcw-card" aria-labelledby="history-title" aria-busy={busy.value}>
      <h2 id="history-title" class="hcw-card-title">
        {t("doctor.historyTitle")}
      </h2>
      {error.value && (
        <p class="hcw-field-error" role="alert" id="history-error">
          {error.value === "network" ? t("doctor.error.network") : t("doctor.error.generic")}
        </p>
      )}
      {!loaded.value && !error.value && <p class="hcw-busy">{t("common.loading")}</p>}
      {loaded.value && rows.value.length === 0 && <p class="hcw-muted">{t("doctor.historyEmpty")}</p>}
      {rows.value.length > 0 && (
        <div class="hcw-table-wrap">
          <table id="history-table" class="hcw-table">
            <thead>
              <tr>
                <th scope="col">{t("doctor.historyDate")}</th>
                <th scope="col">{t("doctor.historyPatient")}</th>
                <th scope="col">{t("doctor.historyDuration")}</th>
                <th scope="col">{t("doctor.historyRating")}</th>
                <th scope="col">
                  <span class="hcw-visually-hidden">{t("doctor.historyActions")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.value.map((c) => {
                const when = c.closed_at ?? c.created_at;
                const r = rating(c);
                return (
                  <tr key={c.id} data-consultation-id={c.id}>
                    <td>
                      <time dateTime={when}>{formatDate(when, "datetime")}</time>
                    </td>
                    <td>{patientName(c)}</td>
                    <td>{durationText(c)}</td>
                    <td>{r ? ratingText(r.rating) : <span class="hcw-muted">{t("doctor.noRating")}</span>}</td>
                    <td>
                      <button
                        type="button"
                        id={`history-open-${c.id}`}
                        class="hcw-button hcw-button-secondary"
                        aria-label={t("doctor.historyOpen", { name: patientName(c) })}
                        onClick={() => onOpen(c.id)}
                      >
                        {t("doctor.open")}
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {next.value && (
        <button type="button" id="history-more" class="hcw-button hcw-button-secondary" disabled={busy.value} onClick={() => void load(next.value)}>
          {t("doctor.historyMore")}
        </button>
      )}
    </section>
  );
}

function HistoryDetail({ id, userId, deps, onBack }: { id: string; userId: string; deps: HistoryDeps; onBack: () => void }) {
  const c = useSignal<api.ConsultationDetail | null>(null);
  const error = useSignal<string | null>(null);
  // Read-only: no read receipts for a closed consultation.
  const chat = useMemo(() => new ChatStore({ ...deps.chat(id), markRead: async () => undefined }, { userId }), [id]);

  useEffect(() => {
    deps.detail(id).then(
      (d) => (c.value = d),
      (err) => (error.value = errorCode(err)),
    );
    void chat.sync();
    document.getElementById("history-detail-title")?.focus();
    return () => chat.dispose();
  }, [id]);

  const d = c.value;
  const feedback = d?.feedback ?? [];
  return (
    <div class="hcw-consultation">
      <p>
        <button type="button" class="hcw-link-button" id="history-back" onClick={onBack}>
          {t("doctor.historyBack")}
        </button>
      </p>
      <section class="hcw-card" aria-labelledby="history-detail-title">
        <h2 id="history-detail-title" class="hcw-card-title" tabIndex={-1}>
          {d ? patientName(d) : t("common.loading")}
        </h2>
        {error.value && (
          <p class="hcw-field-error" role="alert">
            {t("doctor.error.generic")}
          </p>
        )}
        {d && (
          <dl class="hcw-facts" id="history-facts">
            <dt>{t("doctor.historyDate")}</dt>
            <dd>{formatDate(d.closed_at ?? d.created_at, "datetime")}</dd>
            <dt>{t("doctor.historyDuration")}</dt>
            <dd>{durationText(d)}</dd>
            <dt>{t("doctor.historyRating")}</dt>
            <dd>
              {feedback.length === 0
                ? t("doctor.noRating")
                : feedback.map((f) => (
                    <p key={f.participant_id} class="hcw-feedback">
                      {ratingText(f.rating)}
                      {f.comment && (
                        <>
                          {" — "}
                          <q dir="auto">{f.comment}</q>
                        </>
                      )}
                    </p>
                  ))}
            </dd>
          </dl>
        )}
      </section>
      {d && (
        <section class="hcw-card" aria-labelledby="history-note-title">
          <h2 id="history-note-title" class="hcw-card-title">
            {t("doctor.noteTitle")}
          </h2>
          {d.note ? (
            <p id="history-note" class="hcw-note-text" dir="auto">
              {d.note}
            </p>
          ) : (
            <p id="history-note" class="hcw-muted">
              {t("doctor.noNote")}
            </p>
          )}
        </section>
      )}
      <ChatPanel chat={chat} idPrefix="history-chat" senderLabel={(item) => (item.senderParticipantId ? (d ? patientName(d) : t("call.otherParticipant")) : t("chat.careTeam"))} readOnly />
    </div>
  );
}

/** The history section: the list, or one consultation read-only (the list stays loaded behind it). */
export function HistoryView({ userId, deps }: { userId: string; deps?: Partial<HistoryDeps> }) {
  const all = useMemo(() => ({ ...defaultDeps, ...deps }), [deps]);
  const open = useSignal<string | null>(null);
  const back = (id: string) => {
    open.value = null;
    // Back where the doctor was: the row's Open button.
    setTimeout(() => document.getElementById(`history-open-${id}`)?.focus(), 0);
  };
  return (
    <>
      {open.value && <HistoryDetail id={open.value} userId={userId} deps={all} onBack={() => back(open.value ?? "")} />}
      <div hidden={open.value !== null}>
        <HistoryList deps={all} onOpen={(id) => (open.value = id)} />
      </div>
    </>
  );
}
