/**
 * The audit trail: the check of its hash chain, and its events, filtered,
 * newest first, a page at a time. Listing is itself audited, so the events
 * load when asked for, not when the console opens.
 */
import { useMemo } from "preact/hooks";
import { useSignal } from "@preact/signals";
import { ApiError } from "../shared/api";
import { language, t } from "../shared/i18n";
import type { AdminApi, AuditCheck, AuditEvent } from "./api";
import { AuditTrail, errorCode, NO_AUDIT_FILTERS, type AuditFilters } from "./models";
import { ErrorLine, FailureLine, FieldError, invalidProps, refocus, type FieldTexts } from "./ui";

export function AuditSection({ api }: { api: AdminApi }) {
  const result = useSignal<AuditCheck | null>(null);
  const error = useSignal<string | null>(null);
  const busy = useSignal(false);
  const check = async () => {
    busy.value = true;
    error.value = null;
    result.value = null;
    try {
      result.value = await api.verifyAudit();
    } catch (err) {
      // 409: the chain is broken (the body says where; the error shape does not).
      if (err instanceof ApiError && err.status === 409) result.value = { intact: false, rows: 0 };
      else error.value = errorCode(err);
    } finally {
      busy.value = false;
    }
  };
  return (
    <section id="admin-audit" class="hcw-card" aria-labelledby="admin-audit-title">
      <h2 id="admin-audit-title">{t("admin.audit.title")}</h2>
      <button id="audit-verify" type="button" class="hcw-button" disabled={busy.value} onClick={() => void check()}>
        {t("admin.audit.verify")}
      </button>
      <div aria-live="polite" id="audit-result">
        <ErrorLine code={error.value} />
        {result.value &&
          (result.value.intact ? (
            <p class="hcw-notice hcw-notice-ok">{t("admin.audit.intact", { rows: result.value.rows })}</p>
          ) : (
            <p class="hcw-notice hcw-notice-warn">{t("admin.audit.broken")}</p>
          ))}
      </div>
      <AuditEvents api={api} />
    </section>
  );
}

// ---------------------------------------------------------------- events

/** Each filter: its input, and what the API accepts there. */
const FILTER_INPUT: Readonly<Record<string, string>> = {
  action: "audit-action",
  actor_type: "audit-actor-type",
  actor_id: "audit-actor-id",
  object_type: "audit-object-type",
  object_id: "audit-object-id",
  consultation_id: "audit-consultation",
  outcome: "audit-outcome",
  from: "audit-from",
  to: "audit-to",
};

const FILTER_TEXTS: FieldTexts = {
  action: () => t("admin.audit.error.action"),
  actor_type: () => t("admin.error.invalidRequest"),
  actor_id: () => t("admin.audit.error.id"),
  object_type: () => t("admin.audit.error.objectType"),
  object_id: () => t("admin.audit.error.id"),
  consultation_id: () => t("admin.audit.error.id"),
  outcome: () => t("admin.error.invalidRequest"),
  from: () => t("admin.audit.error.time"),
  to: () => t("admin.audit.error.to"),
};

export const ACTOR_TYPES = ["user", "api_key", "participant", "system"] as const;
export const OUTCOMES = ["success", "failure", "denied"] as const;

function actorTypeName(v: string): string {
  switch (v) {
    case "user":
      return t("admin.audit.actorTypes.user");
    case "api_key":
      return t("admin.audit.actorTypes.apiKey");
    case "participant":
      return t("admin.audit.actorTypes.participant");
    case "system":
      return t("admin.audit.actorTypes.system");
    default:
      return v;
  }
}

function outcomeName(v: string): string {
  switch (v) {
    case "success":
      return t("admin.audit.outcomes.success");
    case "failure":
      return t("admin.audit.outcomes.failure");
    case "denied":
      return t("admin.audit.outcomes.denied");
    default:
      return v;
  }
}

const timeFormats = new Map<string, Intl.DateTimeFormat>();

