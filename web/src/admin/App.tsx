import { useEffect, useMemo, useRef } from "preact/hooks";
import { useSignal } from "@preact/signals";
import { AppShell } from "../shared/AppShell";
import { formatDate, t, type MessageKey } from "../shared/i18n";
import { LanguageMenu } from "../shared/LanguageMenu";
import { Confirm } from "../shared/confirm";
import type { PasskeyDeps } from "../shared/passkey";
import { PasskeySignInButton, SecuritySection, type SecurityApi } from "../shared/security";
import { AuthStep, authTitle } from "../shared/signin";
import type { AuthScreen, DoctorAuth } from "../doctor/auth";
import {
  AdminApi,
  ROLES,
  type AdminQueue,
  type AdminUser,
  type ApiKey,
  type Organisation,
  type OrganisationFields,
  type Role,
  type StatisticsFigures,
  type UserFilter,
} from "./api";
import { AuditSection } from "./audit";
import { failureOf, MediaNodesMonitor, splitList, StatisticsView, type Clock, type Failure } from "./models";
import { SettingsSection } from "./settings";
import { ErrorLine, FailureLine, Outcome, refocus, useAction, type FieldTexts } from "./ui";

/** What the admin app needs from outside (tests pass fakes). */
export interface AdminDeps {
  api: AdminApi;
  clock?: Clock;
  now?: () => Date;
  /** Puts text on the clipboard; default navigator.clipboard. */
  copy?: (text: string) => Promise<void>;
  /** The Security section's passkey routes; default this host's /api/v1/me/passkeys. */
  security?: SecurityApi;
  /** The passkey flows' routes and the browser's credentials; default the browser's WebAuthn. */
  passkeys?: Partial<PasskeyDeps>;
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

function userName(u: AdminUser): string {
  return `${u.first_name} ${u.last_name}`.trim() || u.email;
}

/**
 * A user's status changes from the list: each button's API call, its
 * label, the message once done, and the button the focus goes to after
 * (the one that undoes it, or the same).
 */
const TRANSITIONS = {
  approve: { run: (api: AdminApi, id: string) => api.approveUser(id), label: "admin.users.approve", done: "admin.users.approved", then: "approve" },
  enable: { run: (api: AdminApi, id: string) => api.enableUser(id), label: "admin.users.enable", done: "admin.users.enabled", then: "disable" },
  disable: { run: (api: AdminApi, id: string) => api.disableUser(id), label: "admin.users.disable", done: "admin.users.disabled", then: "enable" },
} as const satisfies Record<string, { run: (api: AdminApi, id: string) => Promise<unknown>; label: MessageKey; done: MessageKey; then: string }>;

/** The users list's filter: everybody, or the nurses whose self-registration awaits approval. */
export const PENDING_NURSES: UserFilter = { role: "nurse", status: "pending_approval" };

const USER_FIELDS: FieldTexts = { email: () => t("admin.error.email") };

export function UsersSection({
  api,
  users,
  reload,
  onApiKeys,
}: {
  api: AdminApi;
  users: AdminUser[] | null;
  reload: () => Promise<void>;
  onApiKeys?: (u: AdminUser) => void;
}) {
  const email = useSignal("");
  const first = useSignal("");
  const last = useSignal("");
  const role = useSignal<Role>("doctor");
  const view = useSignal<"all" | "pending">("all");
  const pending = useSignal<AdminUser[] | null>(null);
  const confirmReset = useSignal<AdminUser | null>(null);
  const setup = useSignal<{ email: string; url: string | null } | null>(null);
  const rowAction = useAction();
  const create = useAction();

  const loadPending = async () => {
    try {
      pending.value = await api.listUsers(PENDING_NURSES);
    } catch (err) {
      pending.value = pending.value ?? [];
      rowAction.failure.value = failureOf(err);
    }
  };
  useEffect(() => {
    if (view.value === "pending") void loadPending();
  }, [view.value]);
  const refresh = async () => {
    await reload();
    if (view.value === "pending") await loadPending();
  };
  /**
   * Runs a row's action, then puts the focus on the button `after` it (or
   * on the title when the row left the list), or back on `self` when it failed.
   */
  const act = (self: string, after: string, fn: () => Promise<string>) =>
    void rowAction
      .run(async () => {
        const msg = await fn();
        await refresh();
        return msg;
      })
      .then((ok) => refocus(ok ? after : self, "admin-users-title"));

  const rows = view.value === "pending" ? pending.value : users;
  const busy = rowAction.busy.value;
  const resetting = confirmReset.value;
  const transition = (u: AdminUser, kind: keyof typeof TRANSITIONS, style: string) => {
    const tr = TRANSITIONS[kind];
    return (
      <button
        type="button"
        id={`${kind}-${u.id}`}
        class={style}
        aria-describedby={`user-name-${u.id}`}
        disabled={busy}
        onClick={() =>
          act(`${kind}-${u.id}`, `${tr.then}-${u.id}`, async () => {
            await tr.run(api, u.id);
            return t(tr.done, { name: userName(u) });
          })
        }
      >
        {t(tr.label)}
      </button>
    );
  };
  return (
    <section id="admin-users" class="hcw-card" aria-labelledby="admin-users-title">
      <h2 id="admin-users-title" tabIndex={-1}>
        {t("admin.users.title")}
      </h2>
      <div class="hcw-field">
        <label for="users-filter">{t("admin.users.filter")}</label>
        <select id="users-filter" value={view.value} onChange={(e) => (view.value = e.currentTarget.value === "pending" ? "pending" : "all")}>
          <option value="all">{t("admin.users.filterAll")}</option>
          <option value="pending">{t("admin.users.filterPending")}</option>
        </select>
      </div>
      {rows === null ? (
        <p role="status">{t("common.loading")}</p>
      ) : rows.length === 0 ? (
        <p class="hcw-muted" id="users-empty">
          {view.value === "pending" ? t("admin.users.nonePending") : t("admin.users.none")}
        </p>
      ) : (
        <table class="hcw-table" id="users-table">
          <caption class="hcw-visually-hidden">{view.value === "pending" ? t("admin.users.filterPending") : t("admin.users.title")}</caption>
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
            {rows.map((u) => {
              const nameId = `user-name-${u.id}`;
              return (
                <tr key={u.id} data-user-id={u.id}>
                  <td id={nameId}>{userName(u)}</td>
                  <td>{u.email}</td>
                  <td>{roleName(u.role)}</td>
                  <td>{statusName(u.status)}</td>
                  <td>
                    <div class="admin-row-actions">
                      {u.status === "pending_approval" && transition(u, "approve", "hcw-button")}
                      {/* After either, the focus goes to the button that undoes it. */}
                      {transition(u, u.status === "disabled" ? "enable" : "disable", "hcw-button hcw-button-secondary")}
                      {u.role !== "scheduler" && (
                        <button
                          type="button"
                          id={`reset-${u.id}`}
                          class="hcw-button hcw-button-secondary"
                          aria-describedby={nameId}
                          aria-expanded={resetting?.id === u.id}
                          disabled={busy}
                          onClick={() => (confirmReset.value = u)}
                        >
                          {t("admin.users.resetFactor")}
                        </button>
                      )}
                      {onApiKeys && (
                        <button type="button" id={`keys-${u.id}`} class="hcw-button hcw-button-secondary" aria-describedby={nameId} onClick={() => onApiKeys(u)}>
                          {t("admin.users.apiKeys")}
                        </button>
                      )}
                    </div>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {resetting && (
        <Confirm
          id="confirm-reset"
          title={t("admin.users.resetFactor")}
          text={t("admin.users.resetConfirm", { name: userName(resetting) })}
          yes={t("admin.users.resetYes")}
          busy={busy}
          onYes={() => {
            confirmReset.value = null;
            act(`reset-${resetting.id}`, `reset-${resetting.id}`, async () => {
              await api.resetSecondFactor(resetting.id);
              return t("admin.users.resetDone", { name: userName(resetting) });
            });
          }}
          onNo={() => (confirmReset.value = null)}
          returnFocus={`reset-${resetting.id}`}
          fallbackFocus="admin-users-title"
        />
      )}
      <Outcome action={rowAction} id="users-status" />
      <form
        class="hcw-form"
        noValidate
        aria-labelledby="user-create-title"
        onSubmit={(e) => {
          e.preventDefault();
          setup.value = null;
          void create.run(async () => {
            const created = await api.createUser({ email: email.value.trim(), first_name: first.value.trim(), last_name: last.value.trim(), role: role.value });
            setup.value = { email: created.user.email, url: created.setup_url ?? null };
            email.value = first.value = last.value = "";
            await refresh();
          });
        }}
      >
        <h3 id="user-create-title">{t("admin.users.create")}</h3>
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
        <button id="user-create" type="submit" class="hcw-button" disabled={create.busy.value || !email.value || !first.value || !last.value}>
          {t("admin.users.createButton")}
        </button>
      </form>
      <div aria-live="polite" id="user-result">
        <FailureLine failure={create.failure.value} fields={USER_FIELDS} />
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

// ---------------------------------------------------------------- API keys

const KEY_FIELDS: FieldTexts = { name: () => t("admin.keys.error.name"), role: () => t("admin.keys.error.role") };

function keyDate(v: string | null | undefined): string {
  return v ? formatDate(v, "datetime") : t("admin.keys.never");
}

/** A user's API keys: the list, a new key (its secret shown once), revoking one. */
export function ApiKeysSection({
  api,
  users,
  userId,
  onUser,
  copy,
}: {
  api: AdminApi;
  users: AdminUser[] | null;
  userId: string;
  onUser: (id: string) => void;
  copy: (text: string) => Promise<void>;
}) {
  const keys = useSignal<ApiKey[] | null>(null);
  const name = useSignal("");
  const role = useSignal<Role>("admin");
  const secret = useSignal<{ name: string; key: string } | null>(null);
  const copied = useSignal<"copied" | "failed" | null>(null);
  const confirmRevoke = useSignal<ApiKey | null>(null);
  const action = useAction();
  const user = (users ?? []).find((u) => u.id === userId) ?? null;

  const load = async (id: string) => {
    try {
      keys.value = await api.listApiKeys(id);
    } catch (err) {
      keys.value = keys.value ?? [];
      action.failure.value = failureOf(err);
    }
  };
  useEffect(() => {
    // Another user: nothing of the last one stays on screen, least of all a secret.
    keys.value = null;
    secret.value = null;
    confirmRevoke.value = null;
    action.failure.value = null;
    action.done.value = null;
    role.value = "admin";
    if (userId) void load(userId);
  }, [userId]);

  const keyRole = user?.role === "admin" ? role.value : (user?.role ?? "");
  const revoking = confirmRevoke.value;
  return (
    <section id="admin-api-keys" class="hcw-card" aria-labelledby="admin-api-keys-title">
      <h2 id="admin-api-keys-title" tabIndex={-1}>
        {t("admin.keys.title")}
      </h2>
      <p class="hcw-hint">{t("admin.keys.intro")}</p>
      <div class="hcw-field">
        <label for="keys-user">{t("admin.keys.user")}</label>
        <select id="keys-user" value={userId} onChange={(e) => onUser(e.currentTarget.value)}>
          <option value="">{t("admin.keys.chooseUser")}</option>
          {(users ?? []).map((u) => (
            <option key={u.id} value={u.id}>
              {`${userName(u)} (${roleName(u.role)})`}
            </option>
          ))}
        </select>
      </div>
      {user && (
        <>
          {keys.value === null ? (
            <p role="status">{t("common.loading")}</p>
          ) : keys.value.length === 0 ? (
            <p class="hcw-muted" id="keys-empty">
              {t("admin.keys.none")}
            </p>
          ) : (
            <table class="hcw-table" id="keys-table">
              <caption class="hcw-visually-hidden">{t("admin.keys.of", { name: userName(user) })}</caption>
              <thead>
                <tr>
                  <th scope="col">{t("admin.keys.name")}</th>
                  <th scope="col">{t("admin.keys.prefix")}</th>
                  <th scope="col">{t("admin.keys.role")}</th>
                  <th scope="col">{t("admin.keys.created")}</th>
                  <th scope="col">{t("admin.keys.lastUsed")}</th>
                  <th scope="col">{t("admin.users.status")}</th>
                  <th scope="col">{t("admin.users.actions")}</th>
                </tr>
              </thead>
              <tbody>
                {keys.value.map((k) => (
                  <tr key={k.id} data-key-id={k.id}>
                    <td id={`key-name-${k.id}`}>{k.name}</td>
                    <td>
                      <code>{k.prefix}</code>
                    </td>
                    <td>{roleName(k.role)}</td>
                    <td>{keyDate(k.created_at)}</td>
                    <td>{keyDate(k.last_used_at)}</td>
                    <td>{k.revoked_at ? t("admin.keys.revokedOn", { date: formatDate(k.revoked_at, "datetime") }) : t("admin.status.active")}</td>
                    <td>
                      {!k.revoked_at && (
                        <button
                          type="button"
                          id={`revoke-${k.id}`}
                          class="hcw-button hcw-button-secondary"
                          aria-describedby={`key-name-${k.id}`}
                          aria-expanded={revoking?.id === k.id}
                          disabled={action.busy.value}
                          onClick={() => (confirmRevoke.value = k)}
                        >
                          {t("admin.keys.revoke")}
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {revoking && (
            <Confirm
              id="confirm-revoke"
              title={t("admin.keys.revokeTitle", { name: revoking.name })}
              text={t("admin.keys.revokeConfirm", { name: revoking.name })}
              yes={t("admin.keys.revokeYes")}
              busy={action.busy.value}
              onYes={() => {
                confirmRevoke.value = null;
                void action
                  .run(async () => {
                    await api.revokeApiKey(revoking.id);
                    await load(userId);
                    return t("admin.keys.revoked", { name: revoking.name });
                  })
                  .then(() => refocus(`revoke-${revoking.id}`, "admin-api-keys-title"));
              }}
              onNo={() => (confirmRevoke.value = null)}
              returnFocus={`revoke-${revoking.id}`}
              fallbackFocus="admin-api-keys-title"
            />
          )}
          {secret.value && (
            <div id="key-secret-box" class="hcw-notice hcw-notice-warn" role="group" aria-labelledby="key-secret-title">
              <h3 id="key-secret-title">{t("admin.keys.secretTitle", { name: secret.value.name })}</h3>
              <p id="key-secret-once">
                <strong>{t("admin.keys.secretOnce")}</strong>
              </p>
              <div class="hcw-field">
                <label for="key-secret">{t("admin.keys.secretLabel")}</label>
                <input
                  id="key-secret"
                  class="admin-secret"
                  readOnly
                  value={secret.value.key}
                  aria-describedby="key-secret-once"
                  onFocus={(e) => e.currentTarget.select()}
                />
              </div>
              <div class="hcw-actions">
                <button
                  type="button"
                  id="key-copy"
                  class="hcw-button"
                  onClick={() => {
                    const key = secret.value?.key ?? "";
                    copy(key).then(
                      () => (copied.value = "copied"),
                      () => {
                        copied.value = "failed";
                        document.getElementById("key-secret")?.focus();
                      },
                    );
                  }}
                >
                  {t("admin.copy")}
                </button>
                <button
                  type="button"
                  id="key-secret-done"
                  class="hcw-button hcw-button-secondary"
                  onClick={() => {
                    secret.value = null;
                    copied.value = null;
                    refocus("key-name");
                  }}
                >
                  {t("admin.keys.secretDone")}
                </button>
              </div>
              <p aria-live="polite" id="key-copy-status">
                {copied.value === "copied" ? t("admin.copied") : copied.value === "failed" ? t("admin.copyFailed") : ""}
              </p>
            </div>
          )}
          <Outcome action={action} id="keys-status" fields={KEY_FIELDS} />
          <form
            class="hcw-form"
            noValidate
            aria-labelledby="key-create-title"
            onSubmit={(e) => {
              e.preventDefault();
              secret.value = null;
              copied.value = null;
              void action
                .run(async () => {
                  const created = await api.createApiKey({ user_id: user.id, name: name.value.trim(), role: keyRole });
                  secret.value = { name: created.api_key.name, key: created.key };
                  name.value = "";
                  await load(user.id);
                  return t("admin.keys.createdDone", { name: created.api_key.name });
                })
                .then((ok) => ok && refocus("key-secret"));
            }}
          >
            <h3 id="key-create-title">{t("admin.keys.create")}</h3>
            <div class="hcw-field">
              <label for="key-name">{t("admin.keys.name")}</label>
              <input id="key-name" maxLength={100} required value={name.value} onInput={(e) => (name.value = e.currentTarget.value)} />
            </div>
            {user.role === "admin" ? (
              <div class="hcw-field">
                <label for="key-role">{t("admin.keys.role")}</label>
                <select id="key-role" value={role.value} onChange={(e) => (role.value = e.currentTarget.value as Role)}>
                  {ROLES.map((r) => (
                    <option key={r} value={r}>
                      {roleName(r)}
                    </option>
                  ))}
                </select>
              </div>
            ) : (
              <p class="hcw-hint" id="key-role-fixed">
                {t("admin.keys.roleFixed", { role: roleName(user.role) })}
              </p>
            )}
            <button id="key-create" type="submit" class="hcw-button" disabled={action.busy.value || name.value.trim() === ""}>
              {t("admin.keys.createButton")}
            </button>
          </form>
        </>
      )}
    </section>
  );
}

// ---------------------------------------------------------------- queues

function QueueMembers({ api, queue, staff, reload }: { api: AdminApi; queue: AdminQueue; staff: AdminUser[]; reload: () => Promise<void> }) {
  const open = useSignal(false);
  const chosen = useSignal<string[]>(queue.member_ids ?? []);
  const error = useSignal<Failure | null>(null);
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
              (err: unknown) => (error.value = failureOf(err)),
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
            <FailureLine failure={error.value} />
            {saved.value && <p class="hcw-notice hcw-notice-ok">{t("admin.queues.membersSaved")}</p>}
          </div>
        </form>
      )}
    </div>
  );
}

function QueuesSection({ api, queues, users, reload }: { api: AdminApi; queues: AdminQueue[] | null; users: AdminUser[] | null; reload: () => Promise<void> }) {
  const name = useSignal("");
  const error = useSignal<Failure | null>(null);
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
            (err: unknown) => (error.value = failureOf(err)),
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
          <FailureLine failure={error.value} />
        </div>
      </form>
    </section>
  );
}

// ---------------------------------------------------------------- interpreter organisations

const ORG_FIELDS: FieldTexts = {
  name: () => t("admin.orgs.error.name"),
  languages: () => t("admin.orgs.error.languages"),
  contact_email: () => t("admin.error.email"),
  members: () => t("admin.orgs.error.members"),
};

/** An organisation's fields; `idp` prefixes the ids (one form of each kind on screen at a time). */
function OrganisationForm({
  idp,
  initial,
  title,
  submit,
  onSave,
  onDone,
  onCancel,
}: {
  idp: string;
  initial?: Organisation;
  title: string;
  submit: string;
  onSave: (fields: OrganisationFields) => Promise<Organisation>;
  onDone: (o: Organisation) => void;
  onCancel?: () => void;
}) {
  const name = useSignal(initial?.name ?? "");
  const languages = useSignal((initial?.languages ?? []).join(", "));
  const contact = useSignal(initial?.contact_email ?? "");
  const members = useSignal((initial?.members ?? []).join("\n"));
  const action = useAction();
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (initial) first.current?.focus();
  }, []);
  const ready = name.value.trim() !== "" && splitList(languages.value).length > 0 && splitList(members.value).length > 0;
  return (
    <form
      class="hcw-form"
      noValidate
      aria-labelledby={`${idp}-title`}
      onSubmit={(e) => {
        e.preventDefault();
        void action.run(async () => {
          const saved = await onSave({
            name: name.value.trim(),
            languages: splitList(languages.value),
            contact_email: contact.value.trim(),
            members: splitList(members.value),
          });
          if (!initial) name.value = languages.value = contact.value = members.value = "";
          onDone(saved);
        });
      }}
      onKeyDown={(e) => {
        if (e.key === "Escape" && onCancel) {
          e.preventDefault();
          onCancel();
        }
      }}
    >
      <h3 id={`${idp}-title`}>{title}</h3>
      <div class="hcw-field">
        <label for={`${idp}-name`}>{t("admin.orgs.name")}</label>
        <input ref={first} id={`${idp}-name`} maxLength={100} required value={name.value} onInput={(e) => (name.value = e.currentTarget.value)} />
      </div>
      <div class="hcw-field">
        <label for={`${idp}-languages`}>{t("admin.orgs.languages")}</label>
        <input
          id={`${idp}-languages`}
          required
          aria-describedby={`${idp}-languages-hint`}
          value={languages.value}
          onInput={(e) => (languages.value = e.currentTarget.value)}
        />
        <p id={`${idp}-languages-hint`} class="hcw-hint">
          {t("admin.orgs.languagesHint")}
        </p>
      </div>
      <div class="hcw-field">
        <label for={`${idp}-contact`}>{t("admin.orgs.contact")}</label>
        <input id={`${idp}-contact`} type="email" value={contact.value} onInput={(e) => (contact.value = e.currentTarget.value)} />
      </div>
      <div class="hcw-field">
        <label for={`${idp}-members`}>{t("admin.orgs.members")}</label>
        <textarea
          id={`${idp}-members`}
          rows={4}
          required
          aria-describedby={`${idp}-members-hint`}
          value={members.value}
          onInput={(e) => (members.value = e.currentTarget.value)}
        />
        <p id={`${idp}-members-hint`} class="hcw-hint">
          {t("admin.orgs.membersHint")}
        </p>
      </div>
      <div class="hcw-actions">
        <button id={`${idp}-submit`} type="submit" class="hcw-button" disabled={action.busy.value || !ready}>
          {submit}
        </button>
        {onCancel && (
          <button id={`${idp}-cancel`} type="button" class="hcw-button hcw-button-secondary" onClick={onCancel}>
            {t("admin.cancel")}
          </button>
        )}
      </div>
      <Outcome action={action} id={`${idp}-status`} fields={ORG_FIELDS} />
    </form>
  );
}

/** Interpreter organisations: interpreters outside the system, reached by e-mail. */
export function OrganisationsSection({ api }: { api: AdminApi }) {
  const orgs = useSignal<Organisation[] | null>(null);
  const editing = useSignal<string | null>(null);
  const confirmDelete = useSignal<Organisation | null>(null);
  const action = useAction();
  const load = async () => {
    try {
      orgs.value = await api.listOrganisations();
    } catch (err) {
      orgs.value = orgs.value ?? [];
      action.failure.value = failureOf(err);
    }
  };
  useEffect(() => void load(), [api]);
  const announce = (msg: string) => {
    action.failure.value = null;
    action.done.value = msg;
  };
  const deleting = confirmDelete.value;
  const list = orgs.value;
  return (
    <section id="admin-organisations" class="hcw-card" aria-labelledby="admin-organisations-title">
      <h2 id="admin-organisations-title" tabIndex={-1}>
        {t("admin.orgs.title")}
      </h2>
      <p class="hcw-hint">{t("admin.orgs.intro")}</p>
      <Outcome action={action} id="orgs-status" />
      {list === null ? (
        <p role="status">{t("common.loading")}</p>
      ) : list.length === 0 ? (
        <p class="hcw-muted" id="orgs-empty">
          {t("admin.orgs.none")}
        </p>
      ) : (
        <ul class="hcw-list" id="orgs-list">
          {list.map((o) => (
            <li key={o.id} data-org-id={o.id} class="admin-item">
              <h3 id={`org-title-${o.id}`}>{o.name}</h3>
              <dl class="admin-facts">
                <dt>{t("admin.orgs.languages")}</dt>
                <dd>{o.languages.join(", ")}</dd>
                {o.contact_email && (
                  <>
                    <dt>{t("admin.orgs.contactShort")}</dt>
                    <dd>{o.contact_email}</dd>
                  </>
                )}
                <dt>{t("admin.orgs.membersCount", { count: (o.members ?? []).length })}</dt>
                <dd>
                  <ul class="admin-members">
                    {(o.members ?? []).map((m) => (
                      <li key={m}>{m}</li>
                    ))}
                  </ul>
                </dd>
              </dl>
              <div class="hcw-actions">
                <button
                  type="button"
                  id={`org-edit-${o.id}`}
                  class="hcw-button hcw-button-secondary"
                  aria-describedby={`org-title-${o.id}`}
                  aria-expanded={editing.value === o.id}
                  onClick={() => {
                    confirmDelete.value = null;
                    editing.value = editing.value === o.id ? null : o.id;
                  }}
                >
                  {t("admin.orgs.edit")}
                </button>
                <button
                  type="button"
                  id={`org-delete-${o.id}`}
                  class="hcw-button hcw-button-secondary"
                  aria-describedby={`org-title-${o.id}`}
                  aria-expanded={deleting?.id === o.id}
                  disabled={action.busy.value}
                  onClick={() => {
                    editing.value = null;
                    confirmDelete.value = o;
                  }}
                >
                  {t("admin.orgs.delete")}
                </button>
              </div>
              {editing.value === o.id && (
                <OrganisationForm
                  key={o.id}
                  idp="org-edit"
                  initial={o}
                  title={t("admin.orgs.editTitle", { name: o.name })}
                  submit={t("admin.orgs.save")}
                  onSave={(f) => api.updateOrganisation(o.id, f)}
                  onDone={(saved) => {
                    editing.value = null;
                    announce(t("admin.orgs.saved", { name: saved.name }));
                    void load();
                    refocus(`org-edit-${o.id}`);
                  }}
                  onCancel={() => {
                    editing.value = null;
                    refocus(`org-edit-${o.id}`);
                  }}
                />
              )}
              {deleting?.id === o.id && (
                <Confirm
                  id="confirm-org-delete"
                  title={t("admin.orgs.deleteTitle", { name: o.name })}
                  text={t("admin.orgs.deleteConfirm", { name: o.name })}
                  yes={t("admin.orgs.deleteYes")}
                  busy={action.busy.value}
                  onYes={() => {
                    confirmDelete.value = null;
                    void action
                      .run(async () => {
                        await api.deleteOrganisation(o.id);
                        await load();
                        return t("admin.orgs.deleted", { name: o.name });
                      })
                      .then(() => refocus(`org-delete-${o.id}`, "admin-organisations-title"));
                  }}
                  onNo={() => (confirmDelete.value = null)}
                  returnFocus={`org-delete-${o.id}`}
                  fallbackFocus="admin-organisations-title"
                />
              )}
            </li>
          ))}
        </ul>
      )}
      <OrganisationForm
        idp="org"
        title={t("admin.orgs.create")}
        submit={t("admin.orgs.createButton")}
        onSave={(f) => api.createOrganisation(f)}
        onDone={(created) => {
          announce(t("admin.orgs.created", { name: created.name }));
          void load();
        }}
      />
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

// ---------------------------------------------------------------- statistics

function seconds(v: number | null | undefined): string {
  return v === null || v === undefined ? "–" : String(Math.round(v));
}

/** A row's figures, right-aligned (class admin-num) so that digits line up. */
function FigureCells({ f }: { f: StatisticsFigures }) {
  return (
    <>
      <td class="admin-num">{f.closed}</td>
      <td class="admin-num">{f.completed}</td>
      <td class="admin-num">{f.cancelled}</td>
      <td class="admin-num">{seconds(f.avg_wait_seconds)}</td>
      <td class="admin-num">{seconds(f.p90_wait_seconds)}</td>
      <td class="admin-num">{seconds(f.avg_consultation_seconds)}</td>
      <td class="admin-num">{f.calls}</td>
      <td class="admin-num">{f.feedback_good}</td>
      <td class="admin-num">{f.feedback_ok}</td>
      <td class="admin-num">{f.feedback_bad}</td>
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
        // Scrolls on its own where it cannot fit (a narrow window, long words), reachable by keyboard.
        <div class="admin-table-scroll" role="region" aria-labelledby="stats-caption" tabIndex={0}>
          <table id="stats-table" class="hcw-table admin-stats">
            <caption id="stats-caption" class="hcw-visually-hidden">
              {t("admin.stats.caption")}
            </caption>
            {/* Two header rows: the groups (scope colgroup, one <colgroup> each) over short column names. */}
            <colgroup span={2} />
            <colgroup span={3} />
            <colgroup span={2} />
            <colgroup span={1} />
            <colgroup span={1} />
            <colgroup span={3} />
            <thead>
              <tr>
                <th scope="col" rowSpan={2}>
                  {t("admin.stats.day")}
                </th>
                <th scope="col" rowSpan={2}>
                  {t("admin.stats.queue")}
                </th>
                <th scope="colgroup" colSpan={3}>
                  {t("admin.stats.consultations")}
                </th>
                <th scope="colgroup" colSpan={2}>
                  {t("admin.stats.waitGroup")}
                </th>
                <th scope="colgroup">{t("admin.stats.durationGroup")}</th>
                <th scope="col" rowSpan={2} class="admin-num">
                  {t("admin.stats.calls")}
                </th>
                <th scope="colgroup" colSpan={3}>
                  {t("admin.stats.feedback")}
                </th>
              </tr>
              <tr>
                <th scope="col">{t("admin.stats.closed")}</th>
                <th scope="col">{t("admin.stats.completed")}</th>
                <th scope="col">{t("admin.stats.cancelled")}</th>
                <th scope="col">{t("admin.stats.average")}</th>
                <th scope="col">{t("admin.stats.p90")}</th>
                <th scope="col">{t("admin.stats.average")}</th>
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
                  <th scope="row" class="admin-day">
                    {r.day}
                  </th>
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
        </div>
      )}
    </section>
  );
}

// ---------------------------------------------------------------- the app

function defaultCopy(text: string): Promise<void> {
  if (!globalThis.navigator?.clipboard) return Promise.reject(new Error("no clipboard"));
  return globalThis.navigator.clipboard.writeText(text);
}

/** The console's sections in page order: the anchor and the title key. */
const SECTIONS: readonly (readonly [string, MessageKey])[] = [
  ["admin-users", "admin.users.title"],
  ["admin-api-keys", "admin.keys.title"],
  ["admin-queues", "admin.queues.title"],
  ["admin-organisations", "admin.orgs.title"],
  ["admin-settings", "admin.settings.title"],
  ["admin-media-nodes", "admin.media.title"],
  ["admin-audit", "admin.audit.title"],
  ["admin-statistics", "admin.stats.title"],
  ["admin-security", "admin.security.title"],
];

/** The console of a signed-in administrator. */
export function AdminConsole({ deps }: { deps: AdminDeps }) {
  const { api } = deps;
  const users = useSignal<AdminUser[] | null>(null);
  const queues = useSignal<AdminQueue[] | null>(null);
  const keysUser = useSignal("");
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
          {SECTIONS.map(([id, title]) => (
            <li key={id}>
              <a href={`#${id}`}>{t(title)}</a>
            </li>
          ))}
        </ul>
      </nav>
      <UsersSection
        api={api}
        users={users.value}
        reload={loadUsers}
        onApiKeys={(u) => {
          keysUser.value = u.id;
          refocus("keys-user");
        }}
      />
      <ApiKeysSection api={api} users={users.value} userId={keysUser.value} onUser={(id) => (keysUser.value = id)} copy={deps.copy ?? defaultCopy} />
      <QueuesSection api={api} queues={queues.value} users={users.value} reload={loadQueues} />
      <OrganisationsSection api={api} />
      <SettingsSection api={api} />
      <MediaNodesSection monitor={monitor} />
      <AuditSection api={api} />
      <StatisticsSection view={stats} queues={queues.value} />
      <SecuritySection
        id="admin-security"
        titleId="admin-security-title"
        title={t("admin.security.title")}
        api={deps.security}
        passkeys={deps.passkeys}
      />
    </div>
  );
}

function titleOf(s: AuthScreen): string {
  return s.name === "ready" ? t("admin.title") : authTitle(s);
}

export interface AdminAppProps {
  auth: DoctorAuth;
  deps?: Partial<AdminDeps>;
}

/** The admin app: the staff sign-in (password, then a TOTP code or a passkey), then the console for administrators. */
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
    body = <AdminConsole deps={all} />;
  } else {
    body = <AuthStep auth={auth} screen={screen} secondFactorExtra={<PasskeySignInButton auth={auth} />} />;
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
