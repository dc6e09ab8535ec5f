/**
 * The admin app's calls to the API (session cookie, same origin): users,
 * API keys, queues, interpreter organisations, media nodes, the audit
 * trail (its check and its events), the instance settings and logo, and
 * the statistics. The
 * shapes come from the generated OpenAPI types; every call takes an
 * optional fetch so tests can answer it.
 */
import { API_BASE, listBody, objectBody, requestJson, requireObject, type FetchLike } from "../shared/api";
import type { components, operations } from "../shared/api-schema";
import type { Fits } from "../shared/api-types";

type Schemas = components["schemas"];
export type AdminUser = Schemas["userBody"];
export type CreatedUser = Schemas["createdUserBody"];
export type NewUser = Schemas["createUserRequest"];
export type AdminQueue = Schemas["queueBody"];
export type MediaNode = Schemas["mediaNodeBody"];
export type AuditCheck = Schemas["verifyBody"];
export type StatisticsReport = Schemas["Report"];
export type StatisticsFigures = Schemas["Figures"];
export type StatisticsRow = Schemas["Row"];
export type UserChanges = Schemas["updateUserRequest"];
export type ApiKey = Schemas["apiKeyBody"];
export type NewApiKey = Schemas["createAPIKeyRequest"];
export type CreatedApiKey = Schemas["createdAPIKeyBody"];
export type Organisation = Schemas["organisationBody"];
export type OrganisationFields = Schemas["organisationRequest"];
export type SettingsBody = Schemas["settingsBody"];
export type InstanceSettings = Schemas["Settings"];
export type LogoInfo = Schemas["logoBody"];
export type AuditEvent = Schemas["auditEventBody"];
export type AuditPage = Schemas["auditListBody"];
/** The audit listing's query: filters, the page cursor (before) and size (limit). */
export type AuditQuery = NonNullable<operations["listAuditEvents"]["parameters"]["query"]>;

/** The logo's limits, as the API enforces them. */
export const LOGO_MAX_BYTES = 256 * 1024;
export const LOGO_TYPES: readonly string[] = ["image/png", "image/jpeg", "image/webp"];

/** The filters of the users list (the API's role and status query; the OpenAPI document does not describe that query). */
export interface UserFilter {
  role?: Role;
  status?: Fits<"active" | "pending_approval" | "disabled", AdminUser["status"]>;
}

export type Role = Fits<"admin" | "doctor" | "nurse" | "scheduler", AdminUser["role"]>;
export const ROLES: readonly Role[] = ["admin", "doctor", "nurse", "scheduler"];

const enc = encodeURIComponent;

/** Checks the body of the settings routes: a settings object inside. */
function settingsBody(body: unknown): SettingsBody {
  const obj = requireObject(body);
  requireObject(obj["settings"]);
  return obj as SettingsBody;
}

/** The query string of an audit listing (empty filters left out). */
export function auditSearch(q: AuditQuery): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== "") p.set(k, String(v));
  return p.toString();
}

export interface AdminApiOptions {
  fetch?: FetchLike;
}

/** The admin API; `new AdminApi({ fetch })` in tests. */
export class AdminApi {
  constructor(private readonly opts: AdminApiOptions = {}) {}

  private req<T>(method: string, path: string, parse: ((b: unknown) => T) | null, body?: unknown): Promise<T> {
    const o: { fetch?: FetchLike; body?: unknown } = {};
    if (this.opts.fetch) o.fetch = this.opts.fetch;
    if (body !== undefined) o.body = body;
    return requestJson(method, path, parse, o);
  }

  async listUsers(f: UserFilter = {}): Promise<AdminUser[]> {
    const q = new URLSearchParams();
    if (f.role) q.set("role", f.role);
    if (f.status) q.set("status", f.status);
    q.set("limit", "100");
    return (await this.req("GET", `/admin/users?${q.toString()}`, listBody<Schemas["userListBody"]>("users"))).users;
  }

  updateUser(id: string, c: UserChanges): Promise<AdminUser> {
    return this.req("PATCH", `/admin/users/${enc(id)}`, objectBody<AdminUser>, c);
  }

  /** A nurse's pending account becomes active (409 invalid_transition otherwise). */
  approveUser(id: string): Promise<AdminUser> {
    return this.req("POST", `/admin/users/${enc(id)}/approve`, objectBody<AdminUser>);
  }

  /** Removes the user's second factor: their sessions end and they enrol again at the next sign-in. */
  resetSecondFactor(id: string): Promise<void> {
    return this.req("POST", `/admin/users/${enc(id)}/second-factor-reset`, null);
  }

  async listApiKeys(userId: string): Promise<ApiKey[]> {
    return (await this.req("GET", `/admin/users/${enc(userId)}/api-keys`, listBody<Schemas["apiKeyListBody"]>("api_keys"))).api_keys;
  }