/** An event's time in the viewer's language and time zone, to the second. */
export function eventTime(at: string, lang: string = language.value): string {
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return at;
  let f = timeFormats.get(lang);
  if (!f) timeFormats.set(lang, (f = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "medium" })));
  return f.format(date);
}

function viewerTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    return "";
  }
}

/** A kind and an id, the id as code; a dash for neither. */
function Thing({ kind, id }: { kind: string | null | undefined; id: string | null | undefined }) {
  if (!kind && !id) return <>–</>;
  return (
    <>
      {kind}
      {kind && id && <br />}
      {id && <code>{id}</code>}
    </>
  );
}

function EventRow({ e }: { e: AuditEvent }) {
  return (
    <tr data-seq={e.seq}>
      <th scope="row" id={`audit-row-${e.seq}`} tabIndex={-1}>
        <time dateTime={e.at}>{eventTime(e.at)}</time>
      </th>
      <td>
        <code>{e.action}</code>
      </td>
      <td>
        <Thing kind={actorTypeName(e.actor_type)} id={e.actor_id} />
      </td>
      <td>
        <Thing kind={e.object_type} id={e.object_id} />
      </td>
      <td>{e.consultation_id ? <code>{e.consultation_id}</code> : "–"}</td>
      <td>{e.client_ip || "–"}</td>
      <td>{outcomeName(e.outcome)}</td>
    </tr>
  );
}

