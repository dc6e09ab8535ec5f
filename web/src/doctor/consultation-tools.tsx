/**
 * The consultation view's tools: the participants (live) with "Add
 * participant" and "Request an interpreter", the private note, and the
 * transfer to another queue; and the wait estimate of a waiting patient.
 */
import { useEffect, useMemo } from "preact/hooks";
import { useSignal } from "@preact/signals";
import { ApiError } from "../shared/api";
import { Confirm } from "../shared/confirm";
import { LANGUAGE_NAMES, formatDate, language, t } from "../shared/i18n";
import { branding } from "../shared/branding";
import type { Fits, Queue } from "../shared/api-types";
import * as api from "./api";
import type { Colleague, TransferTarget } from "./api";
import { errorCode } from "./auth";
import { MAX_NOTE_LENGTH, NoteDraft, shownInviteStatus, type ParticipantsStore } from "./consultation-stores";

export type ToolsApi = Pick<
  typeof api,
  "saveNote" | "addParticipant" | "interpreterOrganisations" | "requestInterpreter" | "myQueues" | "colleagues" | "transferConsultation" | "sendEstimate"
>;

// ---------------------------------------------------------------- words

export function roleLabel(role: string): string {
  switch (role) {
    case "patient":
      return t("doctor.role.patient");
    case "guest":
      return t("doctor.role.guest");
    case "interpreter":
      return t("doctor.role.interpreter");
    case "expert":
      return t("doctor.role.expert");
    default:
      return role;
  }
}

export function inviteStatusLabel(status: string | undefined): string | null {
  switch (status) {
    case "created":
    case "sent":
      return t("doctor.inviteStatus.sent");
    case "delivery_failed":
      return t("doctor.inviteStatus.delivery_failed");
    case "opened":
      return t("doctor.inviteStatus.opened");
    case "redeemed":
      return t("doctor.inviteStatus.redeemed");
    case "expired":
      return t("doctor.inviteStatus.expired");
    case "revoked":
      return t("doctor.inviteStatus.revoked");
    default:
      return null;
  }
}

/** A language's name in the current language (fr -> "French"), or the tag. */
export function languageName(tag: string): string {
  try {
    const names = new Intl.DisplayNames([language.value], { type: "language" });
    return names.of(tag) ?? tag;
  } catch {
    return (LANGUAGE_NAMES as Record<string, string>)[tag] ?? tag;
  }
}

/** The text of a refused tool action. */
function actionError(code: string): string {
  switch (code) {
    case "consultation_closed":
      return t("doctor.closedNotice");
    case "invalid_state":
      return t("doctor.error.wrongState");
    case "network":
      return t("doctor.error.network");
    default:
      return t("doctor.error.generic");
  }
}

function useCopy() {
  const copied = useSignal(false);
  const copy = async (text: string, fallbackId: string) => {
    try {
      await navigator.clipboard.writeText(text);
      copied.value = true;
    } catch {
      // No clipboard (permissions, http): select the text to copy by hand.
      const el = document.getElementById(fallbackId);
      const sel = globalThis.getSelection?.();
      if (el && sel) {
        const range = document.createRange();
        range.selectNodeContents(el);
        sel.removeAllRanges();
        sel.addRange(range);
      }
    }
  };
  return { copied, copy };
}

// ---------------------------------------------------------------- note

