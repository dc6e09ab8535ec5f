import { useEffect, useMemo, useRef } from "preact/hooks";
import { signal, useSignal, type Signal } from "@preact/signals";
import { AppShell } from "../shared/AppShell";
import type { Consultation, StaffUser } from "../shared/api-types";
import { CallPanel } from "../shared/CallPanel";
import { CallSession } from "../shared/call-session";
import { ChatStore, type ChatItem, sessionPersist } from "../shared/chat";
import { ChatPanel } from "../shared/ChatPanel";
import { formatDate, t } from "../shared/i18n";
import { LanguageMenu } from "../shared/LanguageMenu";
import { RealtimeClient } from "../shared/realtime";
import { Confirm } from "../shared/confirm";
import { keepFocus } from "../shared/focus";
import { PasskeySignInButton, SecuritySection } from "../shared/security";
import { AuthStep, authTitle, ErrorLine, type MoreErrors } from "../shared/signin";
import * as api from "./api";
import type { AuthScreen, DoctorAuth } from "./auth";
import { Dashboard } from "./dashboard";
import { ArrivalAlert } from "./alerts";
import { ParticipantsStore } from "./consultation-stores";
import { EstimateControl, NotePanel, ParticipantsPanel, TransferPanel } from "./consultation-tools";
import { HistoryView } from "./history";
import { InvitesPanel } from "./invites";
import { IdleWatch, idleOptionsFor, type IdleOptions } from "./idle";
import { IdleWarning, SoundToggle, WorkspaceNav, type WorkspaceView } from "./workspace-extras";

/** What the workspace needs from outside (tests pass fakes). */
export interface WorkspaceDeps {
  createRealtime: () => RealtimeClient;
  dashboard: (rt: RealtimeClient) => Dashboard;
  consultation: (id: string) => Promise<api.ConsultationDetail>;
  closeConsultation: (id: string) => Promise<Consultation>;
  createInvite: typeof api.createInvite;
  chat: typeof api.doctorChat;
  calls: typeof api.doctorCallApi;
  /** The sound and title badge of arrivals. */
  alerts: () => ArrivalAlert;
  /** The idle-timeout clock (idle.ts), set from the server's idle timeout. */
  idle: (o: Pick<IdleOptions, "onExpire" | "busy" | "idleMs" | "warnMs" | "keepAliveMs">) => IdleWatch;
}

const defaultDeps: WorkspaceDeps = {
  createRealtime: () => new RealtimeClient({ verifySession: async () => api.getMe().then(() => true, () => false) }),
  dashboard: () => new Dashboard(),
  consultation: api.getConsultationDetail,
  closeConsultation: api.closeConsultation,
  createInvite: api.createInvite,
  chat: api.doctorChat,
  calls: api.doctorCallApi,
  alerts: () => new ArrivalAlert(),
  idle: (o) => new IdleWatch({ ...o, keepAlive: api.getMe }),
};

/** The doctor app's own error texts (the sign-in's are in shared/signin). */
const doctorErrors: MoreErrors = (code) => (code === "already_accepted" ? t("doctor.error.already_accepted") : null);

