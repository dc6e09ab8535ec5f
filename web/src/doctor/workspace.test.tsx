// @vitest-environment happy-dom
/**
 * The signed-in workspace against a fake API (fetch) and a fake socket:
 * the consultation's tools, the history, the waiting room's extras, the
 * idle warning, the Security section and the passkey sign-in step.
 */
import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Consultation } from "../shared/api-types";
import { resetI18nForTests } from "../shared/i18n";
import { RealtimeClient } from "../shared/realtime";
import { FakeCredentials, FakeNetwork, SocketFactory, json, settle, stubApiFetch, waitFor, type SentRequest } from "../shared/test-support";
import { ArrivalAlert, SOUND_MUTED_STORAGE_KEY } from "./alerts";
import { DoctorApp, type WorkspaceDeps } from "./App";
import { DoctorAuth } from "./auth";
import { Dashboard } from "./dashboard";
import { IdleWatch } from "./idle";
import { applyBranding, parseBranding, resetBrandingForTests } from "../shared/branding";
import { credentialToJSON } from "../shared/passkey";
import { PasskeySignInButton, SecuritySection } from "../shared/security";
import { TransferPanel } from "./consultation-tools";

let container: HTMLElement;
let sockets: SocketFactory;
let calls: SentRequest[];
let participants: Array<Record<string, unknown>>;
let passkeys: Array<Record<string, unknown>>;
let level: "password" | "full";
let invites: Array<Record<string, unknown>>;

const USER = { id: "doc1", email: "dr@clinic.example", first_name: "Ada", last_name: "Doc", role: "doctor", language: "en" };
const PATIENT = { participant_id: "p1", first_name: "Paula", last_name: "Patient", language: "en", online: true };
const ACTIVE: Consultation = { id: "c1", queue_id: "q1", status: "active", created_at: "2026-05-01T08:00:00Z", accepted_at: "2026-05-01T08:05:00Z", patient: PATIENT };
const WAITING: Consultation = { id: "c5", queue_id: "q1", status: "pending", created_at: "2026-05-01T08:00:00Z", waiting_since: "2026-05-01T08:01:00Z", patient: { ...PATIENT, participant_id: "p5", first_name: "Wanda" } };
const CLOSED = {
  ...ACTIVE,
  id: "c7",
  status: "closed",
  close_reason: "completed",
  closed_at: "2026-05-01T08:17:00Z",
  note: "Follow up in two weeks.",
  feedback: [{ participant_id: "p1", role: "patient", rating: "good", comment: "Very kind", created_at: "2026-05-01T08:20:00Z" }],
};