export function NotePanel({ consultationId, initial, save }: { consultationId: string; initial: string; save?: ToolsApi["saveNote"] }) {
  const draft = useMemo(() => new NoteDraft(consultationId, initial, save ? { save } : {}), [consultationId]);
  useEffect(() => {
    const flush = () => draft.dispose();
    globalThis.addEventListener?.("pagehide", flush);
    return () => {
      globalThis.removeEventListener?.("pagehide", flush);
      draft.dispose();
    };
  }, [draft]);
  const state = draft.state.value;
  const tooLong = [...draft.text.value].length > MAX_NOTE_LENGTH;
  let status: string;
  if (tooLong) status = t("doctor.noteTooLong", { max: MAX_NOTE_LENGTH });
  else if (state === "saving") status = t("doctor.noteSaving");
  else if (state === "dirty") status = t("doctor.noteUnsaved");
  else if (state === "error") status = t("doctor.noteError");
  else status = draft.savedAt.value ? t("doctor.noteSavedAt", { time: formatDate(draft.savedAt.value, "time") }) : "";
  return (
    <section class="hcw-card" aria-labelledby="note-title">
      <h2 id="note-title" class="hcw-card-title">
        {t("doctor.noteTitle")}
      </h2>
      <div class="hcw-field">
        <label for="note-text">{t("doctor.noteLabel")}</label>
        <textarea
          id="note-text"
          class="hcw-note"
          rows={6}
          dir="auto"
          value={draft.text.value}
          aria-describedby="note-hint note-status"
          aria-invalid={tooLong}
          onInput={(e) => draft.input(e.currentTarget.value)}
          onBlur={() => void draft.save()}
        />
        <p id="note-hint" class="hcw-hint">
          {t("doctor.noteHint")}
        </p>
        <p id="note-status" class={state === "error" || tooLong ? "hcw-field-error" : "hcw-hint"} role="status" data-state={state}>
          {status}
        </p>
      </div>
      <button type="button" id="note-save" class="hcw-button hcw-button-secondary" disabled={state === "saved" || state === "saving" || tooLong} onClick={() => void draft.save()}>
        {t("doctor.noteSave")}
      </button>
    </section>
  );
}

// ---------------------------------------------------------------- participants

type Delivery = Fits<"link" | "email", NonNullable<api.NewParticipant["delivery"]>>;
type Role = Fits<"guest" | "interpreter" | "expert", api.NewParticipant["role"]>;

