import { useEffect, useMemo, useRef } from "preact/hooks";
import { useSignal } from "@preact/signals";
import { AppShell } from "../shared/AppShell";
import type { Consultation, StaffUser } from "../shared/api-types";
import { CallPanel } from "../shared/CallPanel";
import { CallSession } from "../shared/call-session";
import { ChatStore, type ChatItem } from "../shared/chat";
import { ChatPanel } from "../shared/ChatPanel";
import { formatDate, t } from "../shared/i18n";
import { LanguageMenu } from "../shared/LanguageMenu";
import { RealtimeClient } from "../shared/realtime";
import * as api from "./api";
import type { AuthScreen, DoctorAuth } from "./auth";
import { Dashboard } from "./dashboard";

/** What the workspace needs from outside (tests pass fakes). */
export interface WorkspaceDeps {
  createRealtime: () => RealtimeClient;
  dashboard: (rt: RealtimeClient) => Dashboard;
  consultation: (id: string) => Promise<Consultation>;
  closeConsultation: (id: string) => Promise<Consultation>;
  createInvite: typeof api.createInvite;
  chat: typeof api.doctorChat;
  calls: typeof api.doctorCallApi;
}

const defaultDeps: WorkspaceDeps = {
  createRealtime: () => new RealtimeClient({ verifySession: async () => api.getMe().then(() => true, () => false) }),
  dashboard: () => new Dashboard(),
  consultation: api.getConsultation,
  closeConsultation: api.closeConsultation,
  createInvite: api.createInvite,
  chat: api.doctorChat,
  calls: api.doctorCallApi,
};

function errorText(code: string | null): string | null {
  switch (code) {
    case null:
      return null;
    case "invalid_credentials":
      return t("doctor.error.invalid_credentials");
    case "invalid_code":
      return t("doctor.error.invalid_code");
    case "throttled":
      return t("doctor.error.throttled");
    case "account_not_active":
      return t("doctor.error.account_not_active");
    case "weak_password":
      return t("doctor.error.weak_password");
    case "token_invalid":
      return t("doctor.error.token_invalid");
    case "already_accepted":
      return t("doctor.error.already_accepted");
    case "network":
      return t("doctor.error.network");
    default:
      return t("doctor.error.generic");
  }
}

function ErrorLine({ code, id }: { code: string | null; id: string }) {
  const text = errorText(code);
  return text ? (
    <p id={id} class="hcw-field-error" role="alert">
      {text}
    </p>
  ) : null;
}

function patientName(c: Consultation): string {
  const p = c.patient;
  const name = p ? `${p.first_name} ${p.last_name}`.trim() : "";
  return name || t("doctor.unnamedPatient");
}

// ---------------------------------------------------------------- sign-in

function SignInForm({ auth, notice }: { auth: DoctorAuth; notice?: "password_set" | "signed_out" }) {
  const email = useSignal("");
  const password = useSignal("");
  return (
    <form
      class="hcw-card hcw-form"
      noValidate
      aria-describedby={auth.error.value ? "signin-error" : undefined}
      onSubmit={(e) => {
        e.preventDefault();
        void auth.signIn(email.value, password.value);
      }}
    >
      {notice === "password_set" && (
        <p class="hcw-notice hcw-notice-ok" role="status">
          {t("doctor.passwordSet")}
        </p>
      )}
      {notice === "signed_out" && (
        <p class="hcw-notice" role="status">
          {t("doctor.signedOut")}
        </p>
      )}
      <div class="hcw-field">
        <label for="signin-email">{t("doctor.email")}</label>
        <input id="signin-email" type="email" autoComplete="username" required value={email.value} onInput={(e) => (email.value = e.currentTarget.value)} />
      </div>
      <div class="hcw-field">
        <label for="signin-password">{t("doctor.password")}</label>
        <input
          id="signin-password"
          type="password"
          autoComplete="current-password"
          required
          value={password.value}
          onInput={(e) => (password.value = e.currentTarget.value)}
        />
      </div>
      <ErrorLine code={auth.error.value} id="signin-error" />
      <button id="signin-submit" type="submit" class="hcw-button" disabled={auth.busy.value || !email.value || !password.value}>
        {t("doctor.signIn")}
      </button>
    </form>
  );
}