beforeEach(() => {
  resetI18nForTests();
  localStorage.clear();
  document.title = "HCW@Home — Doctor";
  container = document.createElement("div");
  document.body.appendChild(container);
  sockets = new SocketFactory();
  level = "full";
  participants = [{ ...PATIENT, role: "patient", display_name: "Paula Patient" }];
  passkeys = [{ id: "pk1", name: "Old phone", created_at: "2026-01-01T00:00:00Z" }];
  const invite = { consultation_id: "c5", participant_id: "p5", delivery: "link", language: "en", expires_at: "2026-06-01T00:00:00Z", consultation_status: "invited", created_at: "2026-05-01T07:00:00Z" };
  invites = [
    { ...invite, id: "i1", role: "patient", status: "sent", first_name: "Ivy", last_name: "Invited" },
    { ...invite, id: "i2", role: "guest", status: "redeemed", first_name: "Gus", last_name: "Guest" },
  ];
  calls = stubApiFetch((path, { body }) => {
    if (path === "/version") return json({ name: "HCW@Home", version: "1", commit: "" });
    if (path === "/me") return level === "full" ? json(USER) : json({ error: { code: "second_factor_required", message: "" } }, 403);
    if (path === "/auth/sign-out") return json(null, 204);
    if (path === "/queues") return json({ queues: [{ id: "q1", name: "General practice" }, { id: "q2", name: "Dermatology" }] });
    if (path === "/queues/q1/consultations") return json({ consultations: [WAITING] });
    if (path === "/queues/q2/consultations") return json({ consultations: [] });
    if (path.startsWith("/consultations?status=active")) return json({ consultations: [ACTIVE] });
    if (path.startsWith("/consultations?status=closed")) {
      return path.includes("cursor=")
        ? json({ consultations: [{ ...CLOSED, id: "c8", close_reason: "cancelled", accepted_at: null, feedback: [] }] })
        : json({ consultations: [CLOSED], next: "page2" });
    }
    if (path === "/consultations/c1") return json({ ...ACTIVE, note: "Allergic to penicillin." });
    if (path === "/consultations/c7") return json(CLOSED);
    if (path === "/consultations/c5/estimate") return json({ ...WAITING, estimated_start_at: "2026-05-01T08:30:00Z" });
    if (path.startsWith("/consultations/c1/messages")) return json({ messages: [], more: false });
    if (path.startsWith("/consultations/c7/messages")) {
      return json({ messages: [{ id: "m1", seq: 1, sender_participant_id: "p1", key: "k1", text: "Thank you, doctor", created_at: "2026-05-01T08:10:00Z" }], more: false });
    }
    if (path === "/consultations/c1/call") return json({ call: null });
    if (path === "/consultations/c1/participants") return json({ participants });
    if (path === "/consultations/c1/invites") {
      // A language an administrator withdrew after the page loaded.
      if (body?.["language"] === "fr" && body?.["first_name"] === "Withdrawn") {
        return json({ error: { code: "invalid_request", message: "language: must be one of the languages offered: de", field: "language" } }, 400);
      }
      return json({ invite: { id: "i9", consultation_id: "c1", participant_id: "g1", role: body?.["role"], status: "created" }, link: "https://patient.example/i/GUEST" }, 201);
    }
    if (path === "/interpreter-organisations") {
      return json({ organisations: [{ id: "o1", name: "Interprètes Genève", languages: ["fr", "pt"], created_at: "x", updated_at: "x" }] });
    }
    if (path === "/consultations/c1/interpreter-requests") {
      return json({ id: "r1", consultation_id: "c1", organisation_id: "o1", language: body?.["language"], status: "open", created_at: "x", expires_at: "y", mailed: 3 }, 201);
    }
    if (path === "/consultations/c1/note") return json(null, 204);
    if (path === "/consultations/c1/close") return json({ ...ACTIVE, status: "closed", closed_at: "2026-05-01T08:30:00Z" });
    if (path === "/consultations/c1/transfer") return json({ ...ACTIVE, status: "pending", queue_id: body?.["queue_id"] });
    if (path === "/colleagues") return json({ doctors: [{ id: "u7", first_name: "Grace", last_name: "Hopper" }] });
    if (path.startsWith("/invites?")) return json({ invites });
    if (path === "/invites/i1/resend") return json({ invite: invites[0], link: "https://patient.example/i/NEW" }, 201);
    if (path === "/invites/i1/reschedule") {
      invites = [{ ...invites[0], scheduled_at: body?.["scheduled_at"], time_zone: body?.["time_zone"] }, invites[1]!];
      return json({ invite: invites[0] });
    }
    if (path === "/invites/i1/revoke") {
      invites = [{ ...invites[0], status: "revoked" }, invites[1]!];
      return json(invites[0]);
    }
    if (path === "/me/passkeys") return json({ passkeys });
    if (path === "/me/passkeys/pk1/delete") {
      passkeys = passkeys.filter((p) => p["id"] !== "pk1");
      return json(null, 204);
    }
    if (path === "/auth/passkeys/registration/options") {
      return json({ publicKey: { challenge: "AAEC", rp: { name: "HCW@Home" }, user: { id: "dXNlci0x", name: "dr", displayName: "Ada" }, pubKeyCredParams: [] } });
    }
    if (path === "/auth/passkeys/registration") {
      const pk = { id: "pk2", name: body?.["name"], created_at: "2026-05-01T00:00:00Z" };
      passkeys = [...passkeys, pk];
      return json({ passkey: pk }, 201);
    }
    if (path === "/auth/passkeys/login/options") return json({ publicKey: { challenge: "AAEC", allowCredentials: [] } });
    if (path === "/auth/passkeys/login") {
      level = "full";
      return json({ level: "full", user_id: "doc1", role: "doctor", expires_at: "2026-05-01T20:00:00Z" });
    }
    return json({ error: { code: "not_found", message: path } }, 404);
  });
});

afterEach(() => {
  render(null, container);
  container.remove();
});

const $ = <T extends HTMLElement = HTMLElement>(sel: string) => container.querySelector<T>(sel);

