import { useEffect, useMemo, useRef } from "preact/hooks";
import { useSignal } from "@preact/signals";
import { AppShell } from "../shared/AppShell";
import { ApiError } from "../shared/api";
import { formatDate, t } from "../shared/i18n";
import { LanguageMenu } from "../shared/LanguageMenu";
import type { AuthScreen, DoctorAuth } from "../doctor/auth";
import { AdminApi, ROLES, type AdminQueue, type AdminUser, type AuditCheck, type Role, type StatisticsFigures } from "./api";
import { errorCode, MediaNodesMonitor, StatisticsView, type Clock } from "./models";

/** What the admin app needs from outside (tests pass fakes). */
export interface AdminDeps {
  api: AdminApi;
  clock?: Clock;
  now?: () => Date;
}

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
    case "network":
      return t("doctor.error.network");
    case "invalid_date":
      return t("admin.error.invalidDate");
    case "reversed":
      return t("admin.error.reversed");
    case "too_long":
      return t("admin.error.tooLong");
    case "forbidden":
      return t("admin.error.forbidden");
    case "email_taken":
      return t("admin.error.emailTaken");
    case "last_admin":
      return t("admin.error.lastAdmin");
    case "invalid_request":
      return t("admin.error.invalidRequest");
    default:
      return t("doctor.error.generic");
  }
}

function ErrorLine({ code, id }: { code: string | null; id?: string }) {
  const text = errorText(code);
  return text ? (
    <p id={id} class="hcw-field-error" role="alert">
      {text}
    </p>
  ) : null;
}

// ---------------------------------------------------------------- sign-in (the doctor app's steps, DoctorAuth)

function SignInForm({ auth, notice }: { auth: DoctorAuth; notice?: "password_set" | "signed_out" }) {
  const email = useSignal("");
  const password = useSignal("");
  return (
    <form
      class="hcw-card hcw-form"
      noValidate
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

function SetupForm({ auth }: { auth: DoctorAuth }) {
  const pw = useSignal("");
  return (
    <form
      class="hcw-card hcw-form"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void auth.setPassword(pw.value);
      }}
    >
      <p>{t("doctor.setupIntro")}</p>
      <div class="hcw-field">
        <label for="setup-password">{t("doctor.newPassword")}</label>
        <input id="setup-password" type="password" autoComplete="new-password" minLength={8} maxLength={128} value={pw.value} onInput={(e) => (pw.value = e.currentTarget.value)} />
        <p class="hcw-hint">{t("doctor.passwordRules")}</p>
      </div>
      <ErrorLine code={auth.error.value} id="setup-error" />
      <button id="setup-submit" type="submit" class="hcw-button" disabled={auth.busy.value || pw.value.length < 8}>
        {t("doctor.setPassword")}
      </button>
    </form>
  );
}

