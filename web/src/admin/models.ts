/**
 * The admin app's state outside the DOM: the statistics view (filters,
 * validation, the last report), the media node monitor (polled every
 * five seconds while shown), the settings form's checks and the audit
 * trail's filters and pages.
 */
import { signal, type ReadonlySignal } from "@preact/signals";
import { ApiError } from "../shared/api";
import type { AdminApi, AuditEvent, AuditQuery, InstanceSettings, MediaNode, SettingsBody, StatisticsFilter, StatisticsReport } from "./api";
import { statisticsCsvUrl } from "./api";

/** The API's error code, "network", or http_<status>. */
export function errorCode(err: unknown): string {
  if (err instanceof ApiError) return err.code ?? (err.status === undefined ? "network" : `http_${err.status}`);
  return "network";
}

/** What went wrong, from the API's error body: its code and the request field at fault, if any. */
export interface Failure {
  code: string;
  field?: string;
}

export function failureOf(err: unknown): Failure {
  const f: Failure = { code: errorCode(err) };
  if (err instanceof ApiError && err.field) f.field = err.field;
  return f;
}

/** The items of a list typed in one field (commas, semicolons, spaces or lines apart), without duplicates. */
export function splitList(text: string): string[] {
  return [...new Set(text.split(/[\s,;]+/).filter((s) => s !== ""))];
}

const DAY_MS = 86_400_000;
export const MAX_DAYS = 366;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** The default range: the last 30 days up to today (UTC), like the API's. */
export function defaultRange(now: Date): { from: string; to: string } {
  const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  return { from: isoDay(new Date(to.getTime() - 29 * DAY_MS)), to: isoDay(to) };
}

/** Why a range is refused before asking the API, or null. */
export function rangeProblem(from: string, to: string): "invalid_date" | "reversed" | "too_long" | null {
  const a = Date.parse(`${from}T00:00:00Z`);
  const b = Date.parse(`${to}T00:00:00Z`);
  if (!DATE.test(from) || !DATE.test(to) || Number.isNaN(a) || Number.isNaN(b)) return "invalid_date";
  if (b < a) return "reversed";
  if ((b - a) / DAY_MS + 1 > MAX_DAYS) return "too_long";
  return null;
}

export class StatisticsView {
  readonly from = signal("");
  readonly to = signal("");
  readonly queueId = signal("");
  private readonly reportSig = signal<StatisticsReport | null>(null);
  private readonly errorSig = signal<string | null>(null);
  private readonly busySig = signal(false);
  readonly report: ReadonlySignal<StatisticsReport | null> = this.reportSig;
  /** invalid_date, reversed, too_long, or an API error code. */
  readonly error: ReadonlySignal<string | null> = this.errorSig;
  readonly busy: ReadonlySignal<boolean> = this.busySig;

  constructor(
    private readonly api: Pick<AdminApi, "statistics">,
    now: Date = new Date(),
  ) {
    const r = defaultRange(now);
    this.from.value = r.from;
    this.to.value = r.to;
  }

  filter(): StatisticsFilter {
    const f: StatisticsFilter = { from: this.from.value, to: this.to.value };
    if (this.queueId.value) f.queueId = this.queueId.value;
    return f;
  }

  /** The CSV link of the current filters. */
  csvUrl(): string {
    return statisticsCsvUrl(this.filter());
  }

  /** Loads the report of the current filters, unless they are invalid. */
  async apply(): Promise<void> {
    const problem = rangeProblem(this.from.value, this.to.value);
    if (problem) {
      this.errorSig.value = problem;
      return;
    }
    this.busySig.value = true;
    this.errorSig.value = null;
    try {
      this.reportSig.value = await this.api.statistics(this.filter());
    } catch (err) {
      this.errorSig.value = errorCode(err);
    } finally {
      this.busySig.value = false;
    }
  }
}

/** Timers, replaced in tests. */
export interface Clock {
  setInterval: (fn: () => void, ms: number) => unknown;
  clearInterval: (id: unknown) => void;
}

export const MEDIA_REFRESH_MS = 5000;

export class MediaNodesMonitor {
  private readonly nodesSig = signal<MediaNode[] | null>(null);
  private readonly errorSig = signal<string | null>(null);
  private readonly updatedSig = signal<Date | null>(null);
  readonly nodes: ReadonlySignal<MediaNode[] | null> = this.nodesSig;
  readonly error: ReadonlySignal<string | null> = this.errorSig;
  readonly updated: ReadonlySignal<Date | null> = this.updatedSig;
  private timer: unknown = null;
  private inFlight = false;

  constructor(
    private readonly api: Pick<AdminApi, "mediaNodes">,
    private readonly clock: Clock = {
      setInterval: (fn, ms) => globalThis.setInterval(fn, ms),
      clearInterval: (id) => globalThis.clearInterval(id as ReturnType<typeof setInterval>),
    },
  ) {}