/** The form control a <label> with exactly this text names (how the browser test finds them), within root. */
function byLabel<T extends HTMLElement = HTMLInputElement>(text: string, root: ParentNode = container): T {
  const label = [...root.querySelectorAll("label")].find((l) => l.textContent?.trim() === text);
  if (!label) throw new Error(`no label "${text}"`);
  const el = container.querySelector<T>(`#${label.htmlFor}`);
  if (!el) throw new Error(`label "${text}" names nothing`);
  return el;
}

/** The button with exactly this text. */
function button(text: string): HTMLButtonElement {
  const b = [...container.querySelectorAll("button")].find((x) => x.textContent?.trim() === text);
  if (!b) throw new Error(`no button "${text}"`);
  return b;
}

function fill(el: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement, value: string): void {
  el.value = value;
  act(() => void el.dispatchEvent(new Event(el instanceof HTMLSelectElement ? "change" : "input", { bubbles: true })));
}

async function submit(el: HTMLElement): Promise<void> {
  await act(() => void el.closest("form")!.dispatchEvent(new Event("submit", { cancelable: true })));
}

function deps(over: Partial<WorkspaceDeps> = {}): Partial<WorkspaceDeps> {
  return {
    createRealtime: () =>
      new RealtimeClient({ url: "wss://doctor.example/ws", createSocket: sockets.create, network: new FakeNetwork(), isOnline: () => true, heartbeat: false }),
    dashboard: () => new Dashboard(),
    alerts: () => new ArrivalAlert({ createAudio: null }),
    idle: (o) => new IdleWatch({ ...o, keepAlive: async () => undefined, target: null }),
    ...over,
  };
}

async function start(over: Partial<WorkspaceDeps> = {}): Promise<DoctorAuth> {
  const auth = new DoctorAuth({ replaceUrl: () => {} });
  await act(() => render(<DoctorApp auth={auth} deps={deps(over)} />, container));
  await act(() => auth.start("/", ""));
  await waitFor(() => expect($("#waiting-list [data-consultation-id=c5]")).not.toBeNull());
  await act(() => sockets.last.open());
  return auth;
}

const last = (suffix: string, method = "POST") => calls.filter((c) => c.method === method && c.url.endsWith(suffix)).at(-1);