function AuthStep({ auth, screen }: { auth: DoctorAuth; screen: AuthScreen }) {
  switch (screen.name) {
    case "loading":
    case "ready":
      return (
        <p class="hcw-busy" role="status">
          {t("common.loading")}
        </p>
      );
    case "signin":
      return <SignInForm auth={auth} notice={screen.notice} />;
    case "second_factor":
      return (
        <section class="hcw-card">
          <CodeForm auth={auth} onCode={(c) => void auth.verify(c)} hint={t("doctor.codeHint")} />
        </section>
      );
    case "enrol": {
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
    case "recovery":
      return (
        <section class="hcw-card">
          <p>{t("doctor.recoveryIntro")}</p>
          <ul class="hcw-codes" id="recovery-codes">
            {screen.codes.map((c) => (
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
    case "setup":
      return <SetupForm auth={auth} />;
  }
}

// ---------------------------------------------------------------- users

function roleName(role: string): string {
  switch (role) {
    case "admin":
      return t("admin.role.admin");
    case "doctor":
      return t("admin.role.doctor");
    case "nurse":
      return t("admin.role.nurse");
    case "scheduler":
      return t("admin.role.scheduler");
    default:
      return role;
  }
}

function statusName(status: string): string {
  switch (status) {
    case "active":
      return t("admin.status.active");
    case "disabled":
      return t("admin.status.disabled");
    case "pending_approval":
      return t("admin.status.pending");
    default:
      return status;
  }
}

function UsersSection({ api, users, reload }: { api: AdminApi; users: AdminUser[] | null; reload: () => Promise<void> }) {
  const email = useSignal("");
  const first = useSignal("");
  const last = useSignal("");
  const role = useSignal<Role>("doctor");
  const error = useSignal<string | null>(null);
  const setup = useSignal<{ email: string; url: string | null } | null>(null);
  const busy = useSignal(false);
  const run = async (fn: () => Promise<unknown>) => {
    busy.value = true;
    error.value = null;
    try {
      await fn();
      await reload();
    } catch (err) {
      error.value = errorCode(err);
    } finally {
      busy.value = false;
    }
  };
  return (
    <section id="admin-users" class="hcw-card" aria-labelledby="admin-users-title">
      <h2 id="admin-users-title">{t("admin.users.title")}</h2>
      {users === null ? (
        <p role="status">{t("common.loading")}</p>
      ) : (
        <table class="hcw-table">
          <caption class="hcw-visually-hidden">{t("admin.users.title")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("admin.users.name")}</th>
              <th scope="col">{t("doctor.email")}</th>
              <th scope="col">{t("admin.users.role")}</th>
              <th scope="col">{t("admin.users.status")}</th>
              <th scope="col">{t("admin.users.actions")}</th>
            </tr>
          </thead>
          <tbody>
            {users.map((u) => (
              <tr key={u.id} data-user-id={u.id}>
                <td>{`${u.first_name} ${u.last_name}`.trim()}</td>
                <td>{u.email}</td>
                <td>{roleName(u.role)}</td>
                <td>{statusName(u.status)}</td>
                <td>
                  {u.status === "disabled" ? (
                    <button type="button" class="hcw-button hcw-button-secondary" disabled={busy.value} onClick={() => void run(() => api.enableUser(u.id))}>
                      {t("admin.users.enable")}
                    </button>
                  ) : (
                    <button type="button" class="hcw-button hcw-button-secondary" disabled={busy.value} onClick={() => void run(() => api.disableUser(u.id))}>
                      {t("admin.users.disable")}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        class="hcw-form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          setup.value = null;
          void run(async () => {
            const created = await api.createUser({ email: email.value.trim(), first_name: first.value.trim(), last_name: last.value.trim(), role: role.value });
            setup.value = { email: created.user.email, url: created.setup_url ?? null };
            email.value = first.value = last.value = "";
          });
        }}
      >
        <h3>{t("admin.users.create")}</h3>
        <div class="hcw-field">
          <label for="user-email">{t("doctor.email")}</label>
          <input id="user-email" type="email" required value={email.value} onInput={(e) => (email.value = e.currentTarget.value)} />
        </div>
        <div class="hcw-field">
          <label for="user-first">{t("admin.users.firstName")}</label>
          <input id="user-first" required value={first.value} onInput={(e) => (first.value = e.currentTarget.value)} />
        </div>
        <div class="hcw-field">
          <label for="user-last">{t("admin.users.lastName")}</label>
          <input id="user-last" required value={last.value} onInput={(e) => (last.value = e.currentTarget.value)} />
        </div>
        <div class="hcw-field">
          <label for="user-role">{t("admin.users.role")}</label>
          <select id="user-role" value={role.value} onChange={(e) => (role.value = e.currentTarget.value as Role)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {roleName(r)}
              </option>
            ))}
          </select>
        </div>
        <button id="user-create" type="submit" class="hcw-button" disabled={busy.value || !email.value || !first.value || !last.value}>
          {t("admin.users.createButton")}
        </button>
      </form>
      <div aria-live="polite" id="user-result">
        <ErrorLine code={error.value} />
        {setup.value && (
          <div class="hcw-notice hcw-notice-ok">
            <p>{t("admin.users.created", { email: setup.value.email })}</p>
            {setup.value.url && (
              <>
                <p>{t("admin.users.setupLinkOnce")}</p>
                <p>
                  <code id="user-setup-link">{setup.value.url}</code>
                </p>
              </>
            )}
          </div>
        )}
      </div>
    </section>
  );
}

// ---------------------------------------------------------------- queues

function QueueMembers({ api, queue, staff, reload }: { api: AdminApi; queue: AdminQueue; staff: AdminUser[]; reload: () => Promise<void> }) {
  const open = useSignal(false);
  const chosen = useSignal<string[]>(queue.member_ids ?? []);
  const error = useSignal<string | null>(null);
  const saved = useSignal(false);
  const legend = t("admin.queues.membersOf", { name: queue.name });
  return (
    <div>
      <button type="button" class="hcw-link-button" aria-expanded={open.value} onClick={() => (open.value = !open.value)}>
        {t("admin.queues.members", { count: (queue.member_ids ?? []).length })}
      </button>
      {open.value && (
        <form
          class="hcw-form"
          onSubmit={(e) => {
            e.preventDefault();
            error.value = null;
            saved.value = false;
            api.setQueueMembers(queue.id, chosen.value).then(
              async () => {
                saved.value = true;
                await reload();
              },
              (err: unknown) => (error.value = errorCode(err)),
            );
          }}
        >
          <fieldset>
            <legend>{legend}</legend>
            {staff.map((u) => (
              <label key={u.id} class="hcw-check">
                <input
                  type="checkbox"
                  checked={chosen.value.includes(u.id)}
                  onChange={(e) =>
                    (chosen.value = e.currentTarget.checked ? [...chosen.value, u.id] : chosen.value.filter((id) => id !== u.id))
                  }
                />{" "}
                {`${u.first_name} ${u.last_name} (${roleName(u.role)})`}
              </label>
            ))}
          </fieldset>
          <button type="submit" class="hcw-button">
            {t("admin.queues.saveMembers")}
          </button>
          <div aria-live="polite">
            <ErrorLine code={error.value} />
            {saved.value && <p class="hcw-notice hcw-notice-ok">{t("admin.queues.membersSaved")}</p>}
          </div>
        </form>
      )}
    </div>
  );
}

function QueuesSection({ api, queues, users, reload }: { api: AdminApi; queues: AdminQueue[] | null; users: AdminUser[] | null; reload: () => Promise<void> }) {
  const name = useSignal("");
  const error = useSignal<string | null>(null);
  const staff = (users ?? []).filter((u) => u.role === "doctor" || u.role === "nurse");
  return (
    <section id="admin-queues" class="hcw-card" aria-labelledby="admin-queues-title">
      <h2 id="admin-queues-title">{t("admin.queues.title")}</h2>
      {queues === null ? (
        <p role="status">{t("common.loading")}</p>
      ) : queues.length === 0 ? (
        <p class="hcw-muted">{t("admin.queues.none")}</p>
      ) : (
        <ul class="hcw-list">
          {queues.map((q) => (
            <li key={q.id} data-queue-id={q.id}>
              <strong>{q.name}</strong>
              <QueueMembers api={api} queue={q} staff={staff} reload={reload} />
            </li>
          ))}
        </ul>
      )}
      <form
        class="hcw-form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          error.value = null;
          api.createQueue(name.value.trim()).then(
            async () => {
              name.value = "";
              await reload();
            },
            (err: unknown) => (error.value = errorCode(err)),
          );
        }}
      >
        <div class="hcw-field">
          <label for="queue-name">{t("admin.queues.name")}</label>
          <input id="queue-name" maxLength={100} value={name.value} onInput={(e) => (name.value = e.currentTarget.value)} />
        </div>
        <button id="queue-create" type="submit" class="hcw-button" disabled={name.value.trim() === ""}>
          {t("admin.queues.create")}
        </button>
        <div aria-live="polite">
          <ErrorLine code={error.value} />
        </div>
      </form>
    </section>
  );
}

// ---------------------------------------------------------------- media nodes

export function MediaNodesSection({ monitor }: { monitor: MediaNodesMonitor }) {
  useEffect(() => {
    monitor.start();
    return () => monitor.stop();
  }, [monitor]);
  const nodes = monitor.nodes.value;
  const updated = monitor.updated.value;
  return (
    <section id="admin-media-nodes" class="hcw-card" aria-labelledby="admin-media-nodes-title">
      <h2 id="admin-media-nodes-title">{t("admin.media.title")}</h2>
      <p class="hcw-hint">{t("admin.media.refresh")}</p>
      <div aria-live="polite" id="media-status">
        {monitor.error.value && <ErrorLine code={monitor.error.value} />}
        {updated && <p class="hcw-muted">{t("admin.media.updated", { time: formatDate(updated, "time") })}</p>}
      </div>
      {nodes === null ? (
        <p role="status">{t("common.loading")}</p>
      ) : nodes.length === 0 ? (
        <p class="hcw-muted">{t("admin.media.none")}</p>
      ) : (
        <table class="hcw-table" id="media-table">
          <caption class="hcw-visually-hidden">{t("admin.media.title")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("admin.media.id")}</th>
              <th scope="col">{t("admin.media.healthy")}</th>
              <th scope="col">{t("admin.media.draining")}</th>
              <th scope="col">{t("admin.media.load")}</th>
            </tr>
          </thead>
          <tbody>
            {nodes.map((n) => (
              <tr key={n.id} data-node-id={n.id}>
                <td>{n.id}</td>
                <td>{n.healthy ? t("admin.yes") : t("admin.no")}</td>
                <td>{n.draining ? t("admin.yes") : t("admin.no")}</td>
                <td>{`${n.load.participants} / ${n.capacity}`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

// ---------------------------------------------------------------- audit

function AuditSection({ api }: { api: AdminApi }) {
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
    </section>
  );
}

// ---------------------------------------------------------------- statistics

function seconds(v: number | null | undefined): string {
  return v === null || v === undefined ? "–" : String(Math.round(v));
}

function FigureCells({ f }: { f: StatisticsFigures }) {
  return (
    <>
      <td>{f.closed}</td>
      <td>{f.completed}</td>
      <td>{f.cancelled}</td>
      <td>{seconds(f.avg_wait_seconds)}</td>
      <td>{seconds(f.p90_wait_seconds)}</td>
      <td>{seconds(f.avg_consultation_seconds)}</td>
      <td>{f.calls}</td>
      <td>{f.feedback_good}</td>
      <td>{f.feedback_ok}</td>
      <td>{f.feedback_bad}</td>
    </>
  );
}

export function StatisticsSection({ view, queues }: { view: StatisticsView; queues: AdminQueue[] | null }) {
  useEffect(() => void view.apply(), [view]);
  const report = view.report.value;
  return (
    <section id="admin-statistics" class="hcw-card" aria-labelledby="admin-statistics-title">
      <h2 id="admin-statistics-title">{t("admin.stats.title")}</h2>
      <form
        class="hcw-form"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void view.apply();
        }}
      >
        <div class="hcw-field">
          <label for="stats-from">{t("admin.stats.from")}</label>
          <input id="stats-from" type="date" value={view.from.value} onInput={(e) => (view.from.value = e.currentTarget.value)} />
        </div>
        <div class="hcw-field">
          <label for="stats-to">{t("admin.stats.to")}</label>
          <input id="stats-to" type="date" value={view.to.value} onInput={(e) => (view.to.value = e.currentTarget.value)} />
        </div>
        <div class="hcw-field">
          <label for="stats-queue">{t("admin.stats.queue")}</label>
          <select id="stats-queue" value={view.queueId.value} onChange={(e) => (view.queueId.value = e.currentTarget.value)}>
            <option value="">{t("admin.stats.allQueues")}</option>
            {(queues ?? []).map((q) => (
              <option key={q.id} value={q.id}>
                {q.name}
              </option>
            ))}
          </select>
        </div>
        <button id="stats-apply" type="submit" class="hcw-button" disabled={view.busy.value}>
          {t("admin.stats.apply")}
        </button>{" "}
        <a id="stats-csv" class="hcw-button hcw-button-secondary" href={view.csvUrl()} download>
          {t("admin.stats.csv")}
        </a>
      </form>
      <div aria-live="polite" id="stats-status">
        <ErrorLine code={view.error.value} />
        {view.busy.value && <p class="hcw-busy">{t("common.loading")}</p>}
        {report && !view.busy.value && <p class="hcw-muted">{t("admin.stats.summary", { from: report.from, to: report.to, count: report.totals.closed })}</p>}
      </div>
      {report && (
        <table id="stats-table" class="hcw-table">
          <caption class="hcw-visually-hidden">{t("admin.stats.title")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("admin.stats.day")}</th>
              <th scope="col">{t("admin.stats.queue")}</th>
              <th scope="col">{t("admin.stats.closed")}</th>
              <th scope="col">{t("admin.stats.completed")}</th>
              <th scope="col">{t("admin.stats.cancelled")}</th>
              <th scope="col">{t("admin.stats.avgWait")}</th>
              <th scope="col">{t("admin.stats.p90Wait")}</th>
              <th scope="col">{t("admin.stats.avgDuration")}</th>
              <th scope="col">{t("admin.stats.calls")}</th>
              <th scope="col">{t("admin.stats.good")}</th>
              <th scope="col">{t("admin.stats.ok")}</th>
              <th scope="col">{t("admin.stats.bad")}</th>
            </tr>
          </thead>
          <tbody>
            {report.rows.length === 0 && (
              <tr>
                <td colSpan={12}>{t("admin.stats.none")}</td>
              </tr>
            )}
            {report.rows.map((r) => (
              <tr key={`${r.day}/${r.queue_id ?? ""}`}>
                <th scope="row">{r.day}</th>
                <td>{r.queue_id ? r.queue_name || r.queue_id : t("admin.stats.deletedQueue")}</td>
                <FigureCells f={r.figures} />
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr class="stats-totals">
              <th scope="row" colSpan={2}>
                {t("admin.stats.totals")}
              </th>
              <FigureCells f={report.totals} />
            </tr>
          </tfoot>
        </table>
      )}
    </section>
  );
}

// ---------------------------------------------------------------- the app

function Console({ deps }: { deps: AdminDeps }) {
  const { api } = deps;
  const users = useSignal<AdminUser[] | null>(null);
  const queues = useSignal<AdminQueue[] | null>(null);
  const monitor = useMemo(() => new MediaNodesMonitor(api, deps.clock), [api, deps.clock]);
  const stats = useMemo(() => new StatisticsView(api, deps.now?.()), [api, deps.now]);
  const loadUsers = async () => {
    users.value = await api.listUsers().catch(() => users.value ?? []);
  };
  const loadQueues = async () => {
    queues.value = await api.listQueues().catch(() => queues.value ?? []);
  };
  useEffect(() => {
    void loadUsers();
    void loadQueues();
  }, [api]);
  return (
    <div class="hcw-admin">
      <nav aria-label={t("admin.sections")}>
        <ul class="hcw-list">
          <li>
            <a href="#admin-users">{t("admin.users.title")}</a>
          </li>
          <li>
            <a href="#admin-queues">{t("admin.queues.title")}</a>
          </li>
          <li>
            <a href="#admin-media-nodes">{t("admin.media.title")}</a>
          </li>
          <li>
            <a href="#admin-audit">{t("admin.audit.title")}</a>
          </li>
          <li>
            <a href="#admin-statistics">{t("admin.stats.title")}</a>
          </li>
        </ul>
      </nav>
      <UsersSection api={api} users={users.value} reload={loadUsers} />
      <QueuesSection api={api} queues={queues.value} users={users.value} reload={loadQueues} />
      <MediaNodesSection monitor={monitor} />
      <AuditSection api={api} />
      <StatisticsSection view={stats} queues={queues.value} />
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
      return t("admin.title");
  }
}

export interface AdminAppProps {
  auth: DoctorAuth;
  deps?: Partial<AdminDeps>;
}

/** The admin app: the staff sign-in (password and TOTP), then the console for administrators. */
export function AdminApp({ auth, deps }: AdminAppProps) {
  const screen = auth.screen.value;
  const all = useMemo<AdminDeps>(() => ({ api: new AdminApi(), ...deps }), [deps]);
  let body;
  if (screen.name === "ready" && screen.user.role !== "admin") {
    body = (
      <p class="hcw-notice hcw-notice-warn" role="alert">
        {t("admin.notAdmin")}
      </p>
    );
  } else if (screen.name === "ready") {
    body = <Console deps={all} />;
  } else {
    body = <AuthStep auth={auth} screen={screen} />;
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
    <AppShell app="admin" title={titleOf(screen)} headerEnd={headerEnd} labels={{ version: t("app.version"), skip: t("app.skip") }}>
      {body}
    </AppShell>
  );
}
