// @vitest-environment happy-dom
import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "./api";
import type { CallInfo, JoinInfo } from "./api-types";
import { CallClient } from "./call";
import { FakeMediaDevices, FakeNode, FakeTrack, PeerFactory, fakeGrant, joinInfo, subOfferSdp } from "./call-fakes";
import { CallPanel } from "./CallPanel";
import { CallScreen } from "./CallScreen";
import { CallSession, type CallApi } from "./call-session";
import { resetI18nForTests } from "./i18n";
import { RealtimeClient } from "./realtime";
import { FakeNetwork, SocketFactory, waitFor } from "./test-support";

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
    // Accept is gone: the focus goes to the check's heading, not to <body>.
    await waitFor(() => expect(document.activeElement?.id).toBe("precall-title"));
    await waitFor(() => expect($("#precall-verdict")?.dataset["verdict"]).toBe("ready"));
    $("#precall-continue")!.focus();
    $("#precall-continue")!.click();
    await waitFor(() => expect($("#call-leave")).not.toBeNull());
    // And then to the call's first control.
    await waitFor(() => expect(document.activeElement?.id).toBe("call-mute"));
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
    await waitFor(() => expect(document.activeElement?.id).toBe("call-ended-close"));
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

describe("the call screen", () => {
  const person = (id: string, name: string, tracks: Array<{ id: string; kind: string; source: string; muted?: boolean }> = []) => ({
    id,
    name,
    role: "guest",
    state: "active",
    tracks: tracks.map((t) => ({ participant: id, muted: false, ...t })),
  });
  const withCamera = (id: string, name: string, micMuted = false) =>
    person(id, name, [
      { id: `${id}-mic`, kind: "audio", source: "microphone", muted: micMuted },
      { id: `${id}-cam`, kind: "video", source: "camera" },
    ]);

  async function inCall(others: ReturnType<typeof person>[], grant?: string, devices = media): Promise<CallClient> {
    node = new FakeNode({ others });
    const client = new CallClient(joinInfo(grant ? { grant } : {}), {
      createSocket: node.create,
      createPeerConnection: peers.create,
      mediaDevices: devices,
      environment: null,
      statsIntervalMs: 0,
    });
    await act(() => client.start());
    await act(() => render(<CallScreen client={client} onLeave={() => client.leave()} />, container));
    await waitFor(() => expect(peers.pub.remoteDescription?.sdp).toBe("node-answer"));
    return client;
  }

  const tiles = () => [...container.querySelectorAll<HTMLElement>("[data-testid=call-tile]")];
  const bar = () => container.querySelector<HTMLElement>("[role=toolbar]")!;
  const shareButton = () => [...container.querySelectorAll("button")].find((b) => b.textContent === "Share your screen");

  it("shows one other large, with the self view over a corner", async () => {
    const client = await inCall([withCamera("u-doc", "Dr Who")]);
    expect(container.querySelector(".hcw-call")?.getAttribute("data-layout")).toBe("solo");
    expect(tiles()).toHaveLength(1);
    expect($("#remote-video")?.closest("[data-testid=call-tile]")?.getAttribute("data-participant")).toBe("u-doc");
    expect($("[data-testid=call-gallery]")).toBeNull();
    // Every remote video is muted: each participant's audio plays in its own element.
    expect(($("#remote-video") as HTMLVideoElement).muted).toBe(true);
    expect(container.querySelectorAll("audio[data-participant]")).toHaveLength(1);
    client.leave();
  });

  it("shows every other participant as a tile, with name, microphone state and the active speaker", async () => {
    const client = await inCall([withCamera("u-doc", "Dr Who"), withCamera("p-guest", "Gus Guest", true), withCamera("p-int", "Ines Interpreter")]);
    expect(container.querySelector(".hcw-call")?.getAttribute("data-layout")).toBe("gallery");
    expect(tiles().map((t) => t.dataset["participant"])).toEqual(["u-doc", "p-guest", "p-int"]);
    expect($("[data-testid=call-gallery]")?.dataset["count"]).toBe("3");
    expect(tiles().map((t) => t.querySelector(".hcw-call-caption")?.textContent?.split(" — ")[0])).toEqual(["Dr Who", "Gus Guest", "Ines Interpreter"]);
    expect(tiles().map((t) => t.dataset["muted"])).toEqual(["false", "true", "false"]);
    expect(tiles()[1]!.querySelector("[data-testid=call-tile-muted]")?.textContent).toContain("microphone off");
    expect(tiles()[0]!.querySelector("[data-testid=call-tile-muted]")).toBeNull();
    expect(tiles().every((t) => t.querySelector("video") !== null)).toBe(true);
    expect(container.querySelectorAll("audio[data-participant]")).toHaveLength(3);
    // One #remote-video (the first with a camera), the self view as a tile of the grid.
    expect(container.querySelectorAll("#remote-video")).toHaveLength(1);
    expect($("#remote-video")?.closest("[data-testid=call-tile]")?.getAttribute("data-participant")).toBe("u-doc");
    expect($("#local-video")?.closest("[data-testid=call-self-tile]")).not.toBeNull();
    // Tiles need no full-size layer.
    for (const id of ["u-doc-cam", "p-guest-cam", "p-int-cam"]) {
      expect(node.last.envelopes()).toContainEqual({ type: "subscription", data: { track_id: id, paused: false, quality: "medium" } });
    }

    await act(() => node.last.message({ type: "speakers", data: { speakers: [{ participant: "p-int", level: 0.7 }] } }));
    expect(tiles().map((t) => t.dataset["speaking"])).toEqual(["false", "false", "true"]);
    expect(tiles()[2]!.classList.contains("hcw-call-tile-speaking")).toBe(true);
    expect(tiles()[2]!.textContent).toContain("speaking");
    // I speak: my own tile.
    await act(() => node.last.message({ type: "speakers", data: { speakers: [{ participant: "p-me", level: 0.9 }] } }));
    expect($("[data-testid=call-self-tile]")?.dataset["speaking"]).toBe("true");
    expect(tiles().every((t) => t.dataset["speaking"] === "false")).toBe(true);

    // Someone leaves: back to one large.
    await act(() => node.last.message({ type: "participant_left", data: { id: "p-int", reason: "client_left" } }));
    expect(tiles()).toHaveLength(2);
    await act(() => node.last.message({ type: "participant_left", data: { id: "p-guest", reason: "client_left" } }));
    expect(container.querySelector(".hcw-call")?.getAttribute("data-layout")).toBe("solo");
    client.leave();
  });

  it("keeps the controls out of the pictures: the toolbar follows the stage, never inside it", async () => {
    for (const others of [[withCamera("u-doc", "Dr Who")], [withCamera("u-doc", "Dr Who"), withCamera("p-guest", "Gus")]]) {
      const client = await inCall(others);
      const view = container.querySelector(".hcw-call-stage, .hcw-call-view")!;
      expect(view.contains(bar())).toBe(false);
      expect(view.compareDocumentPosition(bar()) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
      for (const t of tiles()) expect(t.querySelector("button")).toBeNull();
      client.leave();
      render(null, container);
    }
  });

  it("puts a shared screen on the stage, the presenter's camera as a tile", async () => {
    const client = await inCall([
      person("u-doc", "Dr Who", [
        { id: "TR_mic", kind: "audio", source: "microphone" },
        { id: "TR_cam", kind: "video", source: "camera" },
        { id: "TR_scr", kind: "video", source: "screen" },
      ]),
    ]);
    expect(container.querySelector(".hcw-call")?.getAttribute("data-layout")).toBe("screen");
    const stage = $("[data-testid=call-screen-share]");
    expect(stage?.id).toBe("remote-screen");
    expect(stage?.getAttribute("aria-label")).toBe("Screen shared by Dr Who");
    expect(stage?.closest("[data-layout=screen]")?.getAttribute("data-participant")).toBe("u-doc");
    // The sharer's camera is a tile beside it.
    expect(tiles().map((t) => t.dataset["participant"])).toEqual(["u-doc"]);
    expect($("#remote-video")?.closest("[data-testid=call-tile]")?.getAttribute("data-participant")).toBe("u-doc");
    expect(node.last.envelopes()).toContainEqual({ type: "subscription", data: { track_id: "TR_cam", paused: false, quality: "low" } });
    // The screen's media goes to the stage, the camera's to the tile.
    const sdp = subOfferSdp([
      { mid: "0", participant: "u-doc", track: "TR_cam" },
      { mid: "1", participant: "u-doc", track: "TR_scr" },
    ]);
    await act(() => node.last.message({ type: "offer", data: { target: "sub", sdp: { type: "offer", sdp } } }));
    await waitFor(() => expect(peers.sub.remoteDescription?.sdp).toBe(sdp));
    const cam = new FakeTrack("video", "x", "{c}");
    const scr = new FakeTrack("video", "x", "{s}");
    await act(() => {
      peers.sub.emitTrack(cam, "u-doc", "0");
      peers.sub.emitTrack(scr, "u-doc", "1");
    });
    const doc = client.participants.value.get("u-doc")!;
    expect(doc.screen?.getVideoTracks().map((t) => t.id)).toEqual(["{s}"]);
    expect(doc.stream?.getVideoTracks().map((t) => t.id)).toEqual(["{c}"]);

    // It ends: back to the person.
    await act(() => node.last.message({ type: "track_unpublished", data: { id: "TR_scr", participant: "u-doc" } }));
    expect($("[data-testid=call-screen-share]")).toBeNull();
    expect(container.querySelector(".hcw-call")?.getAttribute("data-layout")).toBe("solo");
    // Alone on the stage again: the full layer.
    expect(node.last.envelopes().filter((e) => e.type === "subscription").at(-1)).toEqual({
      type: "subscription",
      data: { track_id: "TR_cam", paused: false, quality: "high" },
    });
    client.leave();
  });

  it("shows the screen beside a gallery of the others too", async () => {
    const client = await inCall([
      withCamera("p-guest", "Gus Guest"),
      person("u-doc", "Dr Who", [
        { id: "TR_cam", kind: "video", source: "camera" },
        { id: "TR_scr", kind: "video", source: "screen" },
      ]),
      withCamera("p-int", "Ines"),
    ]);
    expect($("[data-testid=call-screen-share]")?.closest("[data-participant]")?.getAttribute("data-participant")).toBe("u-doc");
    expect(tiles()).toHaveLength(3);
    expect($("[data-testid=call-gallery]")?.classList.contains("hcw-call-gallery-strip")).toBe(true);
    client.leave();
  });

  it("offers screen sharing to whom the grant allows it, and shares and stops from the toolbar", async () => {
    const client = await inCall([withCamera("p-pat", "Pat")], fakeGrant(["camera", "microphone", "screen"]));
    const button = shareButton();
    expect(button?.id).toBe("call-screen");
    expect(button?.getAttribute("aria-pressed")).toBe("false");
    await act(async () => {
      button!.click();
      await new Promise((r) => setTimeout(r, 5));
    });
    await waitFor(() => expect(client.publishedTrackId("screen")).toBeDefined());
    expect(node.last.envelopes().filter((e) => e.type === "publish").at(-1)?.data).toMatchObject({ kind: "video", source: "screen" });
    expect($("#call-screen")?.textContent).toBe("Stop sharing your screen");
    expect($("#call-screen")?.getAttribute("aria-pressed")).toBe("true");
    expect($("#call-sharing")?.textContent).toContain("You are sharing your screen");
    const id = client.publishedTrackId("screen");
    // The browser's own "Stop sharing".
    await act(() => media.screens[0]!.end());
    await waitFor(() => expect(node.unpublished).toEqual([id]));
    expect($("#call-screen")?.textContent).toBe("Share your screen");
    expect($("#call-sharing")).toBeNull();
    client.leave();
  });

  it("does not offer screen sharing when the grant does not allow it, or on a phone", async () => {
    let client = await inCall([withCamera("u-doc", "Dr Who")], fakeGrant(["camera", "microphone"]));
    expect($("#call-screen")).toBeNull();
    expect(shareButton()).toBeUndefined();
    client.leave();
    render(null, container);
    const phone = new FakeMediaDevices();
    phone.getDisplayMedia = undefined;
    client = await inCall([withCamera("p-pat", "Pat")], fakeGrant(["camera", "microphone", "screen"]), phone);
    expect($("#call-screen")).toBeNull();
    client.leave();
  });
});
