/**
 * The admin app's calls to the API (session cookie, same origin): users,
 * queues, media nodes, the audit trail's check and the statistics. The
 * shapes come from the generated OpenAPI types; every call takes an
 * optional fetch so tests can answer it.
 */
import { API_BASE, MalformedBodyError, requestJson, requireObject, type FetchLike } from "../shared/api";
import type { components } from "../shared/api-schema";

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

export type Role = "admin" | "doctor" | "nurse" | "scheduler";
export const ROLES: readonly Role[] = ["admin", "doctor", "nurse", "scheduler"];

const enc = encodeURIComponent;

/** Checks that body is an object holding an array under key, and returns it as T. */
function listOf<T>(key: string) {
  return (body: unknown): T => {
    const obj = requireObject(body);
    if (!Array.isArray(obj[key])) throw new MalformedBodyError(`missing ${key}`);
    return obj as T;
  };
}

function object<T>(body: unknown): T {
  return requireObject(body) as T;
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

  async listUsers(): Promise<AdminUser[]> {
    return (await this.req("GET", "/admin/users?limit=100", listOf<Schemas["userListBody"]>("users"))).users;
  }

  createUser(u: NewUser): Promise<CreatedUser> {
    return this.req("POST", "/admin/users", object<CreatedUser>, u);
  }

  disableUser(id: string): Promise<AdminUser> {
    return this.req("POST", `/admin/users/${enc(id)}/disable`, object<AdminUser>);
  }

  enableUser(id: string): Promise<AdminUser> {
    return this.req("POST", `/admin/users/${enc(id)}/enable`, object<AdminUser>);
  }

  async listQueues(): Promise<AdminQueue[]> {
    return (await this.req("GET", "/admin/queues", listOf<Schemas["queueListBody"]>("queues"))).queues;
  }

  createQueue(name: string): Promise<AdminQueue> {
    return this.req("POST", "/admin/queues", object<AdminQueue>, { name });
  }

  setQueueMembers(id: string, userIds: string[]): Promise<AdminQueue> {
    return this.req("PUT", `/admin/queues/${enc(id)}/members`, object<AdminQueue>, { user_ids: userIds });
  }

  async mediaNodes(): Promise<MediaNode[]> {
    return (await this.req("GET", "/admin/media-nodes", listOf<Schemas["mediaNodeListBody"]>("nodes"))).nodes;
  }

  /** GET /admin/audit/verification: 409 with the same body when the chain is broken. */
  verifyAudit(): Promise<AuditCheck> {
    return this.req("GET", "/admin/audit/verification", object<AuditCheck>);
  }

  statistics(f: StatisticsFilter): Promise<StatisticsReport> {
    return this.req("GET", `/admin/statistics?${statisticsQuery(f)}`, listOf<StatisticsReport>("rows"));
  }
}

/** The statistics filters: dates YYYY-MM-DD (UTC), empty for the default. */
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