  /** Loads now, then every MEDIA_REFRESH_MS until stop. */
  start(): void {
    if (this.timer !== null) return;
    void this.refresh();
    this.timer = this.clock.setInterval(() => void this.refresh(), MEDIA_REFRESH_MS);
  }

  stop(): void {
    if (this.timer !== null) this.clock.clearInterval(this.timer);
    this.timer = null;
  }

  /** One load; skipped while the previous one is still running. */
  async refresh(): Promise<void> {
    if (this.inFlight) return;
    this.inFlight = true;
    try {
      this.nodesSig.value = await this.api.mediaNodes();
      this.errorSig.value = null;
      this.updatedSig.value = new Date();
    } catch (err) {
      // Keep the last list on screen; say it is stale.
      this.errorSig.value = errorCode(err);
    } finally {
      this.inFlight = false;
    }
  }
}

// ---------------------------------------------------------------- settings

/** The settings form as typed: numbers as text, the invite overrides with their "use the default" box. */
export interface SettingsDraft {
  productName: string;
  clinicName: string;
  primary: string;
  accent: string;
  retentionDays: string;
  languages: string[];
  ttlDefault: boolean;
  ttl: string;
  earlyDefault: boolean;
  early: string;
}

/** The environment's invite timing, in force while an override is null. */
export interface InviteDefaults {
  ttl: number;
  early: number;
}

export function draftOf(body: SettingsBody): SettingsDraft {
  const s = body.settings;
  const ttl = s.invite_ttl_minutes ?? null;
  const early = s.invite_early_minutes ?? null;
  return {
    productName: s.product_name,
    clinicName: s.clinic_name,
    primary: s.primary_color,
    accent: s.accent_color,
    retentionDays: String(s.closed_consultation_retention_days),
    languages: [...s.languages],
    ttlDefault: ttl === null,
    ttl: String(ttl ?? body.invite_ttl_default_minutes),
    earlyDefault: early === null,
    early: String(early ?? body.invite_early_default_minutes),
  };
}

const HEX_COLOUR = /^#[0-9a-fA-F]{6}$/;

/** A whole number from min to max typed in a field, or null. */
function wholeNumber(text: string, min: number, max: number): number | null {
  const v = text.trim();
  if (!/^\d{1,6}$/.test(v)) return null;
  const n = Number(v);
  return n >= min && n <= max ? n : null;
}

export const SETTINGS_LIMITS = {
  productName: 60,
  clinicName: 100,
  retentionMin: 1,
  retentionMax: 3650,
  ttlMin: 5,
  ttlMax: 43200,
  earlyMax: 10080,
} as const;

/**
 * The document PUT /admin/settings takes, or the first field (the API's
 * name for it) that it would refuse, checked with the API's rules.
 */
export function settingsOf(d: SettingsDraft, defaults: InviteDefaults): { settings: InstanceSettings } | { field: string } {
  const L = SETTINGS_LIMITS;
  const productName = d.productName.trim();
  const clinicName = d.clinicName.trim();
  if (productName === "" || [...productName].length > L.productName) return { field: "product_name" };
  if ([...clinicName].length > L.clinicName) return { field: "clinic_name" };
  if (!HEX_COLOUR.test(d.primary.trim())) return { field: "primary_color" };
  if (!HEX_COLOUR.test(d.accent.trim())) return { field: "accent_color" };
  const retention = wholeNumber(d.retentionDays, L.retentionMin, L.retentionMax);
  if (retention === null) return { field: "closed_consultation_retention_days" };
  if (d.languages.length === 0) return { field: "languages" };
  const ttl = d.ttlDefault ? null : wholeNumber(d.ttl, L.ttlMin, L.ttlMax);
  if (!d.ttlDefault && ttl === null) return { field: "invite_ttl_minutes" };
  const early = d.earlyDefault ? null : wholeNumber(d.early, 0, L.earlyMax);
  if (!d.earlyDefault && early === null) return { field: "invite_early_minutes" };
  if ((early ?? defaults.early) >= (ttl ?? defaults.ttl)) return { field: "invite_early_minutes" };
  return {
    settings: {
      product_name: productName,
      clinic_name: clinicName,
      primary_color: d.primary.trim().toLowerCase(),
      accent_color: d.accent.trim().toLowerCase(),
      closed_consultation_retention_days: retention,
      languages: d.languages,
      invite_ttl_minutes: ttl,
      invite_early_minutes: early,
    },
  };
}

// ---------------------------------------------------------------- audit trail

/** The audit filters as typed; from and to are datetime-local values (the viewer's time zone). */
export interface AuditFilters {
  action: string;
  actorType: string;
  actorId: string;
  objectType: string;
  objectId: string;
  consultationId: string;
  outcome: string;
  from: string;
  to: string;
}