  /** The answer holds the secret (key), which the API never shows again. */
  createApiKey(k: NewApiKey): Promise<CreatedApiKey> {
    return this.req("POST", "/admin/api-keys", objectBody<CreatedApiKey>, k);
  }

  revokeApiKey(id: string): Promise<void> {
    return this.req("POST", `/admin/api-keys/${enc(id)}/revoke`, null);
  }

  async listOrganisations(): Promise<Organisation[]> {
    return (await this.req("GET", "/admin/interpreter-organisations", listBody<Schemas["organisationListBody"]>("organisations"))).organisations;
  }

  createOrganisation(o: OrganisationFields): Promise<Organisation> {
    return this.req("POST", "/admin/interpreter-organisations", objectBody<Organisation>, o);
  }

  updateOrganisation(id: string, o: OrganisationFields): Promise<Organisation> {
    return this.req("PUT", `/admin/interpreter-organisations/${enc(id)}`, objectBody<Organisation>, o);
  }

  deleteOrganisation(id: string): Promise<void> {
    return this.req("DELETE", `/admin/interpreter-organisations/${enc(id)}`, null);
  }

  createUser(u: NewUser): Promise<CreatedUser> {
    return this.req("POST", "/admin/users", objectBody<CreatedUser>, u);
  }

  disableUser(id: string): Promise<AdminUser> {
    return this.req("POST", `/admin/users/${enc(id)}/disable`, objectBody<AdminUser>);
  }

  enableUser(id: string): Promise<AdminUser> {
    return this.req("POST", `/admin/users/${enc(id)}/enable`, objectBody<AdminUser>);
  }

  async listQueues(): Promise<AdminQueue[]> {
    return (await this.req("GET", "/admin/queues", listBody<Schemas["queueListBody"]>("queues"))).queues;
  }

  createQueue(name: string): Promise<AdminQueue> {
    const body: Schemas["createQueueRequest"] = { name };
    return this.req("POST", "/admin/queues", objectBody<AdminQueue>, body);
  }

  setQueueMembers(id: string, userIds: string[]): Promise<AdminQueue> {
    const body: Schemas["setMembersRequest"] = { user_ids: userIds };
    return this.req("PUT", `/admin/queues/${enc(id)}/members`, objectBody<AdminQueue>, body);
  }

  async mediaNodes(): Promise<MediaNode[]> {
    return (await this.req("GET", "/admin/media-nodes", listBody<Schemas["mediaNodeListBody"]>("nodes"))).nodes;
  }

  /** GET /admin/audit/verification: 409 with the same body when the chain is broken. */
  verifyAudit(): Promise<AuditCheck> {
    return this.req("GET", "/admin/audit/verification", objectBody<AuditCheck>);
  }

  /** Audit events, newest first, a page at a time (next_before: the cursor of the next page, null on the last). */
  listAudit(q: AuditQuery): Promise<AuditPage> {
    const qs = auditSearch(q);
    return this.req("GET", `/admin/audit${qs ? `?${qs}` : ""}`, listBody<AuditPage>("events"));
  }

  getSettings(): Promise<SettingsBody> {
    return this.req("GET", "/admin/settings", settingsBody);
  }

  /** Replaces the whole settings document. */
  updateSettings(s: InstanceSettings): Promise<SettingsBody> {
    return this.req("PUT", "/admin/settings", settingsBody, s);
  }

  /** Replaces the logo: the image itself is the body, with its own Content-Type. */
  uploadLogo(image: Blob): Promise<SettingsBody> {
    const send: FetchLike = this.opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    return requestJson("PUT", "/admin/settings/logo", settingsBody, {
      fetch: (input, init) =>
        send(input, {
          ...init,
          headers: { ...(init?.headers as Record<string, string> | undefined), "Content-Type": image.type || "application/octet-stream" },
          body: image,
        }),
    });
  }

  /** 404 when there is no logo. */
  deleteLogo(): Promise<void> {
    return this.req("DELETE", "/admin/settings/logo", null);
  }

  statistics(f: StatisticsFilter): Promise<StatisticsReport> {
    return this.req("GET", `/admin/statistics?${statisticsQuery(f)}`, listBody<StatisticsReport>("rows"));
  }
}

/** The statistics filters: dates YYYY-MM-DD (UTC), empty for the default (a query the OpenAPI document does not describe). */
export interface StatisticsFilter {
  from: string;
  to: string;
  queueId?: string;
}

export function statisticsQuery(f: StatisticsFilter): string {
  const q = new URLSearchParams();
  if (f.from) q.set("from", f.from);
  if (f.to) q.set("to", f.to);
  if (f.queueId) q.set("queue_id", f.queueId);
  return q.toString();
}

/** The CSV export's address for the same filters (a plain link: the browser downloads it). */
export function statisticsCsvUrl(f: StatisticsFilter): string {
  const q = statisticsQuery(f);
  return `${API_BASE}/admin/statistics.csv${q ? `?${q}` : ""}`;
}