function AuditEvents({ api }: { api: AdminApi }) {
  const trail = useMemo(() => new AuditTrail(api), [api]);
  const f = trail.filters.value;
  const failure = trail.failure.value;
  const events = trail.events.value;
  const busy = trail.busy.value;
  const zone = viewerTimeZone();
  const text = (key: keyof AuditFilters, id: string, field: string, label: string, hint?: string) => (
    <div class="hcw-field">
      <label for={id}>{label}</label>
      <input
        id={id}
        value={f[key]}
        spellcheck={false}
        autoComplete="off"
        {...invalidProps(failure, field, `${id}-error`, hint ? `${id}-hint` : undefined)}
        onInput={(e) => trail.set(key, e.currentTarget.value)}
      />
      {hint && (
        <p id={`${id}-hint`} class="hcw-hint">
          {hint}
        </p>
      )}
      <FieldError failure={failure} field={field} id={`${id}-error`} fields={FILTER_TEXTS} />
    </div>
  );
  const when = (key: "from" | "to", id: string, label: string) => (
    <div class="hcw-field">
      <label for={id}>{label}</label>
      <input
        id={id}
        type="datetime-local"
        step={60}
        value={f[key]}
        {...invalidProps(failure, key, `${id}-error`, "audit-zone-hint")}
        onInput={(e) => trail.set(key, e.currentTarget.value)}
      />
      <FieldError failure={failure} field={key} id={`${id}-error`} fields={FILTER_TEXTS} />
    </div>
  );
  const focusProblem = (ok: boolean) => {
    const id = !ok && trail.failure.value?.field ? FILTER_INPUT[trail.failure.value.field] : undefined;
    if (id) refocus(id);
  };
  return (
    <div id="audit-events" role="group" aria-labelledby="audit-events-title">
      <h3 id="audit-events-title">{t("admin.audit.events")}</h3>
      <form
        class="hcw-form"
        noValidate
        aria-labelledby="audit-filters-title"
        onSubmit={(e) => {
          e.preventDefault();
          void trail.search().then(focusProblem);
        }}
      >
        <h4 id="audit-filters-title">{t("admin.audit.filters")}</h4>
        <div class="admin-filters">
          {text("action", "audit-action", "action", t("admin.audit.action"), t("admin.audit.actionHint"))}
          <div class="hcw-field">
            <label for="audit-actor-type">{t("admin.audit.actorType")}</label>
            <select
              id="audit-actor-type"
              value={f.actorType}
              {...invalidProps(failure, "actor_type", "audit-actor-type-error")}
              onChange={(e) => trail.set("actorType", e.currentTarget.value)}
            >
              <option value="">{t("admin.audit.any")}</option>
              {ACTOR_TYPES.map((v) => (
                <option key={v} value={v}>
                  {actorTypeName(v)}
                </option>
              ))}
            </select>
            <FieldError failure={failure} field="actor_type" id="audit-actor-type-error" fields={FILTER_TEXTS} />
          </div>
          {text("actorId", "audit-actor-id", "actor_id", t("admin.audit.actorId"))}
          {text("objectType", "audit-object-type", "object_type", t("admin.audit.objectType"), t("admin.audit.objectTypeHint"))}
          {text("objectId", "audit-object-id", "object_id", t("admin.audit.objectId"))}
          {text("consultationId", "audit-consultation", "consultation_id", t("admin.audit.consultation"))}
          <div class="hcw-field">
            <label for="audit-outcome">{t("admin.audit.outcome")}</label>
            <select
              id="audit-outcome"
              value={f.outcome}
              {...invalidProps(failure, "outcome", "audit-outcome-error")}
              onChange={(e) => trail.set("outcome", e.currentTarget.value)}
            >
              <option value="">{t("admin.audit.any")}</option>
              {OUTCOMES.map((v) => (
                <option key={v} value={v}>
                  {outcomeName(v)}
                </option>
              ))}
            </select>
            <FieldError failure={failure} field="outcome" id="audit-outcome-error" fields={FILTER_TEXTS} />
          </div>
          {when("from", "audit-from", t("admin.audit.from"))}
          {when("to", "audit-to", t("admin.audit.to"))}
        </div>
        <p id="audit-zone-hint" class="hcw-hint">
          {zone ? t("admin.audit.zoneHint", { zone }) : t("admin.audit.zoneHintLocal")}
        </p>
        <div class="hcw-actions">
          <button id="audit-search" type="submit" class="hcw-button" disabled={busy}>
            {t("admin.audit.search")}
          </button>
          <button
            id="audit-clear"
            type="button"
            class="hcw-button hcw-button-secondary"
            onClick={() => {
              trail.filters.value = { ...NO_AUDIT_FILTERS };
              refocus("audit-action");
            }}
          >
            {t("admin.audit.clear")}
          </button>
        </div>
      </form>
      <div aria-live="polite" id="audit-status">
        <FailureLine failure={failure} />
        {busy && <p class="hcw-busy">{t("common.loading")}</p>}
        {!busy && events !== null && events.length === 0 && (
          <p id="audit-empty" class="hcw-muted">
            {t("admin.audit.none")}
          </p>
        )}
        {!busy && events !== null && events.length > 0 && (
          <p id="audit-count" class="hcw-muted">
            {trail.nextBefore.value === null ? t("admin.audit.shownAll", { count: events.length }) : t("admin.audit.shown", { count: events.length })}
          </p>
        )}
      </div>
      {events !== null && events.length > 0 && (
        <table class="hcw-table" id="audit-table">
          <caption class="hcw-visually-hidden">{t("admin.audit.events")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("admin.audit.time")}</th>
              <th scope="col">{t("admin.audit.action")}</th>
              <th scope="col">{t("admin.audit.actor")}</th>
              <th scope="col">{t("admin.audit.object")}</th>
              <th scope="col">{t("admin.audit.consultation")}</th>
              <th scope="col">{t("admin.audit.ip")}</th>
              <th scope="col">{t("admin.audit.outcome")}</th>
            </tr>
          </thead>
          <tbody>
            {events.map((e) => (
              <EventRow key={e.seq} e={e} />
            ))}
          </tbody>
        </table>
      )}
      {events !== null && trail.nextBefore.value !== null && (
        <div class="hcw-actions">
          <button
            id="audit-older"
            type="button"
            class="hcw-button hcw-button-secondary"
            disabled={busy}
            onClick={() => {
              const shown = events.length;
              void trail.older().then((ok) => {
                // The first of the newly loaded events, where reading goes on.
                const first = ok ? trail.events.value?.[shown] : undefined;
                if (first) refocus(`audit-row-${first.seq}`);
              });
            }}
          >
            {t("admin.audit.older")}
          </button>
        </div>
      )}
    </div>
  );
}
