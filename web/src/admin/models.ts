/**
 * The admin app's state outside the DOM: the statistics view (filters,
 * validation, the last report) and the media node monitor (polled every
 * five seconds while shown).
 */
import { signal, type ReadonlySignal } from "@preact/signals";
import { ApiError } from "../shared/api";
import type { AdminApi, MediaNode, StatisticsFilter, StatisticsReport } from "./api";
import { statisticsCsvUrl } from "./api";

/** The API's error code, "network", or http_<status>. */
export function errorCode(err: unknown): string {
  if (err instanceof ApiError) return err.code ?? (err.status === undefined ? "network" : `http_${err.status}`);
  return "network";
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