function CodeForm({ auth, onCode, hint }: { auth: DoctorAuth; onCode: (code: string) => void; hint: string }) {
  const code = useSignal("");
  const ref = useRef<HTMLInputElement>(null);
  useEffect(() => ref.current?.focus(), []);
  return (
    <form
      class="hcw-form"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        onCode(code.value);
      }}
    >
      <div class="hcw-field">
        <label for="totp-code">{t("doctor.code")}</label>
        <input
          ref={ref}
          id="totp-code"
          type="text"
          inputMode="numeric"
          autoComplete="one-time-code"
          aria-describedby="totp-hint"
          value={code.value}
          onInput={(e) => (code.value = e.currentTarget.value)}
        />
        <p id="totp-hint" class="hcw-hint">
          {hint}
        </p>
      </div>
      <ErrorLine code={auth.error.value} id="totp-error" />
      <button id="totp-submit" type="submit" class="hcw-button" disabled={auth.busy.value || code.value.trim() === ""}>
        {t("doctor.verify")}
      </button>
    </form>
  );
}

function EnrolScreen({ auth, screen }: { auth: DoctorAuth; screen: Extract<AuthScreen, { name: "enrol" }> }) {
  const e = screen.enrolment;
  return (
    <section class="hcw-card">
      <p>{t("doctor.enrolIntro")}</p>
      {e ? (
        <>
          <img class="hcw-qr" src={`data:image/png;base64,${e.qr_png}`} alt={t("doctor.qrAlt")} width={200} height={200} />
          <p class="hcw-hint">
            {t("doctor.secretLabel")} <code id="totp-secret">{e.secret}</code>
          </p>
          <CodeForm auth={auth} onCode={(c) => void auth.confirmEnrolment(c)} hint={t("doctor.enrolHint")} />
        </>
      ) : (
        <>
          <ErrorLine code={auth.error.value} id="enrol-error" />
          <button type="button" class="hcw-button" onClick={() => void auth.beginEnrolment()} disabled={auth.busy.value}>
            {t("common.retry")}
          </button>
        </>
      )}
    </section>
  );
}

function RecoveryScreen({ auth, codes }: { auth: DoctorAuth; codes: string[] }) {
  return (
    <section class="hcw-card">
      <p>{t("doctor.recoveryIntro")}</p>
      <ul class="hcw-codes" id="recovery-codes">
        {codes.map((c) => (
          <li key={c}>
            <code>{c}</code>
          </li>
        ))}
      </ul>
      <button id="recovery-done" type="button" class="hcw-button" onClick={() => void auth.finishEnrolment()}>
        {t("doctor.recoveryDone")}
      </button>
    </section>
  );
}

function SetupScreen({ auth }: { auth: DoctorAuth }) {
  const pw = useSignal("");
  const again = useSignal("");
  const mismatch = useSignal(false);
  return (
    <form
      class="hcw-card hcw-form"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        mismatch.value = pw.value !== again.value;
        if (!mismatch.value) void auth.setPassword(pw.value);
      }}
    >
      <p>{t("doctor.setupIntro")}</p>
      <div class="hcw-field">
        <label for="setup-password">{t("doctor.newPassword")}</label>
        <input id="setup-password" type="password" autoComplete="new-password" minLength={8} maxLength={128} value={pw.value} onInput={(e) => (pw.value = e.currentTarget.value)} />
        <p class="hcw-hint">{t("doctor.passwordRules")}</p>
      </div>
      <div class="hcw-field">
        <label for="setup-confirm">{t("doctor.confirmPassword")}</label>
        <input id="setup-confirm" type="password" autoComplete="new-password" value={again.value} onInput={(e) => (again.value = e.currentTarget.value)} />
      </div>
      {mismatch.value && (
        <p class="hcw-field-error" role="alert">
          {t("doctor.passwordMismatch")}
        </p>
      )}
      <ErrorLine code={auth.error.value} id="setup-error" />
      <button id="setup-submit" type="submit" class="hcw-button" disabled={auth.busy.value || pw.value.length < 8}>
        {t("doctor.setPassword")}
      </button>
    </form>
  );
}

// ---------------------------------------------------------------- dashboard