describe("the consultation's tools", () => {
  it("offers an added participant only the clinic's languages, the doctor's own first if offered, and says when one was withdrawn", async () => {
    applyBranding(parseBranding({ languages: ["de", "fr"] }));
    try {
      await start();
      await waitFor(() => expect($("#open-c1")).not.toBeNull());
      await act(() => $("#open-c1")!.click());
      await act(() => button("Add participant").click());
      const select = byLabel<HTMLSelectElement>("Language", $("#add-participant-form")!);
      expect([...select.options].map((o) => o.value)).toEqual(["de", "fr"]);
      expect(select.value, "the doctor's en is not offered: the first is").toBe("de");
      // Withdrawn since the page loaded: said so, not "check the fields".
      const form = $("#add-participant-form")!;
      fill(byLabel("First name", form), "Withdrawn");
      fill(byLabel("Last name", form), "Language");
      fill(byLabel("Email", form), "w@example.org");
      fill(select, "fr");
      await submit(button("Send invite"));
      await waitFor(() => expect($("#participant-error")?.textContent).toContain("no longer offers this language"));
    } finally {
      resetBrandingForTests();
    }
  });

  it("adds a participant with a link, lists them live, asks for an interpreter, keeps a note and transfers", async () => {
    await start();
    await waitFor(() => expect($("#open-c1")).not.toBeNull());
    expect($("#page-title")?.textContent).toBe("Waiting room");
    await act(() => $("#open-c1")!.click());
    await waitFor(() => expect($("#participants-list [data-participant-id=p1]")?.textContent).toContain("Paula Patient"));
    // The page's heading says where the doctor is.
    expect($("#page-title")?.textContent).toBe("Consultation");

    // Add a guest, the link to copy: found by its labels and names.
    await act(() => button("Add participant").click());
    expect(button("Add participant").getAttribute("aria-expanded")).toBe("true");
    // Scoped to the form: the header's language menu is labelled "Language" too.
    const form = $("#add-participant-form")!;
    fill(byLabel<HTMLSelectElement>("Role", form), "expert");
    fill(byLabel("First name", form), "Eve");
    fill(byLabel("Last name", form), "Expert");
    await submit(button("Send invite"));
    expect($("#participant-error")?.textContent).toContain("email address or a phone number");
    fill(byLabel("Email", form), "eve@example.org");
    fill(byLabel<HTMLSelectElement>("Language", form), "fr");
    fill(byLabel<HTMLSelectElement>("Delivery", form), "link");
    await submit(button("Send invite"));
    await waitFor(() => expect($("[data-testid=participant-link]")?.textContent).toBe("https://patient.example/i/GUEST"));
    expect(last("/consultations/c1/invites")?.body).toEqual({
      role: "expert",
      first_name: "Eve",
      last_name: "Expert",
      email: "eve@example.org",
      language: "fr",
      delivery: "link",
    });
    expect(byLabel("First name", form).value).toBe("");

    // The list follows participant.added and presence.
    participants = [...participants, { participant_id: "g1", role: "expert", display_name: "Eve Expert", first_name: "Eve", last_name: "Expert", language: "fr", online: false, invite_status: "sent" }];
    await act(() => sockets.last.message({ type: "participant.added", data: { consultation_id: "c1", participant_id: "g1", role: "expert" } }));
    await waitFor(() => expect($("[data-participant-id=g1]")?.textContent).toContain("Eve Expert"));
    expect($("[data-participant-id=g1]")?.textContent).toContain("Expert");
    expect($("[data-participant-id=g1]")?.textContent).toContain("invited");
    participants = participants.map((p) => (p["participant_id"] === "g1" ? { ...p, online: true } : p));
    await act(() => sockets.last.message({ type: "participant.presence", data: { consultation_id: "c1", participant_id: "g1", online: true } }));
    await waitFor(() => expect($("[data-participant-id=g1] .hcw-online")).not.toBeNull());

    // An interpreter from an organisation.
    await act(() => button("Request an interpreter").click());
    await waitFor(() => expect($("#interpreter-organisation")).not.toBeNull());
    fill($<HTMLSelectElement>("#interpreter-language")!, "pt");
    await submit($("#interpreter-send")!);
    await waitFor(() => expect($("#interpreter-sent")?.textContent).toContain("3 interpreters"));
    expect(last("/consultations/c1/interpreter-requests")?.body).toEqual({ organisation_id: "o1", language: "pt" });

    // The private note: loaded, saved when leaving the field.
    const note = byLabel<HTMLTextAreaElement>("Note");
    expect(note.value).toBe("Allergic to penicillin.");
    fill(note, "Allergic to penicillin. Asthma.");
    expect($("#note-status")?.textContent).toBe("Not saved yet");
    await act(() => void note.dispatchEvent(new Event("blur")));
    await waitFor(() => expect($("#note-status")?.textContent).toContain("Saved at"));
    expect(last("/consultations/c1/note", "PUT")?.body).toEqual({ text: "Allergic to penicillin. Asthma." });

    // Transfer to another queue, after a confirmation; back to the waiting room.
    await waitFor(() => expect($<HTMLSelectElement>("#transfer-queue")?.value).toBe("q:q2"));
    await waitFor(() => expect($('#transfer-queue option[value="d:u7"]')?.textContent).toBe("Grace Hopper"));
    await act(() => $("#transfer-start")!.click());
    expect($("#confirm-transfer-text")?.textContent).toContain("Dermatology");
    await act(() => $("#confirm-transfer")!.click());
    await waitFor(() => expect($("#waiting-list")).not.toBeNull());
    expect(last("/consultations/c1/transfer")?.body).toEqual({ queue_id: "q2" });
  });

  it("transfers to a colleague", async () => {
    const sent: unknown[] = [];
    let done = 0;
    render(
      <TransferPanel
        consultationId="c1"
        currentQueueId="q1"
        onTransferred={() => done++}
        api={{
          myQueues: async () => [{ id: "q1", name: "General" }],
          colleagues: async () => [{ id: "u7", first_name: "Grace", last_name: "Hopper" }],
          transferConsultation: async (_id, to) => {
            sent.push(to);
            return {} as never;
          },
        }}
      />,
      container,
    );
    await waitFor(() => expect($('#transfer-queue option[value="d:u7"]')).not.toBeNull());
    const select = $<HTMLSelectElement>("#transfer-queue")!;
    select.value = "d:u7";
    await act(() => void select.dispatchEvent(new Event("change")));
    // Asked first: the focus on Cancel; Escape keeps the consultation, the focus back on the button.
    $("#transfer-start")!.focus();
    await act(() => $("#transfer-start")!.click());
    expect($("#confirm-transfer-text")?.textContent).toContain("Grace Hopper");
    const dialog = $("#transfer-dialog")!;
    expect(dialog.getAttribute("role")).toBe("alertdialog");
    expect($(`#${dialog.getAttribute("aria-labelledby")}`)?.textContent).toBe("Transfer the consultation");
    expect(dialog.getAttribute("aria-describedby")).toBe("confirm-transfer-text");
    expect(document.activeElement?.id).toBe("cancel-transfer");
    await act(() => void document.activeElement!.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true })));
    await waitFor(() => expect(document.activeElement?.id).toBe("transfer-start"));
    expect($("#transfer-dialog")).toBeNull();
    expect(sent).toEqual([]);
    await act(() => $("#transfer-start")!.click());
    await act(() => $("#confirm-transfer")!.click());
    await waitFor(() => expect(done).toBe(1));
    expect(sent).toEqual([{ doctor_id: "u7" }]);
  });

  it("sends a waiting patient an estimate, counts arrivals in the title and remembers the sound switch", async () => {
    await start();
    await waitFor(() => expect(document.title).toBe("(1) HCW@Home — Doctor"));
    await act(() => $("#estimate-c5")!.click());
    fill($<HTMLInputElement>("#estimate-minutes-c5")!, "15");
    await submit($("#estimate-send-c5")!);
    await waitFor(() => expect($("#estimate-sent-c5")?.textContent).toContain("Estimate sent"));
    expect(last("/consultations/c5/estimate")?.body).toEqual({ minutes: 15 });

    const sound = $<HTMLInputElement>("#sound-alerts")!;
    expect(sound.checked).toBe(true);
    sound.checked = false;
    await act(() => void sound.dispatchEvent(new Event("change", { bubbles: true })));
    expect(localStorage.getItem(SOUND_MUTED_STORAGE_KEY)).toBe("1");
  });
});