function patientName(c: Consultation): string {
  const p = c.patient;
  const name = p ? `${p.first_name} ${p.last_name}`.trim() : "";
  return name || t("doctor.unnamedPatient");
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
      <ErrorLine code={board.error.value} id="board-error" more={doctorErrors} />
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
            <EstimateControl consultationId={c.id} current={c.estimated_start_at} />
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
      // The create button is disabled now: the focus goes to the link (selected, to copy).
      keepFocus("invite-link");
    } catch (err) {
      const code = (err as { code?: string }).code;
      error.value = code ?? "network";
      keepFocus("invite-create", "invite-first-name");
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

function ConsultationView({
  id,
  user,
  rt,
  deps,
  onBack,
  inCall,
}: {
  id: string;
  user: StaffUser;
  rt: RealtimeClient;
  deps: WorkspaceDeps;
  onBack: () => void;
  /** Set while a call is on (the idle clock keeps running then). */
  inCall?: Signal<boolean>;
}) {
  const consultation = useSignal<api.ConsultationDetail | null>(null);
  const confirming = useSignal(false);
  const closing = useSignal(false);
  const closed = useSignal(false);
  const error = useSignal<string | null>(null);
  const chat = useMemo(() => new ChatStore(deps.chat(id), { userId: user.id }, { persist: sessionPersist(id, user.id) }), [id]);
  const call = useMemo(() => new CallSession(id, deps.calls(id), { identity: `u-${user.id}`, role: "doctor" }), [id]);
  const participants = useMemo(() => new ParticipantsStore(id), [id]);

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
      participants.attach(rt),
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
  useEffect(() => {
    if (inCall) inCall.value = phase !== "none" && phase !== "ended";
  }, [phase]);
  useEffect(() => () => void (inCall && (inCall.value = false)), []);
  const senderLabel = (item: ChatItem) => {
    if (!item.senderParticipantId) return t("chat.careTeam");
    const p = participants.list.value.find((x) => x.participant_id === item.senderParticipantId);
    if (p && p.role !== "patient") return p.display_name || `${p.first_name} ${p.last_name}`.trim();
    return c ? patientName(c) : t("call.otherParticipant");
  };

  return (
    <div class="hcw-consultation">
      <p>
        <button type="button" class="hcw-link-button" id="back-to-dashboard" onClick={onBack}>
          {t("doctor.back")}
        </button>
      </p>
      <section class="hcw-card" aria-labelledby="consultation-title">
        <h2 id="consultation-title" class="hcw-card-title" tabIndex={-1}>
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
            <button
              type="button"
              id="close-consultation"
              class="hcw-button hcw-button-danger"
              aria-expanded={confirming.value}
              onClick={() => (confirming.value = true)}
            >
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
          <Confirm
            id="close-dialog"
            ids={{ text: "confirm-close-text", yes: "confirm-close", no: "cancel-close" }}
            title={t("doctor.close")}
            text={t("doctor.closeConfirm")}
            yes={t("doctor.closeYes")}
            busy={closing.value}
            onYes={async () => {
              closing.value = true;
              try {
                await deps.closeConsultation(id);
                if (call.phase.value.name === "in_call") void call.leave();
                closed.value = true;
              } catch {
                error.value = "close";
              } finally {
                closing.value = false;
              }
              confirming.value = false;
            }}
            onNo={() => (confirming.value = false)}
            returnFocus="close-consultation"
            fallbackFocus="consultation-title"
          />
        )}
      </section>
      <CallPanel session={call} precall={false} leaveLabel={t("call.hangUp")} fallbackFocus={["start-video-call", "consultation-title"]} />
      <ChatPanel chat={chat} senderLabel={senderLabel} readOnly={closed.value} />
      <ParticipantsPanel store={participants} consultationId={id} closed={closed.value} />
      {c && <NotePanel consultationId={id} initial={c.note ?? ""} />}
      {c && !closed.value && <TransferPanel consultationId={id} currentQueueId={c.queue_id} onTransferred={onBack} />}
    </div>
  );
}

