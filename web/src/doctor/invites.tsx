/**
 * The invitations I sent (patients and added participants), with their
 * status: a new link (resend), a new time (reschedule) or withdrawal
 * (revoke) while not yet used. The list follows the server's events
 * (invite.updated: sent, delivery failed, opened, expired, revoked,
 * rescheduled; a redemption: consultation.pending or participant.added;
 * a close), fetched again once for the events that come together.
 */
import { useEffect, useRef } from "preact/hooks";
import { useSignal } from "@preact/signals";
import { Confirm } from "../shared/confirm";
import { formatDate, t } from "../shared/i18n";
import type { RealtimeClient } from "../shared/realtime";
import * as api from "./api";
import { errorCode } from "./auth";
import { inviteStatusLabel, roleLabel } from "./consultation-tools";

export type InvitesApi = Pick<typeof api, "myInvites" | "resendInvite" | "revokeInvite" | "rescheduleInvite">;

/** Still usable: a new link, time or withdrawal make sense. */
function open(i: api.InviteRecord): boolean {
  return i.status !== "redeemed" && i.status !== "revoked" && i.status !== "expired" && i.consultation_status !== "closed";
}

function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

function InviteRow({ invite, a, onChanged }: { invite: api.InviteRecord; a: InvitesApi; onChanged: () => Promise<void> }) {
  const mode = useSignal<"none" | "reschedule" | "revoke">("none");
  const when = useSignal("");
  const link = useSignal<string | null>(null);
  const busy = useSignal(false);
  const error = useSignal<string | null>(null);
  const id = invite.id;

  const run = async (fn: () => Promise<string | null | undefined>) => {
    busy.value = true;
    error.value = null;
    try {
      link.value = (await fn()) ?? null;
      // The list first: a withdrawn invite's buttons are gone when its confirmation closes.
      await onChanged();
      mode.value = "none";
    } catch (err) {
      error.value = errorCode(err);
    } finally {
      busy.value = false;
    }
  };

  const status = inviteStatusLabel(invite.status === "created" ? "sent" : invite.status) ?? invite.status;
  const name = `${invite.first_name} ${invite.last_name}`.trim();
  return (
    <li class="hcw-row" data-invite-id={id}>
      <span class="hcw-row-main">
        <strong dir="auto">{name}</strong> <span class="hcw-muted">· {roleLabel(invite.role)}</span> · <span>{status}</span>
        <span class="hcw-muted">
          {invite.scheduled_at
            ? ` · ${t("doctor.invitesScheduled", { time: formatDate(invite.scheduled_at, "datetime", invite.time_zone) })}`
            : ` · ${t("doctor.invitesCreated", { time: formatDate(invite.created_at, "datetime") })}`}
        </span>
      </span>
      {open(invite) && (
        <span class="hcw-actions">
          <button
            type="button"
            id={`invite-resend-${id}`}
            class="hcw-button hcw-button-secondary"
            disabled={busy.value}
            aria-label={t("doctor.invitesResendNamed", { name })}
            onClick={() => void run(async () => (await a.resendInvite(id)).link)}
          >
            {t("doctor.invitesResend")}
          </button>
          <button
            type="button"
            id={`invite-reschedule-${id}`}
            class="hcw-button hcw-button-secondary"
            aria-expanded={mode.value === "reschedule"}
            aria-label={t("doctor.invitesRescheduleNamed", { name })}
            onClick={() => (mode.value = mode.value === "reschedule" ? "none" : "reschedule")}
          >
            {t("doctor.invitesReschedule")}
          </button>
          <button
            type="button"
            id={`invite-revoke-${id}`}
            class="hcw-button hcw-button-secondary"
            aria-label={t("doctor.invitesRevokeNamed", { name })}
            aria-expanded={mode.value === "revoke"}
            onClick={() => (mode.value = "revoke")}
          >
            {t("doctor.invitesRevoke")}
          </button>
        </span>
      )}
      {mode.value === "reschedule" && (
        <form
          class="hcw-inline-form"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            const at = new Date(when.value);
            if (Number.isNaN(at.getTime())) return;
            void run(async () => (await a.rescheduleInvite(id, { scheduled_at: at.toISOString(), time_zone: browserTimeZone() })).link);
          }}
        >
          <label for={`invite-when-${id}`}>{t("doctor.invitesNewTime")}</label>
          <input id={`invite-when-${id}`} type="datetime-local" value={when.value} onInput={(e) => (when.value = e.currentTarget.value)} />
          <button type="submit" id={`invite-reschedule-send-${id}`} class="hcw-button hcw-button-secondary" disabled={busy.value || when.value === ""}>
            {t("doctor.invitesRescheduleSend")}
          </button>
        </form>
      )}
      {mode.value === "revoke" && (
        <Confirm
          id={`invite-revoke-dialog-${id}`}
          ids={{ text: `invite-revoke-text-${id}`, yes: `invite-revoke-yes-${id}`, no: `invite-revoke-no-${id}` }}
          title={t("doctor.invitesRevokeNamed", { name })}
          text={t("doctor.invitesRevokeConfirm", { name })}
          yes={t("doctor.invitesRevokeYes")}
          busy={busy.value}
          onYes={() => void run(async () => void (await a.revokeInvite(id)))}
          onNo={() => (mode.value = "none")}
          returnFocus={`invite-revoke-${id}`}
          fallbackFocus="invites-title"
        />
      )}
      {link.value && (
        <p class="hcw-notice hcw-notice-ok" role="status">
          {t("doctor.invitesNewLink")} <code id={`invite-link-${id}`} class="hcw-link-output">{link.value}</code>
        </p>
      )}
      {error.value && (
        <p class="hcw-field-error" role="alert">
          {error.value === "network" ? t("doctor.error.network") : t("doctor.error.generic")}
        </p>
      )}
    </li>
  );
}

