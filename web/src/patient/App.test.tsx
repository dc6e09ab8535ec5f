// @vitest-environment happy-dom
import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../shared/api";
import type { ChatAck, ChatMessage, Participation, QueuePosition } from "../shared/api-types";
import { resetI18nForTests } from "../shared/i18n";
import { RealtimeClient } from "../shared/realtime";
import { FakeNetwork, SocketFactory, json, refusal, stubApiFetch, waitFor, type SentRequest } from "../shared/test-support";
import { PatientApp } from "./App";
import { PatientFlow, type FlowDeps } from "./flow";
import { WaitingRoom } from "./room";

const PARTICIPATION: Participation = {
  participant_id: "p1",
  role: "patient",
  consultation_id: "c1",
  consultation_status: "pending",
  queue_name: "General practice",
};

let container: HTMLElement;
let sockets: SocketFactory;
let position: QueuePosition;
let messages: ChatMessage[];
let fetchCalls: SentRequest[];

beforeEach(() => {
  resetI18nForTests();
  localStorage.clear();
  sessionStorage.clear();
  container = document.createElement("div");
  document.body.appendChild(container);
  sockets = new SocketFactory();
  position = { consultation_status: "pending", position: 3 };
  messages = [];
  fetchCalls = stubApiFetch((path) => {
    if (path === "/version") return json({ name: "HCW@Home", version: "9.9.9", commit: "" });
    return refusal("not_found", 404, undefined, path.endsWith("/feedback") ? "no such resource" : "?");
  });
});

afterEach(() => {
  render(null, container);
  container.remove();
  document.documentElement.removeAttribute("dir");
});

function $(selector: string): HTMLElement | null {
  return container.querySelector(selector);
}

function text(selector: string): string {
  return $(selector)?.textContent ?? "";
}

function room(p: Participation): WaitingRoom {
  const network = new FakeNetwork();
  return new WaitingRoom(p, {
    realtime: new RealtimeClient({
      url: "wss://patient.example.org/ws",
      createSocket: sockets.create,
      network,
      isOnline: () => true,
      heartbeat: false,
      random: () => 0.5,
    }),
    queuePosition: async () => position,
    chat: {
      send: async (key, text): Promise<ChatAck> => {
        const dup = messages.find((m) => m.key === key);
        const m: ChatMessage = dup ?? {
          id: `m${messages.length + 1}`,
          seq: messages.length + 1,
          key,
          text,
          created_at: "2025-05-01T08:00:00Z",
          sender_participant_id: p.participant_id,
        };
        if (!dup) messages.push(m);
        return { key, seq: m.seq, id: m.id, created_at: m.created_at };
      },
      list: async (after) => ({ messages: messages.filter((m) => m.seq > after), more: false }),
      markRead: async () => {},
    },
  });
}

async function mount(deps: Partial<FlowDeps>, path: string): Promise<PatientFlow> {
  const flow = new PatientFlow({
    storage: sessionStorage,
    replaceUrl: () => {},
    preferLanguage: () => {},
    participation: async () => PARTICIPATION,
    ...deps,
  });
  await act(() => render(<PatientApp flow={flow} createRoom={room} />, container));
  await act(() => flow.start(path));
  return flow;
}

