// @vitest-environment happy-dom
import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Consultation } from "../shared/api-types";
import { CallClient } from "../shared/call";
import { FakeMediaDevices, FakeNode, PeerFactory, joinInfo } from "../shared/call-fakes";
import { callApi } from "../shared/call-session";
import { resetI18nForTests } from "../shared/i18n";
import { RealtimeClient } from "../shared/realtime";
import { FakeNetwork, SocketFactory, json, stubApiFetch, waitFor, type SentRequest } from "../shared/test-support";
import * as api from "./api";
import { DoctorApp, type WorkspaceDeps } from "./App";
import { DoctorAuth } from "./auth";
import { Dashboard } from "./dashboard";

let container: HTMLElement;
let sockets: SocketFactory;
let calls: SentRequest[];
let level: "none" | "password" | "full";
let waiting: Consultation[];
let status: Consultation["status"];

const USER = { id: "doc1", email: "dr@clinic.example", first_name: "Ada", last_name: "Doc", role: "doctor", language: "en" };
const WAITING: Consultation = {
  id: "c1",
  queue_id: "q1",
  status: "pending",
  created_at: "2025-05-01T08:00:00Z",
  waiting_since: "2025-05-01T08:01:00Z",
  patient: { participant_id: "p1", first_name: "Paula", last_name: "Patient", language: "en", online: true },
};

function session(l: string, next?: string) {
  return { level: l, next, user_id: "doc1", role: "doctor", expires_at: "2025-05-01T20:00:00Z" };
}

beforeEach(() => {
  resetI18nForTests();
  container = document.createElement("div");
  document.body.appendChild(container);
  sockets = new SocketFactory();
  level = "none";
  waiting = [WAITING];
  status = "pending";
  calls = stubApiFetch((path, { method, body }) => {
    if (path === "/version") return json({ name: "HCW@Home", version: "1", commit: "" });
    if (path === "/auth/sign-in") {
      if (body?.["password"] !== "right") return json({ error: { code: "invalid_credentials", message: "no" } }, 401);
      level = "password";
      return json(session("password", "verify"));
    }
    if (path === "/auth/second-factor") {
      if (body?.["code"] !== "123456") return json({ error: { code: "invalid_code", message: "no" } }, 401);
      level = "full";
      return json(session("full"));
    }
    if (path === "/auth/password") return json(null, 204);
    if (path === "/me") {
      if (level === "full") return json(USER);
      if (level === "password") return json({ error: { code: "second_factor_required", message: "" } }, 403);
      return json({ error: { code: "unauthenticated", message: "" } }, 401);
    }
    if (path === "/queues") return json({ queues: [{ id: "q1", name: "General practice" }] });
    if (path === "/queues/q1/consultations") return json({ consultations: waiting });
    if (path.startsWith("/consultations?status=active")) return json({ consultations: status === "active" ? [{ ...WAITING, status }] : [] });
    if (path === "/consultations/c1/accept") {
      status = "active";
      waiting = [];
      return json({ ...WAITING, status });
    }
    if (path === "/consultations/c1") return json({ ...WAITING, status });
    if (path === "/consultations/c1/close") {
      status = "closed";
      return json({ ...WAITING, status });
    }
    if (path.startsWith("/consultations/c1/messages")) return json({ messages: [], more: false });
    if (path === "/consultations/c1/call" && method === "GET") return json({ call: null });
    if (path === "/consultations/c1/call") {
      return json({ id: "call-1", consultation_id: "c1", started_by: "doc1", kind: body?.["kind"], state: "ringing", started_at: "x", participants: [] }, 201);
    }
    if (path === "/consultations/c1/call/join") return json(joinInfo());
    if (path === "/consultations/c1/call/end") return json({ id: "call-1", consultation_id: "c1", started_by: "doc1", kind: "video", state: "ended", started_at: "x", participants: [] });
    if (path === "/invites") {
      return json({ invite: { id: "i1", consultation_id: "c2", status: "created" }, link: "https://patient.example/i/TOKEN" }, 201);
    }
    return json({ error: { code: "not_found", message: path } }, 404);
  });
});

afterEach(() => {
  render(null, container);
  container.remove();
});

const $ = <T extends HTMLElement = HTMLElement>(sel: string) => container.querySelector<T>(sel);

function type(sel: string, value: string): void {
  const el = $<HTMLInputElement>(sel)!;
  el.value = value;
  act(() => void el.dispatchEvent(new Event("input", { bubbles: true })));
}

/** Submits the form of a submit button (happy-dom does not submit on click). */
async function submit(sel: string): Promise<void> {
  const form = $(sel)!.closest("form")!;
  await act(() => void form.dispatchEvent(new Event("submit", { cancelable: true })));
}

const node = new FakeNode();
const peers = new PeerFactory();
const media = new FakeMediaDevices();

const deps: Partial<WorkspaceDeps> = {
  createRealtime: () =>
    new RealtimeClient({ url: "wss://doctor.example/ws", createSocket: sockets.create, network: new FakeNetwork(), isOnline: () => true, heartbeat: false }),
  dashboard: () => new Dashboard(),
  calls: (id) => {
    const real = callApi(`/consultations/${id}/call`);
    return real;
  },
};