export function AddParticipantForm({ consultationId, add = api.addParticipant, onAdded }: { consultationId: string; add?: ToolsApi["addParticipant"]; onAdded?: () => void }) {
  const role = useSignal<Role>("guest");
  const first = useSignal("");
  const last = useSignal("");
  const email = useSignal("");
  const phone = useSignal("");
  // The languages the clinic offers (the server refuses others): the
  // doctor's own first when it is one of them.
  const offered = branding.value.languages;
  const lang = useSignal<string>(offered.includes(language.value) ? language.value : (offered[0] ?? "en"));
  const delivery = useSignal<Delivery>("link");
  const problem = useSignal<string | null>(null);
  const busy = useSignal(false);
  const result = useSignal<{ link: string | null; email: string } | null>(null);
  const { copied, copy } = useCopy();

  const submit = async (e: Event) => {
    e.preventDefault();
    const body: api.NewParticipant = { role: role.value, first_name: first.value.trim(), last_name: last.value.trim(), language: lang.value, delivery: delivery.value };
    const mail = email.value.trim();
    const tel = phone.value.replace(/[\s().-]/g, "");
    if (!body.first_name || !body.last_name) problem.value = "missing_name";
    else if (delivery.value === "email" && !mail) problem.value = "email_needed";
    else if (!mail && !tel) problem.value = "missing_contact";
    else problem.value = null;
    if (problem.value) return;
    if (mail) body.email = mail;
    if (tel) body.phone = tel;
    busy.value = true;
    result.value = null;
    copied.value = false;
    try {
      const issued = await add(consultationId, body);
      result.value = { link: delivery.value === "link" ? issued.link : null, email: mail };
      first.value = last.value = email.value = phone.value = "";
      onAdded?.();
    } catch (err) {
      // Offered when the page loaded, since withdrawn by an administrator.
      problem.value = err instanceof ApiError && err.field === "language" ? "language_not_offered" : errorCode(err);
    } finally {
      busy.value = false;
    }
  };

  let problemText: string | null = null;
  switch (problem.value) {
    case null:
      break;
    case "missing_name":
      problemText = t("doctor.participantNameNeeded");
      break;
    case "missing_contact":
      problemText = t("doctor.participantContactNeeded");
      break;
    case "email_needed":
      problemText = t("doctor.participantEmailNeeded");
      break;
    case "language_not_offered":
      problemText = t("doctor.participantLanguageNotOffered");
      break;
    case "invalid_request":
      problemText = t("doctor.inviteError");
      break;
    default:
      problemText = actionError(problem.value);
  }

  return (
    <form id="add-participant-form" class="hcw-form hcw-subform" aria-labelledby="add-participant-title" noValidate onSubmit={submit}>
      <h3 id="add-participant-title" class="hcw-subtitle">
        {t("doctor.addParticipantTitle")}
      </h3>
      <div class="hcw-field">
        <label for="participant-role">{t("doctor.participantRole")}</label>
        <select id="participant-role" value={role.value} onChange={(e) => (role.value = e.currentTarget.value as Role)}>
          <option value="guest">{t("doctor.role.guest")}</option>
          <option value="interpreter">{t("doctor.role.interpreter")}</option>
          <option value="expert">{t("doctor.role.expert")}</option>
        </select>
      </div>
      <div class="hcw-field">
        <label for="participant-first-name">{t("doctor.firstName")}</label>
        <input id="participant-first-name" autoComplete="off" value={first.value} onInput={(e) => (first.value = e.currentTarget.value)} />
      </div>
      <div class="hcw-field">
        <label for="participant-last-name">{t("doctor.lastName")}</label>
        <input id="participant-last-name" autoComplete="off" value={last.value} onInput={(e) => (last.value = e.currentTarget.value)} />
      </div>
      <div class="hcw-field">
        <label for="participant-email">{t("doctor.email")}</label>
        <input id="participant-email" type="email" autoComplete="off" value={email.value} onInput={(e) => (email.value = e.currentTarget.value)} />
      </div>
      <div class="hcw-field">
        <label for="participant-phone">{t("doctor.phone")}</label>
        <input id="participant-phone" type="tel" autoComplete="off" aria-describedby="participant-contact-hint" value={phone.value} onInput={(e) => (phone.value = e.currentTarget.value)} />
        <p id="participant-contact-hint" class="hcw-hint">
          {t("doctor.participantContactHint")}
        </p>
      </div>
      <div class="hcw-field">
        <label for="participant-language">{t("doctor.participantLanguage")}</label>
        <select id="participant-language" value={lang.value} onChange={(e) => (lang.value = e.currentTarget.value)}>
          {offered.map((l) => (
            <option key={l} value={l} lang={l}>
              {LANGUAGE_NAMES[l]}
            </option>
          ))}
        </select>
      </div>
      <div class="hcw-field">
        <label for="participant-delivery">{t("doctor.participantDelivery")}</label>
        <select id="participant-delivery" value={delivery.value} onChange={(e) => (delivery.value = e.currentTarget.value as Delivery)}>
          <option value="link">{t("doctor.deliveryLink")}</option>
          <option value="email">{t("doctor.deliveryEmail")}</option>
        </select>
      </div>
      {problemText && (
        <p id="participant-error" class="hcw-field-error" role="alert">
          {problemText}
        </p>
      )}
      <button id="participant-send" type="submit" class="hcw-button" disabled={busy.value}>
        {t("doctor.sendInvite")}
      </button>
      {result.value && (
        <div class="hcw-notice hcw-notice-ok" role="status" id="participant-result">
          {result.value.link ? (
            <>
              <p>{t("doctor.participantLinkReady")}</p>
              <code id="participant-link" data-testid="participant-link" class="hcw-link-output">
                {result.value.link}
              </code>
              <button type="button" id="participant-copy" class="hcw-button hcw-button-secondary" onClick={() => void copy(result.value?.link ?? "", "participant-link")}>
                {copied.value ? t("doctor.copied") : t("doctor.copy")}
              </button>
              <p class="hcw-hint">{t("doctor.inviteLinkOnce")}</p>
            </>
          ) : (
            <p>{t("doctor.participantMailed", { email: result.value.email })}</p>
          )}
        </div>
      )}
    </form>
  );
}