function WaitingList({ board, onOpen }: { board: Dashboard; onOpen: (id: string) => void }) {
  const queues = board.queues.value;
  const waiting = board.waiting.value;
  const all = queues.flatMap((q) => (waiting.get(q.id) ?? []).map((c) => ({ q, c })));
  return (
    <section class="hcw-card" aria-labelledby="waiting-title">
      <h2 id="waiting-title" class="hcw-card-title">
        {t("doctor.waitingTitle")}
      </h2>
      <ErrorLine code={board.error.value} id="board-error" />
      {board.loaded.value && queues.length === 0 && <p class="hcw-muted">{t("doctor.noQueues")}</p>}
      <ul id="waiting-list" class="hcw-rows" aria-live="polite">
        {all.length === 0 && board.loaded.value && queues.length > 0 && <li class="hcw-muted">{t("doctor.nobodyWaiting")}</li>}
        {all.map(({ q, c }) => (
          <li key={c.id} class="hcw-row" data-consultation-id={c.id}>
            <span class="hcw-row-main">
              <strong>{patientName(c)}</strong>{" "}
              <span class={c.patient?.online ? "hcw-online" : "hcw-offline"}>
                {c.patient?.online ? t("doctor.online") : t("doctor.offline")}
              </span>
              <span class="hcw-muted">
                {" "}
                · {q.name}
                {c.waiting_since && ` · ${t("doctor.waitingSince", { time: formatDate(c.waiting_since, "time") })}`}
              </span>
            </span>
            <button
              type="button"
              id={`accept-${c.id}`}
              class="hcw-button"
              onClick={async () => {
                const accepted = await board.accept(c.id);
                if (accepted) onOpen(accepted.id);
              }}
            >
              {t("doctor.accept")}
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

function ActiveList({ board, onOpen }: { board: Dashboard; onOpen: (id: string) => void }) {
  const list = board.active.value;
  if (list.length === 0) return null;
  return (
    <section class="hcw-card" aria-labelledby="active-title">
      <h2 id="active-title" class="hcw-card-title">
        {t("doctor.activeTitle")}
      </h2>
      <ul id="active-list" class="hcw-rows">
        {list.map((c) => (
          <li key={c.id} class="hcw-row" data-consultation-id={c.id}>
            <span class="hcw-row-main">{patientName(c)}</span>
            <button type="button" id={`open-${c.id}`} class="hcw-button hcw-button-secondary" onClick={() => onOpen(c.id)}>
              {t("doctor.open")}
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

function InviteForm({ board, create }: { board: Dashboard; create: WorkspaceDeps["createInvite"] }) {
  const first = useSignal("");
  const last = useSignal("");
  const email = useSignal("");
  const queue = useSignal("");
  const error = useSignal<string | null>(null);
  const busy = useSignal(false);
  const link = useSignal<string | null>(null);
  const copied = useSignal(false);
  const queues = board.queues.value;
  const queueId = queue.value || queues[0]?.id || "";

  const submit = async (e: Event) => {
    e.preventDefault();
    busy.value = true;
    error.value = null;
    link.value = null;
    copied.value = false;
    try {
      const body: api.NewInvite = {
        first_name: first.value.trim(),
        last_name: last.value.trim(),
        queue_id: queueId,
        delivery: email.value.trim() ? "email" : "link",
      };
      if (email.value.trim()) body.email = email.value.trim();
      const issued = await create(body);
      link.value = issued.link;
      first.value = last.value = email.value = "";
    } catch (err) {
      const code = (err as { code?: string }).code;
      error.value = code ?? "network";
    } finally {
      busy.value = false;
    }
  };

  return (
    <form class="hcw-card hcw-form" aria-labelledby="invite-title" onSubmit={submit} noValidate>
      <h2 id="invite-title" class="hcw-card-title">
        {t("doctor.inviteTitle")}
      </h2>
      <div class="hcw-field">
        <label for="invite-first-name">{t("doctor.firstName")}</label>
        <input id="invite-first-name" autoComplete="off" value={first.value} onInput={(e) => (first.value = e.currentTarget.value)} />
      </div>
      <div class="hcw-field">
        <label for="invite-last-name">{t("doctor.lastName")}</label>
        <input id="invite-last-name" autoComplete="off" value={last.value} onInput={(e) => (last.value = e.currentTarget.value)} />
      </div>
      <div class="hcw-field">
        <label for="invite-email">{t("doctor.inviteEmail")}</label>
        <input id="invite-email" type="email" autoComplete="off" aria-describedby="invite-email-hint" value={email.value} onInput={(e) => (email.value = e.currentTarget.value)} />
        <p id="invite-email-hint" class="hcw-hint">
          {t("doctor.inviteEmailHint")}
        </p>
      </div>
      <div class="hcw-field">
        <label for="invite-queue">{t("doctor.queue")}</label>
        <select id="invite-queue" value={queueId} onChange={(e) => (queue.value = e.currentTarget.value)}>
          {queues.map((q) => (
            <option key={q.id} value={q.id}>
              {q.name}
            </option>
          ))}
        </select>
      </div>
      {error.value && (
        <p class="hcw-field-error" role="alert" id="invite-error">
          {t("doctor.inviteError")}
        </p>
      )}
      <button id="invite-create" type="submit" class="hcw-button" disabled={busy.value || !queueId || !first.value.trim() || !last.value.trim()}>
        {t("doctor.inviteCreate")}
      </button>
      {link.value && (
        <div class="hcw-notice hcw-notice-ok" role="status">
          <label for="invite-link">{t("doctor.inviteLink")}</label>
          <input id="invite-link" class="hcw-link-output" readOnly value={link.value} onFocus={(e) => e.currentTarget.select()} />
          <button
            type="button"
            id="invite-copy"
            class="hcw-button hcw-button-secondary"
            onClick={async () => {
              try {
                await navigator.clipboard.writeText(link.value ?? "");
                copied.value = true;
              } catch {
                document.getElementById("invite-link")?.focus();
              }
            }}
          >
            {copied.value ? t("doctor.copied") : t("doctor.copy")}
          </button>
          <p class="hcw-hint">{t("doctor.inviteLinkOnce")}</p>
        </div>
      )}
    </form>
  );
}

// ---------------------------------------------------------------- a consultation

function ConsultationView({ id, user, rt, deps, onBack }: { id: string; user: StaffUser; rt: RealtimeClient; deps: WorkspaceDeps; onBack: () => void }) {
  const consultation = useSignal<Consultation | null>(null);
  const confirming = useSignal(false);
  const closed = useSignal(false);
  const error = useSignal<string | null>(null);
  const chat = useMemo(() => new ChatStore(deps.chat(id), { userId: user.id }), [id]);
  const call = useMemo(() => new CallSession(id, deps.calls(id), { identity: `u-${user.id}`, role: "doctor" }), [id]);

  useEffect(() => {
    void deps.consultation(id).then(
      (c) => {
        consultation.value = c;
        if (c.status === "closed") closed.value = true;
      },
      () => (error.value = "not_found"),
    );
    const offs = [
      chat.attach(rt, id),
      call.attach(rt),
      rt.on("consultation.closed", (d) => {
        if (d.consultation_id === id) closed.value = true;
      }),
    ];
    void chat.sync();
    return () => {
      offs.forEach((off) => off());
      chat.dispose();
      const phase = call.phase.value;
      if (phase.name === "in_call") phase.client.leave();
    };
  }, [id]);

  const phase = call.phase.value.name;
  const c = consultation.value;
  const senderLabel = (item: ChatItem) => (item.senderParticipantId ? (c ? patientName(c) : t("call.otherParticipant")) : t("chat.careTeam"));

  return (
    <div class="hcw-consultation">
      <p>
        <button type="button" class="hcw-link-button" id="back-to-dashboard" onClick={onBack}>
          {t("doctor.back")}
        </button>
      </p>
      <section class="hcw-card" aria-labelledby="consultation-title">
        <h2 id="consultation-title" class="hcw-card-title">
          {c ? patientName(c) : t("common.loading")}
        </h2>
        {error.value && <p class="hcw-field-error" role="alert">{t("doctor.error.generic")}</p>}
        {closed.value ? (
          <p class="hcw-notice" role="status" id="consultation-closed">
            {t("doctor.closedNotice")}
          </p>
        ) : (
          <div class="hcw-actions">
            {phase === "none" && (
              <>
                <button type="button" id="start-video-call" class="hcw-button" disabled={call.busy.value} onClick={() => void call.start("video")}>
                  {t("doctor.startVideo")}
                </button>
                <button type="button" id="start-audio-call" class="hcw-button hcw-button-secondary" disabled={call.busy.value} onClick={() => void call.start("audio")}>
                  {t("doctor.startAudio")}
                </button>
              </>
            )}
            <button type="button" id="close-consultation" class="hcw-button hcw-button-danger" onClick={() => (confirming.value = true)}>
              {t("doctor.close")}
            </button>
          </div>
        )}
        {call.error.value && phase === "none" && (
          <p class="hcw-field-error" role="alert">
            {call.error.value === "no_media_node" ? t("call.failed.no_media_node") : t("call.failed.generic")}
          </p>
        )}
        {confirming.value && !closed.value && (
          <div class="hcw-notice hcw-notice-warn" role="alertdialog" aria-labelledby="confirm-close-text">
            <p id="confirm-close-text">{t("doctor.closeConfirm")}</p>
            <div class="hcw-actions">
              <button
                type="button"
                id="confirm-close"
                class="hcw-button hcw-button-danger"
                onClick={async () => {
                  try {
                    await deps.closeConsultation(id);
                    if (call.phase.value.name === "in_call") void call.leave();
                    closed.value = true;
                  } catch {
                    error.value = "close";
                  }
                  confirming.value = false;
                }}
              >
                {t("doctor.closeYes")}
              </button>
              <button type="button" id="cancel-close" class="hcw-button hcw-button-secondary" onClick={() => (confirming.value = false)}>
                {t("doctor.closeNo")}
              </button>
            </div>
          </div>
        )}
      </section>
      <CallPanel session={call} precall={false} leaveLabel={t("call.hangUp")} />
      <ChatPanel chat={chat} senderLabel={senderLabel} readOnly={closed.value} />
    </div>
  );
}

function Workspace({ auth, user, deps }: { auth: DoctorAuth; user: StaffUser; deps: WorkspaceDeps }) {
  const rt = useMemo(() => deps.createRealtime(), []);
  const board = useMemo(() => deps.dashboard(rt), [rt]);
  const open = useSignal<string | null>(null);

  useEffect(() => {
    const off = board.attach(rt);
    const stop = rt.closed.subscribe((c) => {
      if (c && c.kind !== "client") auth.expired();
    });
    rt.connect();
    return () => {
      off();
      stop();
      rt.close();
    };
  }, [rt]);

  useEffect(() => {
    document.getElementById("page-title")?.focus();
  }, [open.value]);

  if (open.value) {
    return <ConsultationView id={open.value} user={user} rt={rt} deps={deps} onBack={() => (open.value = null)} />;
  }
  return (
    <div class="hcw-dashboard">
      {rt.state.value === "reconnecting" && (
        <p class="hcw-notice hcw-notice-warn" role="status" id="connection-status">
          {t("connection.reconnecting")}
        </p>
      )}
      <WaitingList board={board} onOpen={(id) => (open.value = id)} />
      <ActiveList board={board} onOpen={(id) => (open.value = id)} />
      <InviteForm board={board} create={deps.createInvite} />
    </div>
  );
}

function titleOf(s: AuthScreen): string {
  switch (s.name) {
    case "loading":
      return t("common.loading");
    case "signin":
      return t("doctor.signInTitle");
    case "second_factor":
      return t("doctor.secondFactorTitle");
    case "enrol":
      return t("doctor.enrolTitle");
    case "recovery":
      return t("doctor.recoveryTitle");
    case "setup":
      return s.purpose === "reset" ? t("doctor.resetTitle") : t("doctor.setupTitle");
    case "ready":
      return t("doctor.dashboardTitle");
  }
}

export interface DoctorAppProps {
  auth: DoctorAuth;
  deps?: Partial<WorkspaceDeps>;
}

/** The doctor app: sign-in, then the dashboard and consultations. */
export function DoctorApp({ auth, deps }: DoctorAppProps) {
  const screen = auth.screen.value;
  const all = useMemo(() => ({ ...defaultDeps, ...deps }), [deps]);
  let body;
  switch (screen.name) {
    case "loading":
      body = (
        <p class="hcw-busy" role="status">
          {t("common.loading")}
        </p>
      );
      break;
    case "signin":
      body = <SignInForm auth={auth} notice={screen.notice} />;
      break;
    case "second_factor":
      body = (
        <section class="hcw-card">
          <CodeForm auth={auth} onCode={(c) => void auth.verify(c)} hint={t("doctor.codeHint")} />
        </section>
      );
      break;
    case "enrol":
      body = <EnrolScreen auth={auth} screen={screen} />;
      break;
    case "recovery":
      body = <RecoveryScreen auth={auth} codes={screen.codes} />;
      break;
    case "setup":
      body = <SetupScreen auth={auth} />;
      break;
    case "ready":
      body = <Workspace auth={auth} user={screen.user} deps={all} />;
      break;
  }
  const headerEnd = (
    <>
      <LanguageMenu />
      {screen.name === "ready" && (
        <button type="button" id="sign-out" class="hcw-button hcw-button-secondary" onClick={() => void auth.signOut()}>
          {t("doctor.signOut")}
        </button>
      )}
    </>
  );
  return (
    <AppShell app="doctor" title={titleOf(screen)} headerEnd={headerEnd} labels={{ version: t("app.version"), skip: t("app.skip") }}>
      {body}
    </AppShell>
  );
}
