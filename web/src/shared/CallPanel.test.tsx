// @vitest-environment happy-dom
import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "./api";
import type { CallInfo, JoinInfo } from "./api-types";
import { CallClient } from "./call";
import { FakeMediaDevices, FakeNode, PeerFactory, joinInfo } from "./call-fakes";
import { CallPanel } from "./CallPanel";
import { CallSession, type CallApi } from "./call-session";
import { resetI18nForTests } from "./i18n";
import { RealtimeClient } from "./realtime";
import { FakeNetwork, SocketFactory } from "./test-support";

let container: HTMLElement;
let sockets: SocketFactory;
let rt: RealtimeClient;
let api: CallApi & { calls: string[] };
let current: CallInfo | null;
let joinResult: () => Promise<JoinInfo>;
let node: FakeNode;
let peers: PeerFactory;
let media: FakeMediaDevices;

const RINGING: CallInfo = {
  id: "call-1",
  consultation_id: "c1",
  started_by: "doc",
  kind: "video",
  state: "ringing",
  started_at: "2025-05-01T08:00:00Z",
  participants: [{ identity: "u-doc", role: "doctor", accepted_at: "2025-05-01T08:00:00Z" }],
};

beforeEach(() => {
  resetI18nForTests();
  container = document.createElement("div");
  document.body.appendChild(container);
  sockets = new SocketFactory();
  rt = new RealtimeClient({
    url: "wss://patient.example.org/ws",
    createSocket: sockets.create,
    network: new FakeNetwork(),
    isOnline: () => true,
    heartbeat: false,
  });
  current = null;
  node = new FakeNode();
  peers = new PeerFactory();
  media = new FakeMediaDevices();
  joinResult = async () => joinInfo();
  const calls: string[] = [];
  api = {
    calls,
    current: async () => current,
    accept: async () => {
      calls.push("accept");
      return RINGING;
    },
    decline: async () => {
      calls.push("decline");
      return RINGING;
    },
    join: async () => {
      calls.push("join");
      return joinResult();
    },
  };
});

afterEach(() => {
  render(null, container);
  container.remove();
  rt.close();
});

function session(): CallSession {
  return new CallSession("c1", api, {
    identity: "p-me",
    role: "participant",
    createClient: (j, o) =>
      new CallClient(j, {
        ...o,
        createSocket: node.create,
        createPeerConnection: peers.create,
        mediaDevices: media,
        environment: null,
        statsIntervalMs: 0,
      }),
  });
}

async function waitFor(check: () => void, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await act(() => new Promise<void>((r) => setTimeout(r, 5)));
    }
  }
}

const $ = (sel: string) => container.querySelector<HTMLElement>(sel);

async function mount(s: CallSession): Promise<void> {
  s.attach(rt);
  rt.connect();
  await act(() => sockets.last.open());
  await act(() =>
    render(<CallPanel session={s} ring={false} precallOptions={{ mediaDevices: media, createAudioContext: () => null }} />, container),
  );
}

function ring(): void {
  sockets.last.message({
    type: "call.ringing",
    data: { consultation_id: "c1", call_id: "call-1", kind: "video", started_by: "doc", started_at: "2025-05-01T08:00:00Z" },
  });
}

describe("the call panel", () => {
  it("rings, is answered, checks the devices and shows the call", async () => {
    const s = session();
    await mount(s);
    expect(container.innerHTML).toBe("");
    await act(() => ring());
    const notice = $("[role=alertdialog]");
    expect(notice?.textContent).toContain("Incoming video call");
    expect(document.activeElement?.id).toBe("call-accept");
    $("#call-accept")!.click();
    await waitFor(() => expect($("#precall-continue")).not.toBeNull());
    expect(api.calls).toEqual(["accept"]);
    await waitFor(() => expect($("#precall-verdict")?.dataset["verdict"]).toBe("ready"));
    $("#precall-continue")!.click();
    await waitFor(() => expect($("#call-leave")).not.toBeNull());
    expect(api.calls).toEqual(["accept", "join"]);
    expect($("#remote-video")?.tagName).toBe("VIDEO");
    expect($("#local-video")?.tagName).toBe("VIDEO");
    // The pre-call check's stream went to the call: no second prompt.
    expect(media.requests).toHaveLength(1);
    await waitFor(() => expect(node.sockets).toHaveLength(1));
    await waitFor(() => expect(peers.pub.remoteDescription?.sdp).toBe("node-answer"));
    expect((globalThis as { hcwCallStats?: unknown }).hcwCallStats).toBeTypeOf("function");

    $("#call-mute")!.click();
    await waitFor(() => expect($("#call-mute")?.getAttribute("aria-pressed")).toBe("true"));

    // The doctor hangs up.
    await act(() => sockets.last.message({ type: "call.ended", data: { consultation_id: "c1", call_id: "call-1", reason: "hung_up" } }));
    await waitFor(() => expect($("#call-ended")?.dataset["reason"]).toBe("hung_up"));
    expect(node.last.envelopes().at(-1)).toEqual({ type: "leave", data: { reason: "client_left" } });
  });

  it("declines", async () => {
    const s = session();
    await mount(s);
    await act(() => ring());
    $("#call-decline")!.click();
    await waitFor(() => expect(api.calls).toEqual(["decline"]));
    expect(container.innerHTML).toBe("");
    // A resync does not ring again for a declined call.
    current = RINGING;
    await act(() => s.refresh());
    expect(container.innerHTML).toBe("");
  });

  it("rings on a reload while the call rings, and offers to join an active one", async () => {
    current = RINGING;
    const s = session();
    await mount(s);
    await waitFor(() => expect($("#call-accept")).not.toBeNull());
    current = { ...RINGING, state: "active", participants: [...RINGING.participants, { identity: "p-me", role: "patient", accepted_at: "x" }] };
    const t = session();
    render(null, container);
    await act(() => render(<CallPanel session={t} ring={false} />, container));
    await act(() => t.refresh());
    expect($("#call-join")).not.toBeNull();
  });

  it("says when no media node is available", async () => {
    joinResult = async () => {
      throw new ApiError("503", "/api/v1/x", 503, { code: "no_media_node" });
    };
    const s = session();
    await mount(s);
    await act(() => ring());
    $("#call-accept")!.click();
    await waitFor(() => expect($("#precall-continue")).not.toBeNull());
    $("#precall-continue")!.click();
    await waitFor(() => expect($("#call-failed")?.dataset["code"]).toBe("no_media_node"));
    expect($("#call-failed")?.textContent).toContain("No call server is available");
  });

  it("uses the consultation's call routes for a participant", async () => {
    const { participantCallApi } = await import("../patient/room");
    const seen: string[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string) => {
        seen.push(url);
        return new Response(JSON.stringify({ call: null }), { status: 200, headers: { "Content-Type": "application/json" } });
      }),
    );
    expect(await participantCallApi("c1").current()).toBeNull();
    expect(seen).toEqual(["/api/v1/consultations/c1/call"]);
  });
});