export const NO_AUDIT_FILTERS: Readonly<AuditFilters> = Object.freeze({
  action: "",
  actorType: "",
  actorId: "",
  objectType: "",
  objectId: "",
  consultationId: "",
  outcome: "",
  from: "",
  to: "",
});

const LOCAL_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/;

function pad(n: number, width = 2): string {
  return String(Math.abs(n)).padStart(width, "0");
}

/**
 * A datetime-local value (2026-03-01T08:30) as RFC 3339 with the viewer's
 * UTC offset on that date (2026-03-01T08:30:00+01:00), or null when it is
 * not one. A time skipped by a daylight saving change moves forward, as
 * the browser reads it.
 */
export function localToRfc3339(value: string): string | null {
  const m = LOCAL_DATE_TIME.exec(value.trim());
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map((v) => Number(v ?? 0)) as [number, number, number, number, number, number];
  const at = new Date(y, mo - 1, d, h, mi, s);
  if (Number.isNaN(at.getTime()) || at.getMonth() !== mo - 1 || mo < 1 || d < 1 || h > 23 || mi > 59 || s > 59) return null;
  const offset = -at.getTimezoneOffset();
  const zone = offset === 0 ? "Z" : `${offset > 0 ? "+" : "-"}${pad(Math.trunc(offset / 60))}:${pad(offset % 60)}`;
  return `${pad(at.getFullYear(), 4)}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}${zone}`;
}

/** The API query of the filters, or the filter (the API's name) that is malformed. */
export function auditQueryOf(f: AuditFilters): { query: AuditQuery } | { field: string } {
  const q: AuditQuery = {};
  const set = (k: "action" | "actor_type" | "actor_id" | "object_type" | "object_id" | "consultation_id" | "outcome", v: string) => {
    if (v.trim() !== "") q[k] = v.trim();
  };
  set("action", f.action);
  set("actor_type", f.actorType);
  set("actor_id", f.actorId);
  set("object_type", f.objectType);
  set("object_id", f.objectId);
  set("consultation_id", f.consultationId);
  set("outcome", f.outcome);
  for (const [name, v] of [
    ["from", f.from],
    ["to", f.to],
  ] as const) {
    if (v.trim() === "") continue;
    const at = localToRfc3339(v);
    if (at === null) return { field: name };
    q[name] = at;
  }
  if (q.from && q.to && Date.parse(q.to) <= Date.parse(q.from)) return { field: "to" };
  return { query: q };
}

export const AUDIT_PAGE = 50;

/** The audit events of the filters in force: the first page, then older ones. */
export class AuditTrail {
  readonly filters = signal<AuditFilters>({ ...NO_AUDIT_FILTERS });
  private readonly eventsSig = signal<AuditEvent[] | null>(null);
  private readonly nextSig = signal<number | null>(null);
  private readonly failureSig = signal<Failure | null>(null);
  private readonly busySig = signal(false);
  /** null before the first search. */
  readonly events: ReadonlySignal<AuditEvent[] | null> = this.eventsSig;
  /** The cursor of the next (older) page; null on the last. */
  readonly nextBefore: ReadonlySignal<number | null> = this.nextSig;
  readonly failure: ReadonlySignal<Failure | null> = this.failureSig;
  readonly busy: ReadonlySignal<boolean> = this.busySig;
  /** The query of the list shown: older pages keep it, whatever is typed since. */
  private applied: AuditQuery = {};

  constructor(private readonly api: Pick<AdminApi, "listAudit">) {}

  set<K extends keyof AuditFilters>(key: K, value: AuditFilters[K]): void {
    this.filters.value = { ...this.filters.value, [key]: value };
  }

  /** The newest events of the filters typed. False when refused (the failure says why). */
  async search(): Promise<boolean> {
    const r = auditQueryOf(this.filters.value);
    if ("field" in r) {
      this.failureSig.value = { code: "invalid_request", field: r.field };
      return false;
    }
    return this.load(r.query, false);
  }

  /** The next page of older events, after those shown. */
  async older(): Promise<boolean> {
    const before = this.nextSig.value;
    if (before === null) return false;
    return this.load({ ...this.applied, before }, true);
  }

  private async load(query: AuditQuery, append: boolean): Promise<boolean> {
    this.busySig.value = true;
    this.failureSig.value = null;
    try {
      const page = await this.api.listAudit({ ...query, limit: AUDIT_PAGE });
      if (!append) this.applied = query;
      this.eventsSig.value = append ? [...(this.eventsSig.value ?? []), ...page.events] : page.events;
      this.nextSig.value = page.next_before ?? null;
      return true;
    } catch (err) {
      this.failureSig.value = failureOf(err);
      return false;
    } finally {
      this.busySig.value = false;
    }
  }
}