/**
 * version: bumped by the page when it created an invite (fetch again).
 * debounceMs: how long events are gathered before one fetch.
 */
export function InvitesPanel({ rt, version = 0, api: a = api, debounceMs = 300 }: { rt?: RealtimeClient; version?: number; api?: InvitesApi; debounceMs?: number }) {
  const list = useSignal<api.InviteRecord[] | null>(null);
  const error = useSignal<string | null>(null);
  const seq = useRef(0);
  const load = async () => {
    const n = ++seq.current;
    try {
      const invites = await a.myInvites();
      if (n !== seq.current) return; // a newer fetch is on its way
      list.value = invites;
      error.value = null;
    } catch (err) {
      if (n === seq.current) error.value = errorCode(err);
    }
  };
  useEffect(() => void load(), [version]);
  useEffect(() => {
    if (!rt) return;
    // One fetch for the events of a moment (a revocation and its resend, a
    // batch of expiries): the first starts the clock, the others join it.
    let timer: ReturnType<typeof setTimeout> | null = null;
    const soon = () => {
      timer ??= setTimeout(() => {
        timer = null;
        void load();
      }, debounceMs);
    };
    const offs = [
      rt.on("invite.updated", soon),
      // A redemption, a new participant or a close changes a status too.
      rt.on("consultation.pending", soon),
      rt.on("consultation.closed", soon),
      rt.on("participant.added", soon),
      rt.onResync(soon),
    ];
    return () => {
      offs.forEach((off) => off());
      if (timer) clearTimeout(timer);
    };
  }, [rt]);

  const invites = list.value ?? [];
  return (
    <section class="hcw-card" aria-labelledby="invites-title">
      <h2 id="invites-title" class="hcw-card-title" tabIndex={-1}>
        {t("doctor.invitesTitle")}
      </h2>
      {error.value && (
        <p class="hcw-notice hcw-notice-warn" role="status">
          {t("doctor.error.generic")}
        </p>
      )}
      {list.value !== null && invites.length === 0 && <p class="hcw-muted">{t("doctor.invitesNone")}</p>}
      <ul id="invites-list" class="hcw-rows">
        {invites.map((i) => (
          <InviteRow key={i.id} invite={i} a={a} onChanged={load} />
        ))}
      </ul>
      <button type="button" id="invites-refresh" class="hcw-button hcw-button-secondary" onClick={() => void load()}>
        {t("doctor.invitesRefresh")}
      </button>
    </section>
  );
}
