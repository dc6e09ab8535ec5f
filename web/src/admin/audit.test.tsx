// @vitest-environment happy-dom
import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { resetI18nForTests, setLanguage } from "../shared/i18n";
import { json, refusal, settle, testScreen } from "../shared/test-support";
import { auditSearch, type AuditEvent } from "./api";
import { AuditSection, eventTime } from "./audit";
import { AuditTrail, auditQueryOf, localToRfc3339, NO_AUDIT_FILTERS } from "./models";
import { fakeAdminApi, type Sent } from "./test-support";

let sent: Sent[];

/** The URLs the fake API was asked. */
const urls = () => sent.map((s) => s.url);
const fakeApi = (answer: (url: URL) => Response) => fakeAdminApi(sent, (s) => answer(new URL(s.url, "https://admin.example")));
const ui = testScreen();
const { $, type, choose, click, submit } = ui;

function event(seq: number, over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    seq,
    at: new Date(Date.UTC(2026, 2, 1, 8, 0, seq)).toISOString(),
    actor_type: "user",
    actor_id: "u1",
    action: "sign_in.success",
    object_type: "session",
    object_id: `s${seq}`,
    consultation_id: null,
    client_ip: "192.0.2.1",
    outcome: "success",
    ...over,
  };
}

const TZ = process.env["TZ"];

beforeEach(() => {
  resetI18nForTests();
  sent = [];
});

afterEach(() => {
  if (TZ === undefined) delete process.env["TZ"];
  else process.env["TZ"] = TZ;
});

describe("datetime-local to RFC 3339", () => {
  it("keeps the viewer's wall time with the offset of that date", () => {
    process.env["TZ"] = "Europe/Zurich";
    expect(localToRfc3339("2026-03-01T08:30")).toBe("2026-03-01T08:30:00+01:00");
    expect(localToRfc3339("2026-07-01T08:30:15")).toBe("2026-07-01T08:30:15+02:00");
    process.env["TZ"] = "America/New_York";
    expect(localToRfc3339("2026-01-15T23:05")).toBe("2026-01-15T23:05:00-05:00");
    process.env["TZ"] = "Asia/Kolkata";
    expect(localToRfc3339("2026-01-15T00:00")).toBe("2026-01-15T00:00:00+05:30");
    process.env["TZ"] = "UTC";
    expect(localToRfc3339("2026-01-15T00:00")).toBe("2026-01-15T00:00:00Z");
  });

  it("refuses what is not a date and time", () => {
    for (const bad of ["", "2026-03-01", "yesterday", "2026-02-30T10:00", "2026-13-01T10:00", "2026-03-01T24:00"]) {
      expect(localToRfc3339(bad), bad).toBeNull();
    }
  });

  it("builds the query, leaving out empty filters, and checks the range", () => {
    process.env["TZ"] = "UTC";
    expect(auditQueryOf({ ...NO_AUDIT_FILTERS, action: " sign_in.failure ", outcome: "denied", from: "2026-03-01T00:00" })).toEqual({
      query: { action: "sign_in.failure", outcome: "denied", from: "2026-03-01T00:00:00Z" },
    });
    expect(auditQueryOf({ ...NO_AUDIT_FILTERS, from: "soon" })).toEqual({ field: "from" });
    expect(auditQueryOf({ ...NO_AUDIT_FILTERS, from: "2026-03-01T10:00", to: "2026-03-01T10:00" })).toEqual({ field: "to" });
    expect(auditSearch({ action: "a.b", actor_id: "", before: 7, limit: 50 })).toBe("action=a.b&before=7&limit=50");
  });
});

describe("audit trail model", () => {
  it("pages with next_before, keeping the filters of the list shown", async () => {
    const pages = [
      { events: [event(9), event(8)], next_before: 8 },
      { events: [event(7)], next_before: null },
    ];
    const api = fakeApi(() => json(pages.shift()));
    const trail = new AuditTrail(api);
    trail.set("actorId", "u1");
    expect(await trail.search()).toBe(true);
    // Typed after the search: not applied to older pages.
    trail.set("actorId", "u2");
    expect(await trail.older()).toBe(true);
    expect(trail.events.value!.map((e) => e.seq)).toEqual([9, 8, 7]);
    expect(trail.nextBefore.value).toBeNull();
    expect(urls()).toEqual(["/api/v1/admin/audit?actor_id=u1&limit=50", "/api/v1/admin/audit?actor_id=u1&before=8&limit=50"]);
    expect(await trail.older()).toBe(false);
    expect(urls()).toHaveLength(2);
  });
});