describe("sent invitations", () => {
  it("lists them with their status, and gives a new link, a new time or withdraws one", async () => {
    await start();
    await waitFor(() => expect($("[data-invite-id=i1]")?.textContent).toContain("Ivy Invited"));
    expect($("[data-invite-id=i1]")?.textContent).toContain("invited");
    expect($("[data-invite-id=i2]")?.textContent).toContain("joined");
    expect($("#invite-resend-i2")).toBeNull(); // used already

    await act(() => $("#invite-resend-i1")!.click());
    await waitFor(() => expect($("#invite-link-i1")?.textContent).toBe("https://patient.example/i/NEW"));

    await act(() => $("#invite-reschedule-i1")!.click());
    fill($<HTMLInputElement>("#invite-when-i1")!, "2026-06-02T09:30");
    await submit($("#invite-reschedule-send-i1")!);
    await waitFor(() => expect($("#invite-when-i1")).toBeNull());
    await waitFor(() => expect($("[data-invite-id=i1]")?.textContent).toContain("appointment Jun"));
    const sent = last("/invites/i1/reschedule")?.body as { scheduled_at: string; time_zone: string };
    expect(new Date(sent.scheduled_at).getTime()).toBe(new Date("2026-06-02T09:30").getTime());
    expect(sent.time_zone).toBeTruthy();

    $("#invite-revoke-i1")!.focus();
    await act(() => $("#invite-revoke-i1")!.click());
    expect($("#invite-revoke-text-i1")?.textContent).toContain("Ivy Invited");
    expect($("#invite-revoke-dialog-i1-title")?.textContent).toBe("Withdraw the invitation of Ivy Invited");
    expect(document.activeElement?.id).toBe("invite-revoke-no-i1");
    await act(() => void document.activeElement!.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true })));
    await waitFor(() => expect(document.activeElement?.id).toBe("invite-revoke-i1"));
    expect(last("/invites/i1/revoke")).toBeUndefined();
    await act(() => $("#invite-revoke-i1")!.click());
    await act(() => $("#invite-revoke-yes-i1")!.click());
    await waitFor(() => expect($("[data-invite-id=i1]")?.textContent).toContain("invitation withdrawn"));
    expect($("#invite-resend-i1")).toBeNull();
    // Its buttons are gone: the focus goes to the list's heading.
    await waitFor(() => expect(document.activeElement?.id).toBe("invites-title"));
  });
  it("follows invite.updated: one fetch for the events that come together", async () => {
    await start();
    await waitFor(() => expect($("[data-invite-id=i1]")?.textContent).toContain("invited"));
    const fetches = () => calls.filter((c) => c.url.includes("/invites?")).length;
    const before = fetches();
    invites = [{ ...invites[0], status: "opened" }, invites[1]!];
    await act(() => {
      for (const i of ["i1", "i1", "i2"]) sockets.last.message({ type: "invite.updated", data: { invite_id: i, consultation_id: "c5" } });
    });
    await waitFor(() => expect($("[data-invite-id=i1]")?.textContent).toContain("link opened"));
    await act(() => new Promise((r) => setTimeout(r, 400)));
    expect(fetches()).toBe(before + 1);

    invites = [{ ...invites[0], status: "expired" }, invites[1]!];
    await act(() => sockets.last.message({ type: "invite.updated", data: { invite_id: "i1", consultation_id: "c5" } }));
    await waitFor(() => expect($("[data-invite-id=i1]")?.textContent).toContain("invitation expired"));
    expect($("#invite-resend-i1")).toBeNull();
    expect(fetches()).toBe(before + 2);
  });
});