describe("patient app", () => {
  it("goes from the link through the terms to a live waiting room, then to the feedback", async () => {
    const redeem = vi.fn(async () => ({
      participant_id: "p1",
      consultation_id: "c1",
      role: "patient",
      session_expires: "2030-01-01T00:00:00Z",
    }));
    await mount({ redeem }, "/i/secret-token");

    // Terms: one h1, the checkbox is required. The page has just opened: the
    // focus stays at the top (the skip link is the first Tab stop).
    expect(text("h1")).toBe("Before you join");
    expect(document.activeElement?.id).not.toBe("page-title");
    expect(text("#backend-version")).not.toBe("");
    const form = $("form.hcw-terms") as HTMLFormElement;
    await act(() => void form.dispatchEvent(new Event("submit", { cancelable: true })));
    expect(text("#terms-error")).toBe("Please accept the terms of use to continue.");
    expect($("#terms-accept")?.getAttribute("aria-invalid")).toBe("true");
    expect(redeem).not.toHaveBeenCalled();
    const box = $("#terms-accept") as HTMLInputElement;
    box.checked = true;
    await act(() => void box.dispatchEvent(new Event("change")));
    await act(() => void form.dispatchEvent(new Event("submit", { cancelable: true })));
    expect(redeem).toHaveBeenCalledWith("secret-token");

    // The waiting room, live.
    await waitFor(() => expect(text("h1")).toBe("Waiting room"));
    // A new screen: the focus goes to its heading.
    expect(document.activeElement?.id).toBe("page-title");
    await waitFor(() => expect(text("#queue-position")).toBe("2 people are ahead of you."));
    expect($("#queue-position")?.getAttribute("aria-live")).toBe("polite");
    expect(container.textContent).toContain("Service: General practice");
    expect(sockets.sockets).toHaveLength(1);
    const ws = sockets.last;
    await act(() => ws.open());

    await act(() => ws.message({ type: "queue.position", data: { position: 1 } }));
    expect(text("#queue-position")).toBe("You are next.");

    const soon = new Date(Date.now() + 10 * 60_000).toISOString();
    await act(() => ws.message({ type: "consultation.estimate", data: { consultation_id: "c1", start_at: soon } }));
    expect(text("#queue-estimate")).toMatch(/The doctor expects to start at .+\. That is in about 10 minutes\./);

    // Chat: send, then a message from the doctor arrives by event + fetch.
    const input = $("#chat-input") as HTMLTextAreaElement;
    input.value = "Hello, I am here.";
    await act(() => void input.dispatchEvent(new Event("input")));
    // Sent with the Send button (focused), which the empty field then disables: the focus goes back to the field.
    ($("#chat-send") as HTMLButtonElement).focus();
    await act(() => void ($("form.hcw-chat-form") as HTMLFormElement).dispatchEvent(new Event("submit", { cancelable: true })));
    await waitFor(() => expect(container.querySelectorAll(".hcw-chat-mine")).toHaveLength(1));
    expect(text(".hcw-chat-mine .hcw-chat-text")).toBe("Hello, I am here.");
    expect(input.value).toBe("");
    await waitFor(() => expect(document.activeElement?.id).toBe("chat-input"));
    messages.push({ id: "m2", seq: 2, key: "d1", text: "Good morning!", created_at: "2025-05-01T08:01:00Z", sender_user_id: "u1" });
    await act(() => ws.message({ type: "chat.message", data: { consultation_id: "c1", seq: 2 } }));
    await waitFor(() => expect(text(".hcw-chat-theirs .hcw-chat-text")).toBe("Good morning!"));
    expect(text(".hcw-chat-theirs .hcw-chat-sender")).toBe("Care team");
    expect($(".hcw-chat-log")?.getAttribute("role")).toBe("log");

    // The doctor joins: an alert.
    await act(() =>
      ws.message({ type: "consultation.accepted", data: { consultation_id: "c1", doctor_id: "u1", accepted_at: soon } }),
    );
    expect(text("#doctor-joined")).toBe("The doctor has joined the consultation.");
    expect($("#doctor-joined")?.getAttribute("role")).toBe("alert");
    expect(container.textContent).toContain("Your consultation has started.");
    expect(text("h1")).toBe("Your consultation");
    expect(sockets.sockets).toHaveLength(1); // the title changed, the socket stayed

    // Closed: the socket closes with 1008 after the event; the end page asks for feedback.
    await act(() => ws.message({ type: "consultation.closed", data: { consultation_id: "c1", reason: "completed" } }));
    await act(() => ws.serverClose(1008, "consultation closed"));
    await waitFor(() => expect(text("h1")).toBe("The consultation has ended"));
    expect(container.textContent).toContain("Thank you. The consultation is now closed.");
    expect(sockets.sockets).toHaveLength(1); // no reconnect

    const feedback = $("form.hcw-feedback") as HTMLFormElement;
    expect(feedback).not.toBeNull();
    await act(() => void feedback.dispatchEvent(new Event("submit", { cancelable: true })));
    expect(text("#feedback-missing")).toBe("Please choose a rating.");
    const good = container.querySelector('input[name="rating"][value="good"]') as HTMLInputElement;
    good.checked = true;
    await act(() => void good.dispatchEvent(new Event("change")));
    await act(() => void feedback.dispatchEvent(new Event("submit", { cancelable: true })));
    await waitFor(() => expect(container.textContent).toContain("Your feedback could not be sent."));
    expect(fetchCalls.find((c) => c.url.endsWith("/feedback"))).toMatchObject({
      method: "POST",
      url: "/api/v1/participant/consultations/c1/feedback",
      body: { token: "", rating: "good" },
    });
  });

  it("shows a cancelled consultation without asking for feedback", async () => {
    await mount({}, "/");
    await waitFor(() => expect(sockets.sockets).toHaveLength(1));
    const ws = sockets.last;
    await act(() => ws.open());
    await act(() => ws.message({ type: "consultation.closed", data: { consultation_id: "c1", reason: "cancelled" } }));
    await waitFor(() => expect(text("h1")).toBe("The consultation has ended"));
    expect(container.textContent).toContain("The consultation was cancelled.");
    expect($("form.hcw-feedback")).toBeNull();
  });

  it("says the access was withdrawn when the server closes with access revoked", async () => {
    await mount({}, "/");
    await waitFor(() => expect(sockets.sockets).toHaveLength(1));
    await act(() => sockets.last.open());
    await act(() => sockets.last.serverClose(1008, "access revoked"));
    await waitFor(() => expect(container.textContent).toContain("Your access to this consultation was withdrawn."));
  });

  it.each([
    ["invite_invalid", 404, "This link is not valid"],
    ["invite_revoked", 410, "This link was withdrawn"],
    ["invite_expired", 410, "This link has expired"],
    ["consultation_closed", 410, "This consultation has ended"],
    ["throttled", 429, "Too many attempts"],
  ])("has one clear page for %s", async (code, status, title) => {
    const redeem = vi.fn(async () => {
      throw new ApiError("refused", "/api/v1/invites/redeem", status, {
        code,
        body: { code },
        ...(code === "throttled" ? { retryAfterSeconds: 90 } : {}),
      });
    });
    const flow = await mount({ redeem }, "/i/tok");
    await act(() => flow.acceptTerms());
    expect(text("h1")).toBe(title);
    expect($(`[data-refusal="${code}"]`)).not.toBeNull();
    if (code === "throttled") {
      expect(container.textContent).toContain("Please wait 2 minutes, then try again.");
      expect(container.querySelector(".hcw-refusal button")?.textContent).toBe("Try again");
    } else {
      expect(container.querySelector(".hcw-refusal button")).toBeNull();
    }
  });

  it("says when a too-early link opens", async () => {
    const opensAt = "2031-06-15T07:50:00Z";
    const redeem = vi.fn(async () => {
      throw new ApiError("early", "/api/v1/invites/redeem", 409, {
        code: "invite_too_early",
        body: { code: "invite_too_early", opens_at: opensAt },
      });
    });
    const flow = await mount({ redeem }, "/i/tok");
    await act(() => flow.acceptTerms());
    expect(text("h1")).toBe("Your consultation has not opened yet");
    expect(container.textContent).toMatch(/Your link opens on June 1[45], 2031 at /);
    expect(container.textContent).toContain("the waiting room will open by itself");
    flow.dispose();
  });

  it("switches to Arabic, right to left, from the language menu", async () => {
    await mount({ participation: async () => Promise.reject(new ApiError("no", "/x", 401)) }, "/");
    expect(text("h1")).toBe("Welcome");
    const select = $("#hcw-language-select") as HTMLSelectElement;
    expect(container.querySelector('label[for="hcw-language-select"]')?.textContent).toBe("Language");
    select.value = "ar";
    await act(() => void select.dispatchEvent(new Event("change")));
    await waitFor(() => expect(text("h1")).toBe("مرحبًا بك"));
    expect(document.documentElement.dir).toBe("rtl");
    expect(document.documentElement.lang).toBe("ar");
    expect(localStorage.getItem("hcw.language")).toBe("ar");
  });
});
