// @vitest-environment happy-dom
import { render } from "preact";
import { act } from "preact/test-utils";
import { beforeEach, describe, expect, it } from "vitest";
import { resetI18nForTests } from "../shared/i18n";
import { json, settle, testScreen } from "../shared/test-support";
import type { MediaNode, StatisticsReport } from "./api";
import { MediaNodesSection, StatisticsSection } from "./App";
import { MediaNodesMonitor, rangeProblem, StatisticsView, type Clock } from "./models";
import { fakeAdminApi, type Sent } from "./test-support";

let sent: Sent[];
const ui = testScreen();

/** The URLs the fake API was asked. */
const requests = () => sent.map((s) => s.url);

const REPORT: StatisticsReport = {
  from: "2026-03-01",
  to: "2026-03-30",
  rows: [
    {
      day: "2026-03-01",
      queue_id: "q1",
      queue_name: "Cardiology",
      figures: { closed: 10, completed: 8, cancelled: 2, avg_wait_seconds: 55, p90_wait_seconds: 91, avg_consultation_seconds: 600, calls: 8, feedback_good: 2, feedback_ok: 1, feedback_bad: 1 },
    },
    {
      day: "2026-03-02",
      queue_id: null,
      figures: { closed: 1, completed: 0, cancelled: 1, avg_wait_seconds: null, p90_wait_seconds: null, avg_consultation_seconds: null, calls: 0, feedback_good: 0, feedback_ok: 0, feedback_bad: 0 },
    },
  ],
  totals: { closed: 11, completed: 8, cancelled: 3, avg_wait_seconds: 55, p90_wait_seconds: 91, avg_consultation_seconds: 600, calls: 8, feedback_good: 2, feedback_ok: 1, feedback_bad: 1 },
};

beforeEach(() => {
  resetI18nForTests();
  sent = [];
});

describe("rangeProblem", () => {
  it.each([
    ["2026-03-01", "2026-03-30", null],
    ["2026-03-30", "2026-03-01", "reversed"],
    ["2025-01-01", "2026-01-01", null],
    ["2025-01-01", "2026-01-02", "too_long"],
    ["", "2026-01-02", "invalid_date"],
  ])("%s..%s: %s", (from, to, want) => {
    expect(rangeProblem(from, to)).toBe(want);
  });
});

describe("statistics view", () => {
  it("loads the last 30 days, shows rows and totals, and links the CSV with the same filters", async () => {
    const api = fakeAdminApi(sent, () => json(REPORT));
    const view = new StatisticsView(api, new Date("2026-03-30T15:00:00Z"));
    await act(() => render(<StatisticsSection view={view} queues={[]} />, ui.container));
    await settle();
    expect(requests()).toEqual(["/api/v1/admin/statistics?from=2026-03-01&to=2026-03-30"]);
    const table = ui.container.querySelector<HTMLTableElement>("#stats-table")!;
    const rows = [...table.querySelectorAll("tbody tr")].map((r) => [...r.querySelectorAll("th, td")].map((c) => c.textContent));
    expect(rows[0]).toEqual(["2026-03-01", "Cardiology", "10", "8", "2", "55", "91", "600", "8", "2", "1", "1"]);
    expect(rows[1]!.slice(0, 6)).toEqual(["2026-03-02", "Deleted queue", "1", "0", "1", "–"]);
    expect([...table.querySelectorAll("tfoot tr > *")].map((c) => c.textContent).slice(0, 4)).toEqual(["Totals", "11", "8", "3"]);
    expect(ui.container.querySelector("#stats-csv")!.getAttribute("href")).toBe("/api/v1/admin/statistics.csv?from=2026-03-01&to=2026-03-30");
    expect(ui.container.querySelector("#stats-status")!.getAttribute("aria-live")).toBe("polite");
    expect(ui.container.querySelector("label[for=stats-from]")).not.toBeNull();
  });

  it("groups the headers so that the twelve columns fit, in a region the keyboard can scroll", async () => {
    const view = new StatisticsView(fakeAdminApi(sent, () => json(REPORT)), new Date("2026-03-30T15:00:00Z"));
    await act(() => render(<StatisticsSection view={view} queues={[]} />, ui.container));
    await settle();
    const table = ui.container.querySelector<HTMLTableElement>("#stats-table")!;
    const region = table.closest<HTMLElement>("[role=region]")!;
    expect(region.tabIndex).toBe(0);
    expect(ui.container.querySelector(`#${region.getAttribute("aria-labelledby")}`)!.textContent).toBe("Closed consultations by day and queue");
    expect(table.caption!.id).toBe(region.getAttribute("aria-labelledby"));
    const groups = [...table.querySelectorAll("thead th[scope=colgroup]")].map((th) => [th.textContent, (th as HTMLTableCellElement).colSpan]);
    expect(groups).toEqual([
      ["Consultations", 3],
      ["Waiting time (s)", 2],
      ["Duration (s)", 1],
      ["Feedback", 3],
    ]);
    expect([...table.querySelectorAll("colgroup")].map((c) => c.getAttribute("span"))).toEqual(["2", "3", "2", "1", "1", "3"]);
    // Every column has a header of its own: the group's names over the short ones.
    const [top, leaves] = [...table.querySelectorAll("thead tr")].map((tr) => [...tr.querySelectorAll("th")]);
    expect(top!.filter((c) => c.getAttribute("rowspan") === "2").map((c) => [c.textContent, c.getAttribute("scope")])).toEqual([
      ["Day", "col"],
      ["Queue", "col"],
      ["Calls", "col"],
    ]);
    expect(leaves!.map((c) => c.textContent)).toEqual(["Closed", "Completed", "Cancelled", "Average", "90th percentile", "Average", "Good", "OK", "Bad"]);
    expect(leaves!.every((c) => c.getAttribute("scope") === "col")).toBe(true);
  });

  it("applies new dates and a queue, and refuses a reversed range without asking the API", async () => {
    const api = fakeAdminApi(sent, () => json(REPORT));
    const view = new StatisticsView(api, new Date("2026-03-30T15:00:00Z"));
    await act(() => render(<StatisticsSection view={view} queues={[{ id: "q1", name: "Cardiology", show_estimated_time: false, ask_feedback: false, created_at: "", updated_at: "" }]} />, ui.container));
    await settle();
    const from = ui.container.querySelector<HTMLInputElement>("#stats-from")!;
    const to = ui.container.querySelector<HTMLInputElement>("#stats-to")!;
    const queue = ui.container.querySelector<HTMLSelectElement>("#stats-queue")!;
    await act(() => {
      from.value = "2026-02-01";
      from.dispatchEvent(new Event("input"));
      to.value = "2026-02-10";
      to.dispatchEvent(new Event("input"));
      queue.value = "q1";
      queue.dispatchEvent(new Event("change"));
    });
    await act(() => ui.container.querySelector<HTMLButtonElement>("#stats-apply")!.click());
    await settle();
    expect(requests().at(-1)).toBe("/api/v1/admin/statistics?from=2026-02-01&to=2026-02-10&queue_id=q1");
    expect(ui.container.querySelector("#stats-csv")!.getAttribute("href")).toBe("/api/v1/admin/statistics.csv?from=2026-02-01&to=2026-02-10&queue_id=q1");

    const before = requests().length;
    await act(() => {
      to.value = "2026-01-01";
      to.dispatchEvent(new Event("input"));
    });
    await act(() => ui.container.querySelector<HTMLButtonElement>("#stats-apply")!.click());
    await settle();
    expect(requests().length).toBe(before);
    expect(ui.container.querySelector("#stats-status [role=alert]")!.textContent).toBe("The end date must not be before the start date.");
  });

  it("shows the API's refusal", async () => {
    const api = fakeAdminApi(sent, () => json({ error: { code: "forbidden", message: "no" } }, 403));
    const view = new StatisticsView(api, new Date("2026-03-30T15:00:00Z"));
    await act(() => render(<StatisticsSection view={view} queues={null} />, ui.container));
    await settle();
    expect(ui.container.querySelector("#stats-status [role=alert]")!.textContent).toBe("You are not allowed to do this.");
    expect(ui.container.querySelector("#stats-table")).toBeNull();
  });
});