describe("the participants list", () => {
  it("shows a guest as joined once they come online, and follows invite.updated of this consultation", async () => {
    const guest = { participant_id: "g1", role: "guest", display_name: "Gus Guest", first_name: "Gus", last_name: "Guest", language: "en", online: false, invite_status: "sent" };
    const expert = { participant_id: "x1", role: "expert", display_name: "Eve Expert", first_name: "Eve", last_name: "Expert", language: "fr", online: false, invite_status: "sent" };
    participants = [{ ...PATIENT, role: "patient", display_name: "Paula Patient" }, guest, expert];
    await start();
    await act(() => $("#open-c1")!.click());
    await waitFor(() => expect($("[data-participant-id=g1]")?.textContent).toContain("invited"));
    const fetches = () => calls.filter((c) => c.method === "GET" && c.url.endsWith("/consultations/c1/participants")).length;

    // The guest opened the link: online, and the list fetched again says joined.
    participants = participants.map((p) => (p["participant_id"] === "g1" ? { ...guest, online: true, invite_status: "redeemed" } : p));
    const before = fetches();
    await act(() => sockets.last.message({ type: "participant.presence", data: { consultation_id: "c1", participant_id: "g1", online: true } }));
    await waitFor(() => expect($("[data-participant-id=g1]")?.textContent).toContain("joined"));
    expect($("[data-participant-id=g1] .hcw-online")).not.toBeNull();
    expect(fetches()).toBe(before + 1);

    // Joined already: coming and going needs no fetch; nor does the patient.
    await act(() => sockets.last.message({ type: "participant.presence", data: { consultation_id: "c1", participant_id: "g1", online: false } }));
    await act(() => sockets.last.message({ type: "participant.presence", data: { consultation_id: "c1", participant_id: "g1", online: true } }));
    await act(() => sockets.last.message({ type: "participant.presence", data: { consultation_id: "c1", participant_id: "p1", online: true } }));
    await settle();
    expect(fetches()).toBe(before + 1);
    expect($("[data-participant-id=g1] .hcw-online")).not.toBeNull();

    // An invite of another consultation changed: nothing; of this one: fetched.
    participants = participants.map((p) => (p["participant_id"] === "x1" ? { ...expert, invite_status: "delivery_failed" } : p));
    await act(() => sockets.last.message({ type: "invite.updated", data: { invite_id: "i7", consultation_id: "c5" } }));
    await settle();
    expect(fetches()).toBe(before + 1);
    await act(() => sockets.last.message({ type: "invite.updated", data: { invite_id: "i8", consultation_id: "c1" } }));
    await waitFor(() => expect($("[data-participant-id=x1]")?.textContent).toContain("email not delivered"));
    expect(fetches()).toBe(before + 2);
  });
});

describe("closing a consultation", () => {
  it("asks in a named dialog with the focus on Cancel; Escape keeps it open; once closed, the focus goes to the title", async () => {
    await start();
    await act(() => $("#open-c1")!.click());
    await waitFor(() => expect($("#close-consultation")).not.toBeNull());
    $("#close-consultation")!.focus();
    await act(() => $("#close-consultation")!.click());
    const dialog = $("#close-dialog")!;
    expect(dialog.getAttribute("role")).toBe("alertdialog");
    expect($(`#${dialog.getAttribute("aria-labelledby")}`)?.textContent).toBe("Close the consultation");
    expect($(`#${dialog.getAttribute("aria-describedby")}`)?.textContent).toContain("The patient's access ends");
    expect($("#close-consultation")?.getAttribute("aria-expanded")).toBe("true");
    expect(document.activeElement?.id).toBe("cancel-close");

    await act(() => void document.activeElement!.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true })));
    expect($("#close-dialog")).toBeNull();
    await waitFor(() => expect(document.activeElement?.id).toBe("close-consultation"));
    expect(last("/consultations/c1/close")).toBeUndefined();

    await act(() => $("#close-consultation")!.click());
    await act(() => $("#confirm-close")!.click());
    await waitFor(() => expect($("#consultation-closed")).not.toBeNull());
    expect(last("/consultations/c1/close")).toBeDefined();
    await waitFor(() => expect(document.activeElement?.id).toBe("consultation-title"));
  });
});