describe("audit trail screen", () => {
  it("filters, lists newest first with local times, loads older events", async () => {
    process.env["TZ"] = "Europe/Zurich";
    const api = fakeApi((u) =>
      u.searchParams.get("before") === "3"
        ? json({ events: [event(2), event(1, { actor_type: "system", actor_id: null, object_type: null, object_id: null, client_ip: null, outcome: "denied" })], next_before: null })
        : json({ events: [event(5, { consultation_id: "c42", outcome: "failure", action: "sign_in.failure" }), event(4), event(3)], next_before: 3 }),
    );
    await act(() => render(<AuditSection api={api} />, ui.container));
    await settle();
    // Listing is audited: nothing is read until asked for.
    expect(urls()).toEqual([]);
    for (const id of ["audit-action", "audit-actor-type", "audit-actor-id", "audit-object-type", "audit-object-id", "audit-consultation", "audit-outcome", "audit-from", "audit-to"]) {
      expect($(`label[for=${id}]`), id).not.toBeNull();
    }
    expect($<HTMLInputElement>("#audit-from")!.type).toBe("datetime-local");
    expect($("#audit-zone-hint")!.textContent).toContain("Europe/Zurich");

    await type("#audit-action", "sign_in.failure");
    await choose("#audit-actor-type", "user");
    await type("#audit-actor-id", "u1");
    await type("#audit-consultation", "c42");
    await choose("#audit-outcome", "failure");
    await type("#audit-from", "2026-03-01T09:00");
    await type("#audit-to", "2026-03-02T09:00");
    await submit("#audit-search");
    const first = new URL(urls()[0]!, "https://admin.example");
    expect(first.pathname).toBe("/api/v1/admin/audit");
    expect(Object.fromEntries(first.searchParams)).toEqual({
      action: "sign_in.failure",
      actor_type: "user",
      actor_id: "u1",
      consultation_id: "c42",
      outcome: "failure",
      from: "2026-03-01T09:00:00+01:00",
      to: "2026-03-02T09:00:00+01:00",
      limit: "50",
    });

    const rows = () => [...ui.container.querySelectorAll("#audit-table tbody tr")].map((r) => r.getAttribute("data-seq"));
    expect(rows()).toEqual(["5", "4", "3"]);
    const firstRow = $("#audit-table tbody tr")!;
    expect(firstRow.querySelector("time")!.getAttribute("datetime")).toBe(event(5).at);
    expect(firstRow.querySelector("time")!.textContent).toBe(eventTime(event(5).at, "en"));
    // 08:00:05 UTC is 09:00:05 in Zurich.
    expect(firstRow.querySelector("time")!.textContent).toContain("9:00:05");
    expect(firstRow.textContent).toContain("sign_in.failure");
    expect(firstRow.textContent).toContain("c42");
    expect(firstRow.textContent).toContain("Failure");
    expect($("#audit-count")!.textContent).toBe("3 events shown. Older events can be loaded.");
    expect($("#audit-status")!.getAttribute("aria-live")).toBe("polite");

    await click("#audit-older");
    expect(new URL(urls()[1]!, "https://admin.example").searchParams.get("before")).toBe("3");
    expect(new URL(urls()[1]!, "https://admin.example").searchParams.get("action")).toBe("sign_in.failure");
    expect(rows()).toEqual(["5", "4", "3", "2", "1"]);
    expect($("#audit-older")).toBeNull();
    expect($("#audit-count")!.textContent).toBe("5 events shown: there are no older ones.");
    // Reading goes on at the first event loaded.
    expect(document.activeElement?.id).toBe("audit-row-2");
    const last = $("[data-seq='1']")!;
    expect(last.textContent).toContain("System");
    expect(last.textContent).toContain("Denied");
    expect(last.textContent).toContain("–");
  });

  it("says when nothing matches", async () => {
    const api = fakeApi(() => json({ events: [], next_before: null }));
    await act(() => render(<AuditSection api={api} />, ui.container));
    await click("#audit-search");
    expect($("#audit-empty")!.textContent).toBe("No event matches these filters.");
    expect($("#audit-table")).toBeNull();
    expect($("#audit-older")).toBeNull();
  });

  it("shows a refused filter next to its field, and other errors in the live region", async () => {
    let answer = refusal("invalid_request", 400, "object_type");
    const api = fakeApi(() => answer);
    await act(() => render(<AuditSection api={api} />, ui.container));
    await type("#audit-object-type", "Session");
    await submit("#audit-search");
    expect($("#audit-object-type-error")!.textContent).toBe("Enter a type in lower case, such as session.");
    expect($("#audit-object-type")!.getAttribute("aria-invalid")).toBe("true");
    expect($("#audit-object-type")!.getAttribute("aria-describedby")).toBe("audit-object-type-hint audit-object-type-error");
    expect(document.activeElement?.id).toBe("audit-object-type");
    expect($("#audit-status [role=alert]")!.textContent).toBe("Check the form: a field is missing or invalid.");

    // A range checked here, before asking.
    await type("#audit-from", "2026-03-02T09:00");
    await type("#audit-to", "2026-03-01T09:00");
    await submit("#audit-search");
    expect(urls()).toHaveLength(1);
    expect($("#audit-to-error")!.textContent).toBe("Enter a date and time after the start.");
    expect($("#audit-object-type-error")).toBeNull();

    answer = refusal("forbidden", 403);
    await click("#audit-clear");
    expect($<HTMLInputElement>("#audit-from")!.value).toBe("");
    expect(document.activeElement?.id).toBe("audit-action");
    await submit("#audit-search");
    expect($("#audit-status [role=alert]")!.textContent).toBe("You are not allowed to do this.");
  });

  it("speaks the viewer's language", async () => {
    await setLanguage("de");
    const api = fakeApi(() => json({ events: [event(1)], next_before: null }));
    await act(() => render(<AuditSection api={api} />, ui.container));
    await click("#audit-search");
    expect($("#audit-search")!.textContent).toBe("Ereignisse anzeigen");
    expect($("#audit-count")!.textContent).toBe("1 Ereignis angezeigt: Es gibt keine älteren.");
    expect($("#audit-table time")!.textContent).toBe(eventTime(event(1).at, "de"));
  });
});

describe("chain verification is still there", () => {
  it("checks the chain", async () => {
    const api = fakeApi(() => json({ intact: true, rows: 12 }));
    await act(() => render(<AuditSection api={api} />, ui.container));
    await click("#audit-verify");
    expect($("#audit-result")!.textContent).toBe("The audit trail is intact (12 entries).");
  });
});