class FakeClock implements Clock {
  fns = new Map<number, () => void>();
  delays: number[] = [];
  private next = 1;
  setInterval(fn: () => void, ms: number): unknown {
    this.delays.push(ms);
    this.fns.set(this.next, fn);
    return this.next++;
  }
  clearInterval(id: unknown): void {
    this.fns.delete(id as number);
  }
  tick(): void {
    for (const fn of this.fns.values()) fn();
  }
}

function node(id: string, participants: number, healthy = true, draining = false): MediaNode {
  return { id, signal_url: `wss://${id}`, capacity: 100, load: { rooms: 1, participants, tracks: 0, bitrate: 0 }, draining, healthy, last_seen: "2026-03-30T15:00:00Z" };
}

describe("media nodes", () => {
  it("loads at once, refreshes every 5 s, keeps the list on an error, and stops when hidden", async () => {
    let answer: Response | Error = json({ nodes: [node("m1", 3)] });
    const api = fakeAdminApi(sent, () => {
      if (answer instanceof Error) throw answer;
      return answer.clone();
    });
    const clock = new FakeClock();
    const monitor = new MediaNodesMonitor(api, clock);
    await act(() => render(<MediaNodesSection monitor={monitor} />, ui.container));
    await settle();
    expect(clock.delays).toEqual([5000]);
    const cells = () => [...ui.container.querySelectorAll("#media-table tbody tr")].map((r) => [...r.querySelectorAll("td")].map((c) => c.textContent));
    expect(cells()).toEqual([["m1", "Yes", "No", "3 / 100"]]);

    answer = json({ nodes: [node("m1", 7, true, true), node("m2", 0, false)] });
    await act(() => clock.tick());
    await settle();
    expect(cells()).toEqual([
      ["m1", "Yes", "Yes", "7 / 100"],
      ["m2", "No", "No", "0 / 100"],
    ]);

    answer = new TypeError("offline");
    await act(() => clock.tick());
    await settle();
    expect(cells()).toHaveLength(2);
    expect(ui.container.querySelector("#media-status [role=alert]")).not.toBeNull();
    expect(requests()).toEqual(["/api/v1/admin/media-nodes", "/api/v1/admin/media-nodes", "/api/v1/admin/media-nodes"]);

    await act(() => render(null, ui.container));
    expect(clock.fns.size).toBe(0);
  });
});