describe("the history", () => {
  it("lists closed consultations page by page and opens one read-only", async () => {
    await start();
    await act(() => $("#nav-history")!.click());
    await waitFor(() => expect($("#history-table [data-consultation-id=c7]")).not.toBeNull());
    const row = $("[data-consultation-id=c7]")!.textContent!;
    expect(row).toContain("Paula Patient");
    expect(row).toContain("12 minutes");
    expect(row).toContain("Good");
    expect($("#nav-history")?.getAttribute("aria-current")).toBe("page");
    expect($("#page-title")?.textContent).toBe("History");

    await act(() => $("#history-more")!.click());
    await waitFor(() => expect($("[data-consultation-id=c8]")?.textContent).toContain("Cancelled"));
    expect($("[data-consultation-id=c8]")?.textContent).toContain("No rating");
    expect($("#history-more")).toBeNull();

    await act(() => $("#history-open-c7")!.click());
    await waitFor(() => expect($("#history-chat-log")?.textContent).toContain("Thank you, doctor"));
    expect($("#history-note")?.textContent).toBe("Follow up in two weeks.");
    expect($("#history-facts")?.textContent).toContain("Very kind");
    expect($("#history-chat-input")).toBeNull(); // read-only
    expect(calls.some((c) => c.url.includes("/consultations/c7/messages/read"))).toBe(false);
    await act(() => $("#history-back")!.click());
    expect($("#history-table")).not.toBeNull();
  });
});

describe("the idle warning", () => {
  it("warns in a live region, stays signed in on request, and signs out when the time is up", async () => {
    let keepAlives = 0;
    await start({
      idle: (o) => new IdleWatch({ ...o, keepAlive: async () => void keepAlives++, target: null, idleMs: 60, warnMs: 150, tickMs: 10 }),
    });
    await waitFor(() => expect($("#idle-stay")).not.toBeNull());
    expect($("#idle-live")?.getAttribute("aria-live")).toBe("assertive");
    expect($("#idle-text")?.textContent).toContain("you will be signed out at");
    await act(() => $("#idle-stay")!.click());
    await waitFor(() => expect($("#idle-stay")).toBeNull());
    expect(keepAlives).toBe(1);
    await waitFor(() => expect($("#idle-stay")).not.toBeNull());
    await waitFor(() => expect($("#signin-email")).not.toBeNull());
    expect(last("/auth/sign-out")).toBeDefined();
  });
});