// The call screen's client: fake node, peers and devices.
vi.mock("../shared/call-session", async (orig) => {
  const mod = await orig<typeof import("../shared/call-session")>();
  class TestSession extends mod.CallSession {
    constructor(id: string, a: import("../shared/call-session").CallApi, o: import("../shared/call-session").CallSessionOptions) {
      super(id, a, {
        ...o,
        createClient: (j, opts) =>
          new CallClient(j, { ...opts, createSocket: node.create, createPeerConnection: peers.create, mediaDevices: media, environment: null, statsIntervalMs: 0 }),
      });
    }
  }
  return { ...mod, CallSession: TestSession };
});

async function start(path = "/", hash = ""): Promise<DoctorAuth> {
  const auth = new DoctorAuth({ replaceUrl: () => {} });
  await act(() => render(<DoctorApp auth={auth} deps={deps} />, container));
  await act(() => auth.start(path, hash));
  return auth;
}

async function signIn(): Promise<void> {
  await waitFor(() => expect($("#signin-email")).not.toBeNull());
  type("#signin-email", "dr@clinic.example");
  type("#signin-password", "right");
  await submit("#signin-submit");
  await waitFor(() => expect($("#totp-code")).not.toBeNull());
  type("#totp-code", "123 456");
  await submit("#totp-submit");
  await waitFor(() => expect($("#waiting-list")).not.toBeNull());
}

describe("doctor app", () => {
  it("signs in with a password, then a TOTP code", async () => {
    await start();
    expect($("#page-title")?.textContent).toBe("Sign in");
    type("#signin-email", "dr@clinic.example");
    type("#signin-password", "wrong");
    await submit("#signin-submit");
    await waitFor(() => expect($("#signin-error")?.textContent).toContain("Wrong email or password"));
    await signIn();
    expect(calls.find((c) => c.url.endsWith("/auth/second-factor"))?.body).toEqual({ code: "123456" });
    expect($("#page-title")?.textContent).toBe("Waiting room");
  });

  it("sets a password from a setup link", async () => {
    await start("/setup", "#tok3n");
    type("#setup-password", "a long passphrase");
    type("#setup-confirm", "a long passphrase");
    await submit("#setup-submit");
    await waitFor(() => expect($("#signin-email")).not.toBeNull());
    expect(calls.find((c) => c.url.endsWith("/auth/password"))?.body).toEqual({ token: "tok3n", purpose: "setup", password: "a long passphrase" });
    expect(container.textContent).toContain("Your password is set");
  });

  it("lists waiting patients live, accepts, calls, chats and closes", async () => {
    await start();
    await signIn();
    await waitFor(() => expect($("[data-consultation-id=c1]")?.textContent).toContain("Paula Patient"));
    await act(() => sockets.last.open());
    // A second patient arrives.
    waiting = [WAITING, { ...WAITING, id: "c9", patient: { ...WAITING.patient!, first_name: "Zoe" } }];
    await act(() => sockets.last.message({ type: "consultation.pending", data: { consultation_id: "c9", queue_id: "q1" } }));
    await waitFor(() => expect($("#waiting-list")?.querySelectorAll("[data-consultation-id]")).toHaveLength(2));
    await act(() => sockets.last.message({ type: "participant.presence", data: { consultation_id: "c1", participant_id: "p1", online: false } }));
    await waitFor(() => expect($("[data-consultation-id=c1]")?.textContent).toContain("offline"));

    await act(() => $("#accept-c1")!.click());
    await waitFor(() => expect($("#start-video-call")).not.toBeNull());
    expect($("#chat-input")).not.toBeNull();
    expect($("#chat-send")).not.toBeNull();
    expect($("#chat-log")).not.toBeNull();

    await act(() => $("#start-video-call")!.click());
    await waitFor(() => expect($("#call-leave")).not.toBeNull());
    expect(calls.find((c) => c.url.endsWith("/consultations/c1/call") && c.method === "POST")?.body).toEqual({ kind: "video" });
    expect($("#remote-video")).not.toBeNull();
    await act(() => $("#call-leave")!.click());
    await waitFor(() => expect(calls.some((c) => c.url.endsWith("/call/end"))).toBe(true));

    await act(() => $("#close-consultation")!.click());
    expect($("#confirm-close")).not.toBeNull();
    await act(() => $("#confirm-close")!.click());
    await waitFor(() => expect($("#consultation-closed")).not.toBeNull());
    expect(calls.some((c) => c.url.endsWith("/consultations/c1/close"))).toBe(true);
  });

  it("creates an invitation and shows its link", async () => {
    await start();
    await signIn();
    await waitFor(() => expect($<HTMLSelectElement>("#invite-queue")?.value).toBe("q1"));
    type("#invite-first-name", "Paula");
    type("#invite-last-name", "Patient");
    type("#invite-email", "paula@example.org");
    await submit("#invite-create");
    await waitFor(() => expect($<HTMLInputElement>("#invite-link")?.value).toBe("https://patient.example/i/TOKEN"));
    expect(calls.find((c) => c.url.endsWith("/invites"))?.body).toEqual({
      first_name: "Paula",
      last_name: "Patient",
      email: "paula@example.org",
      queue_id: "q1",
      delivery: "email",
    });
  });
});

void api;