export function InterpreterRequestForm({
  consultationId,
  organisations = api.interpreterOrganisations,
  request = api.requestInterpreter,
}: {
  consultationId: string;
  organisations?: ToolsApi["interpreterOrganisations"];
  request?: ToolsApi["requestInterpreter"];
}) {
  const list = useSignal<api.InterpreterOrganisation[] | null>(null);
  const orgId = useSignal("");
  const lang = useSignal("");
  const busy = useSignal(false);
  const error = useSignal<string | null>(null);
  const sent = useSignal<api.InterpreterRequest | null>(null);

  useEffect(() => {
    organisations().then(
      (l) => (list.value = l),
      (err) => {
        list.value = [];
        error.value = errorCode(err);
      },
    );
  }, []);

  const orgs = list.value ?? [];
  const org = orgs.find((o) => o.id === orgId.value) ?? orgs[0];
  const langs = org?.languages ?? [];
  const chosenLang = langs.includes(lang.value) ? lang.value : (langs[0] ?? "");

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!org || !chosenLang) return;
    busy.value = true;
    error.value = null;
    sent.value = null;
    try {
      sent.value = await request(consultationId, org.id, chosenLang);
    } catch (err) {
      error.value = errorCode(err);
    } finally {
      busy.value = false;
    }
  };

  return (
    <form id="interpreter-form" class="hcw-form hcw-subform" aria-labelledby="interpreter-title" noValidate onSubmit={submit}>
      <h3 id="interpreter-title" class="hcw-subtitle">
        {t("doctor.requestInterpreter")}
      </h3>
      {list.value === null && <p class="hcw-busy">{t("common.loading")}</p>}
      {list.value !== null && orgs.length === 0 && !error.value && <p class="hcw-muted">{t("doctor.noOrganisations")}</p>}
      {orgs.length > 0 && (
        <>
          <p class="hcw-hint">{t("doctor.interpreterHint")}</p>
          <div class="hcw-field">
            <label for="interpreter-organisation">{t("doctor.organisation")}</label>
            <select id="interpreter-organisation" value={org?.id} onChange={(e) => (orgId.value = e.currentTarget.value)}>
              {orgs.map((o) => (
                <option key={o.id} value={o.id}>
                  {o.name}
                </option>
              ))}
            </select>
          </div>
          <div class="hcw-field">
            <label for="interpreter-language">{t("doctor.participantLanguage")}</label>
            <select id="interpreter-language" value={chosenLang} onChange={(e) => (lang.value = e.currentTarget.value)}>
              {langs.map((l) => (
                <option key={l} value={l}>
                  {languageName(l)}
                </option>
              ))}
            </select>
          </div>
          <button id="interpreter-send" type="submit" class="hcw-button" disabled={busy.value || !chosenLang}>
            {t("doctor.sendInterpreterRequest")}
          </button>
        </>
      )}
      {error.value && (
        <p id="interpreter-error" class="hcw-field-error" role="alert">
          {actionError(error.value)}
        </p>
      )}
      {sent.value && (
        <p id="interpreter-sent" class="hcw-notice hcw-notice-ok" role="status">
          {t("doctor.interpreterRequested", { count: sent.value.mailed })}
        </p>
      )}
    </form>
  );
}