describe("Security: passkeys", () => {
  it("lists, adds and deletes passkeys", async () => {
    const creds = new FakeCredentials();
    await act(() => render(<SecuritySection passkeys={{ credentials: creds }} />, container));
    await waitFor(() => expect($("[data-passkey-id=pk1]")?.textContent).toContain("Old phone"));
    expect($("[data-passkey-id=pk1]")?.textContent).toContain("never used");

    fill(byLabel("Name of the passkey"), "Work laptop");
    await submit($("#passkey-add")!);
    await waitFor(() => expect($("[data-passkey-id=pk2]")?.textContent).toContain("Work laptop"));
    expect(creds.created).toBe(1);
    const sent = last("/auth/passkeys/registration")?.body as { name: string; credential: Record<string, unknown> };
    expect(sent.name).toBe("Work laptop");
    expect(sent.credential).toMatchObject({ id: "cGsy", rawId: "cGsy", type: "public-key", response: { clientDataJSON: "e30", attestationObject: "AQ" } });
    expect($("#passkey-status")?.textContent).toBe("The passkey was added.");

    $("#passkey-delete-pk1")!.focus();
    await act(() => $("#passkey-delete-pk1")!.click());
    expect($("#confirm-passkey-delete-text")?.textContent).toContain("Old phone");
    expect($("#passkey-delete-dialog")?.getAttribute("aria-describedby")).toBe("confirm-passkey-delete-text");
    expect($("#passkey-delete-dialog-title")?.textContent).toBe("Delete the passkey Old phone");
    expect(document.activeElement?.id).toBe("cancel-passkey-delete");
    await act(() => void document.activeElement!.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true })));
    await waitFor(() => expect(document.activeElement?.id).toBe("passkey-delete-pk1"));
    expect(last("/me/passkeys/pk1/delete")).toBeUndefined();
    await act(() => $("#passkey-delete-pk1")!.click());
    await act(() => $("#confirm-passkey-delete")!.click());
    await waitFor(() => expect($("[data-passkey-id=pk1]")).toBeNull());
    // The deleted passkey's button is gone: the focus goes to the list's heading.
    await waitFor(() => expect(document.activeElement?.id).toBe("security-title"));
    expect(last("/me/passkeys/pk1/delete")).toBeDefined();
    expect($("#passkey-status")?.textContent).toBe("The passkey was deleted.");
  });

  it("is reachable from the sections menu, and says so where the browser has no passkeys", async () => {
    await start();
    await act(() => $("#nav-security")!.click());
    await waitFor(() => expect($("[data-passkey-id=pk1]")).not.toBeNull());
    expect($("#passkey-unsupported")).not.toBeNull(); // happy-dom has no WebAuthn
    // One "Security": the page's title; the card is headed by what it holds.
    const headings = [...container.querySelectorAll("h1, h2, h3, h4")].map((h) => `${h.tagName} ${h.textContent}`);
    expect(headings.filter((h) => h.endsWith(" Security"))).toEqual(["H1 Security"]);
    expect(headings).toContain("H2 Passkeys");
    expect($("section[aria-labelledby=security-title]")).not.toBeNull();
    expect($("#security-title")?.textContent).toBe("Passkeys");
  });

  it("signs in with a passkey at the second step", async () => {
    level = "password";
    const creds = new FakeCredentials();
    const auth = new DoctorAuth({
      replaceUrl: () => {},
      passkey: () => import("../shared/passkey").then((m) => m.signInWithPasskey({ credentials: creds })),
    });
    await act(() => auth.start("/", ""));
    expect(auth.screen.value.name).toBe("second_factor");
    await act(() => render(<PasskeySignInButton auth={auth} supported />, container));
    await act(() => button("Use a passkey").click());
    await waitFor(() => expect(auth.screen.value.name).toBe("ready"));
    expect(creds.got).toBe(1);
    expect(last("/auth/passkeys/login")?.body).toEqual({
      credential: credentialToJSON({
        id: "cGsx",
        rawId: new Uint8Array([112, 107, 49]).buffer,
        type: "public-key",
        response: { clientDataJSON: new Uint8Array([123, 125]).buffer, authenticatorData: new Uint8Array([5]).buffer, signature: new Uint8Array([6]).buffer },
      }),
    });
  });

  it("offers a passkey next to the code at the sign-in's second step", async () => {
    level = "password";
    const creds = new FakeCredentials();
    vi.stubGlobal("PublicKeyCredential", function PublicKeyCredential() {});
    Object.defineProperty(navigator, "credentials", { value: creds, configurable: true });
    try {
      const auth = new DoctorAuth({ replaceUrl: () => {} });
      await act(() => render(<DoctorApp auth={auth} deps={deps()} />, container));
      await act(() => auth.start("/", ""));
      await waitFor(() => expect($("#totp-code")).not.toBeNull());
      await act(() => button("Use a passkey").click());
      await waitFor(() => expect($("#waiting-list")).not.toBeNull());
      expect(creds.got).toBe(1);
    } finally {
      delete (navigator as { credentials?: unknown }).credentials;
    }
  });

  it("tells why a passkey sign-in failed", async () => {
    level = "password";
    const auth = new DoctorAuth({
      replaceUrl: () => {},
      passkey: async () => {
        const { PasskeyError } = await import("../shared/passkey");
        throw new PasskeyError("passkey_cancelled");
      },
    });
    await act(() => auth.start("/", ""));
    await act(() => render(<PasskeySignInButton auth={auth} supported />, container));
    await act(() => button("Use a passkey").click());
    await waitFor(() => expect($("#passkey-signin-error")?.textContent).toContain("cancelled or timed out"));
    expect(auth.screen.value.name).toBe("second_factor");
    await act(() => render(<PasskeySignInButton auth={auth} supported={false} />, container));
    expect($("#passkey-signin")).toBeNull();
  });
});