function Workspace({
  auth,
  user,
  deps,
  view,
  consulting,
  opened = false,
}: {
  auth: DoctorAuth;
  user: StaffUser;
  deps: WorkspaceDeps;
  view: Signal<WorkspaceView>;
  /** Set while a consultation is open (the page title says so). */
  consulting?: Signal<boolean>;
  /** The page opened on the workspace (a session was there): the focus stays at the top of the page at first. */
  opened?: boolean;
}) {
  const rt = useMemo(() => deps.createRealtime(), []);
  const board = useMemo(() => deps.dashboard(rt), [rt]);
  const alerts = useMemo(() => deps.alerts(), []);
  const inCall = useMemo(() => signal(false), []);
  const idle = useMemo(
    () =>
      deps.idle({
        ...idleOptionsFor(user.session_idle_timeout_seconds),
        onExpire: () => void auth.signOut(),
        busy: () => inCall.value,
      }),
    [],
  );
  const open = useSignal<string | null>(null);
  useEffect(() => {
    if (consulting) consulting.value = open.value !== null;
  }, [open.value]);
  useEffect(() => () => void (consulting && (consulting.value = false)), []);
  const invitesVersion = useSignal(0);

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

  useEffect(() => alerts.attach(board), [alerts, board]);
  // Signed in again: the waiting room first.
  useEffect(() => () => void (view.value = "dashboard"), []);
  useEffect(() => idle.start(), [idle]);

  // A new view: the focus goes to its heading (not when the page has just
  // opened on the workspace: the skip link is the first Tab stop then).
  const firstView = useRef(opened);
  useEffect(() => {
    if (firstView.current) {
      firstView.current = false;
      return;
    }
    document.getElementById("page-title")?.focus();
  }, [open.value, view.value]);

  let main;
  if (open.value) {
    main = <ConsultationView id={open.value} user={user} rt={rt} deps={deps} inCall={inCall} onBack={() => (open.value = null)} />;
  } else if (view.value === "history") {
    main = <HistoryView userId={user.id} deps={{ chat: deps.chat }} />;
  } else if (view.value === "security") {
    main = <SecuritySection />;
  } else {
    main = (
      <div class="hcw-dashboard">
        {rt.state.value === "reconnecting" && (
          <p class="hcw-notice hcw-notice-warn" role="status" id="connection-status">
            {t("connection.reconnecting")}
          </p>
        )}
        <SoundToggle alert={alerts} />
        <WaitingList board={board} onOpen={(id) => (open.value = id)} />
        <ActiveList board={board} onOpen={(id) => (open.value = id)} />
        <InviteForm
          board={board}
          create={async (invite) => {
            const issued = await deps.createInvite(invite);
            invitesVersion.value++;
            return issued;
          }}
        />
        <InvitesPanel rt={rt} version={invitesVersion.value} />
      </div>
    );
  }
  return (
    <>
      <IdleWarning watch={idle} />
      <WorkspaceNav
        view={open.value ? "dashboard" : view.value}
        onChange={(v) => {
          open.value = null;
          view.value = v;
        }}
      />
      {main}
    </>
  );
}

function titleOf(s: AuthScreen, view: WorkspaceView, consulting: boolean): string {
  if (s.name !== "ready") return authTitle(s);
  if (consulting) return t("doctor.consultationPageTitle");
  if (view === "history") return t("doctor.historyNav");
  if (view === "security") return t("doctor.securityTitle");
  return t("doctor.dashboardTitle");
}

export interface DoctorAppProps {
  auth: DoctorAuth;
  deps?: Partial<WorkspaceDeps>;
}

/** The doctor app: sign-in, then the dashboard and consultations. */
export function DoctorApp({ auth, deps }: DoctorAppProps) {
  const screen = auth.screen.value;
  const all = useMemo(() => ({ ...defaultDeps, ...deps }), [deps]);
  const view = useSignal<WorkspaceView>("dashboard");
  const consulting = useSignal(false);
  // Whether the workspace is the first screen since the page opened (no sign-in steps before it).
  const previous = useRef(screen.name);
  const openedOnWorkspace = useRef(false);
  if (screen.name !== previous.current) {
    openedOnWorkspace.current = screen.name === "ready" && previous.current === "loading";
    previous.current = screen.name;
  }
  const body =
    screen.name === "ready" ? (
      <Workspace auth={auth} user={screen.user} deps={all} view={view} consulting={consulting} opened={openedOnWorkspace.current} />
    ) : (
      <AuthStep auth={auth} screen={screen} secondFactorExtra={<PasskeySignInButton auth={auth} />} />
    );
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
    <AppShell app="doctor" title={titleOf(screen, view.value, consulting.value)} headerEnd={headerEnd} labels={{ version: t("app.version"), skip: t("app.skip") }}>
      {body}
    </AppShell>
  );
}