export function ParticipantsPanel({ store, consultationId, closed, api: a = api }: { store: ParticipantsStore; consultationId: string; closed: boolean; api?: ToolsApi }) {
  const open = useSignal<"add" | "interpreter" | null>(null);
  const list = store.list.value;
  const toggle = (which: "add" | "interpreter") => (open.value = open.value === which ? null : which);
  return (
    <section class="hcw-card" aria-labelledby="participants-title">
      <h2 id="participants-title" class="hcw-card-title">
        {t("doctor.participantsTitle")}
      </h2>
      {store.error.value && !store.loaded.value && (
        <p class="hcw-notice hcw-notice-warn" role="status">
          {t("doctor.participantsError")}
        </p>
      )}
      <ul id="participants-list" class="hcw-rows" aria-live="polite">
        {list.map((p) => {
          const name = p.display_name || `${p.first_name} ${p.last_name}`.trim() || roleLabel(p.role);
          const status = inviteStatusLabel(shownInviteStatus(p));
          return (
            <li key={p.participant_id} class="hcw-row" data-participant-id={p.participant_id} data-role={p.role}>
              <span class="hcw-row-main">
                <strong>{name}</strong> <span class="hcw-muted">· {roleLabel(p.role)}</span>{" "}
                <span class={p.online ? "hcw-online" : "hcw-offline"}>{p.online ? t("doctor.online") : t("doctor.offline")}</span>
                {status && <span class="hcw-muted"> · {status}</span>}
              </span>
            </li>
          );
        })}
      </ul>
      {!closed && (
        <div class="hcw-actions">
          <button
            type="button"
            id="add-participant"
            class="hcw-button hcw-button-secondary"
            aria-expanded={open.value === "add"}
            aria-controls="add-participant-form"
            onClick={() => toggle("add")}
          >
            {t("doctor.addParticipant")}
          </button>
          <button
            type="button"
            id="request-interpreter"
            class="hcw-button hcw-button-secondary"
            aria-expanded={open.value === "interpreter"}
            aria-controls="interpreter-form"
            onClick={() => toggle("interpreter")}
          >
            {t("doctor.requestInterpreter")}
          </button>
        </div>
      )}
      {!closed && open.value === "add" && <AddParticipantForm consultationId={consultationId} add={a.addParticipant} onAdded={() => void store.refresh()} />}
      {!closed && open.value === "interpreter" && (
        <InterpreterRequestForm consultationId={consultationId} organisations={a.interpreterOrganisations} request={a.requestInterpreter} />
      )}
    </section>
  );
}

// ---------------------------------------------------------------- transfer

export function TransferPanel({
  consultationId,
  currentQueueId,
  onTransferred,
  api: a = api,
}: {
  consultationId: string;
  currentQueueId?: string | undefined;
  onTransferred: () => void;
  api?: Pick<ToolsApi, "myQueues" | "colleagues" | "transferConsultation">;
}) {
  const queues = useSignal<Queue[]>([]);
  const doctors = useSignal<Colleague[]>([]);
  // "q:<queue id>" or "d:<doctor id>".
  const chosen = useSignal("");
  const confirming = useSignal(false);
  const busy = useSignal(false);
  const error = useSignal<string | null>(null);

  useEffect(() => {
    a.myQueues().then(
      (q) => (queues.value = q),
      () => (queues.value = []),
    );
    a.colleagues().then(
      (d) => (doctors.value = d),
      () => (doctors.value = []),
    );
  }, []);

  const list = queues.value;
  const others = doctors.value;
  if (list.length === 0 && others.length === 0) return null;
  const targets = [
    ...list.map((q) => ({ value: `q:${q.id}`, name: q.name, to: { queue_id: q.id } as TransferTarget })),
    ...others.map((d) => ({ value: `d:${d.id}`, name: `${d.first_name} ${d.last_name}`.trim(), to: { doctor_id: d.id } as TransferTarget })),
  ];
  const target =
    targets.find((x) => x.value === chosen.value) ?? targets.find((x) => x.value !== `q:${currentQueueId ?? ""}`) ?? targets[0]!;

  const transfer = async () => {
    busy.value = true;
    error.value = null;
    try {
      await a.transferConsultation(consultationId, target.to);
      confirming.value = false;
      onTransferred();
    } catch (err) {
      error.value = errorCode(err);
      confirming.value = false;
    } finally {
      busy.value = false;
    }
  };

  return (
    <section class="hcw-card" aria-labelledby="transfer-title">
      <h2 id="transfer-title" class="hcw-card-title" tabIndex={-1}>
        {t("doctor.transferTitle")}
      </h2>
      <p class="hcw-hint" id="transfer-hint">
        {t("doctor.transferHint")}
      </p>
      <div class="hcw-field">
        <label for="transfer-queue">{t("doctor.transferTo")}</label>
        <select id="transfer-queue" value={target.value} aria-describedby="transfer-hint" onChange={(e) => (chosen.value = e.currentTarget.value)}>
          {list.length > 0 && (
            <optgroup label={t("doctor.transferQueues")}>
              {list.map((q) => (
                <option key={q.id} value={`q:${q.id}`}>
                  {q.name}
                </option>
              ))}
            </optgroup>
          )}
          {others.length > 0 && (
            <optgroup label={t("doctor.transferColleagues")}>
              {others.map((d) => (
                <option key={d.id} value={`d:${d.id}`}>
                  {`${d.first_name} ${d.last_name}`.trim()}
                </option>
              ))}
            </optgroup>
          )}
        </select>
      </div>
      {!confirming.value && (
        <button type="button" id="transfer-start" class="hcw-button hcw-button-secondary" onClick={() => (confirming.value = true)}>
          {t("doctor.transfer")}
        </button>
      )}
      {confirming.value && (
        <Confirm
          id="transfer-dialog"
          ids={{ text: "confirm-transfer-text", yes: "confirm-transfer", no: "cancel-transfer" }}
          title={t("doctor.transfer")}
          text={t("doctor.transferConfirm", { queue: target.name })}
          yes={t("doctor.transferYes")}
          tone="primary"
          busy={busy.value}
          onYes={() => void transfer()}
          onNo={() => (confirming.value = false)}
          returnFocus="transfer-start"
          fallbackFocus="transfer-title"
        />
      )}
      {error.value && (
        <p id="transfer-error" class="hcw-field-error" role="alert">
          {actionError(error.value)}
        </p>
      )}
    </section>
  );
}

// ---------------------------------------------------------------- estimate (a waiting patient)

export function EstimateControl({ consultationId, current, send = api.sendEstimate }: { consultationId: string; current?: string | undefined; send?: ToolsApi["sendEstimate"] }) {
  const open = useSignal(false);
  const minutes = useSignal("10");
  const busy = useSignal(false);
  const error = useSignal<string | null>(null);
  const startAt = useSignal<string | undefined>(current);
  const formId = `estimate-form-${consultationId}`;
  const n = Number(minutes.value);
  const valid = Number.isInteger(n) && n >= 1 && n <= 240;

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!valid) return;
    busy.value = true;
    error.value = null;
    try {
      const c = await send(consultationId, n);
      startAt.value = c.estimated_start_at ?? new Date(Date.now() + n * 60_000).toISOString();
      open.value = false;
    } catch (err) {
      error.value = errorCode(err);
    } finally {
      busy.value = false;
    }
  };

  return (
    <div class="hcw-estimate">
      {startAt.value && (
        <span class="hcw-muted" id={`estimate-sent-${consultationId}`} role="status">
          {t("doctor.estimateSent", { time: formatDate(startAt.value, "time") })}{" "}
        </span>
      )}
      <button
        type="button"
        id={`estimate-${consultationId}`}
        class="hcw-link-button"
        aria-expanded={open.value}
        aria-controls={formId}
        onClick={() => (open.value = !open.value)}
      >
        {t("doctor.estimate")}
      </button>
      {open.value && (
        <form id={formId} class="hcw-inline-form" noValidate onSubmit={submit}>
          <label for={`estimate-minutes-${consultationId}`}>{t("doctor.estimateMinutes")}</label>
          <input
            id={`estimate-minutes-${consultationId}`}
            type="number"
            inputMode="numeric"
            min={1}
            max={240}
            step={1}
            value={minutes.value}
            aria-invalid={!valid}
            onInput={(e) => (minutes.value = e.currentTarget.value)}
          />
          <button type="submit" id={`estimate-send-${consultationId}`} class="hcw-button hcw-button-secondary" disabled={busy.value || !valid}>
            {t("doctor.estimateSend")}
          </button>
          {error.value && (
            <p class="hcw-field-error" role="alert">
              {actionError(error.value)}
            </p>
          )}
        </form>
      )}
    </div>
  );
}
