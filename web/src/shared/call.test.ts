import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "./api";
import { CallClient, CallError, SCREEN_MAX_BITRATE, candidateInit, grantSources, joinSources, msidByMid, qualityOf, simulcastLayers, type CallOptions } from "./call";
import { FakeMediaDevices, FakeNode, FakeTrack, PeerFactory, fakeGrant, fakeStream, joinInfo, subOfferSdp, type Env } from "./call-fakes";

async function waitFor(check: () => void, timeoutMs = 1000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 2));
    }
  }
}

function sent(node: FakeNode, i = node.sockets.length - 1): Env[] {
  return node.sockets[i]!.envelopes();
}

interface Setup {
  client: CallClient;
  node: FakeNode;
  peers: PeerFactory;
  media: FakeMediaDevices;
}

function setup(opts: Partial<CallOptions> = {}, node = new FakeNode(), join = joinInfo()): Setup {
  const peers = new PeerFactory();
  const media = new FakeMediaDevices();
  const client = new CallClient(join, {
    createSocket: node.create,
    createPeerConnection: peers.create,
    mediaDevices: media,
    environment: null,
    statsIntervalMs: 0,
    backoffInitialMs: 1,
    backoffMaxMs: 5,
    requestTimeoutMs: 500,
    ...opts,
  });
  return { client, node, peers, media };
}

let clients: CallClient[] = [];
afterEach(() => {
  for (const c of clients) c.leave();
  clients = [];
});

async function started(s: Setup): Promise<Setup> {
  clients.push(s.client);
  await s.client.start();
  await waitFor(() => expect(s.peers.pub.remoteDescription?.sdp).toBe("node-answer"));
  return s;
}

describe("CallClient", () => {
  it("opens the socket with the grant as a subprotocol and joins", async () => {
    const s = await started(setup());
    const sock = s.node.sockets[0]!;
    expect(sock.url).toBe("wss://media.example/n/media-1/signal");
    expect(sock.protocols).toEqual(["hcw.signal.v1", "hcw.grant.g.r.ant"]);
    expect(sock.url).not.toContain("g.r.ant");
    expect(sent(s.node)[0]).toMatchObject({ type: "join", data: { room: "c1" } });
    expect((sent(s.node)[0]!.data as Record<string, unknown>)["resume"]).toBeUndefined();
    expect(s.client.state.value).toBe("connected");
    expect(s.client.self.value?.id).toBe("p-me");
    expect([...s.client.participants.value.keys()]).toEqual(["u-doc"]);
    // TURN servers from the join answer.
    expect(s.peers.pub.config.iceServers?.[0]).toEqual({
      urls: ["turn:turn.example:3478?transport=udp"],
      username: "123:p-me",
      credential: "secret",
    });
  });

  it("announces every track with publish before offering pub, with three simulcast layers", async () => {
    const s = await started(setup());
    const types = sent(s.node).map((e) => e.type);
    expect(types.slice(0, 4)).toEqual(["join", "publish", "publish", "offer"]);
    const [, mic, cam, offer] = sent(s.node);
    const audio = s.peers.pub.transceivers[0]!;
    const video = s.peers.pub.transceivers[1]!;
    expect(mic!.data).toEqual({ cid: audio.track.id, kind: "audio", source: "microphone" });
    expect(cam!.data).toMatchObject({ cid: video.track.id, kind: "video", source: "camera" });
    expect((cam!.data as { layers: Array<{ rid: string }> }).layers.map((l) => l.rid)).toEqual(["q", "h", "f"]);
    expect(video.init?.sendEncodings?.map((e) => e.rid)).toEqual(["q", "h", "f"]);
    expect(video.init?.direction).toBe("sendonly");
    expect(offer!.data).toEqual({ target: "pub", sdp: { type: "offer", sdp: expect.stringContaining("offer-") } });
    expect(s.client.publishedTrackId("microphone")).toBe("TR_1");
    expect(s.client.publishedTrackId("camera")).toBe("TR_2");
  });

  it("falls back to one encoding when the browser refuses simulcast", async () => {
    const peers = new PeerFactory();
    peers.refuseSimulcast = true;
    const s = setup({ createPeerConnection: peers.create });
    await started({ ...s, peers });
    const cam = sent(s.node).find((e) => e.type === "publish" && (e.data as { kind: string }).kind === "video");
    expect((cam!.data as Record<string, unknown>)["layers"]).toBeUndefined();
    expect(peers.pub.transceivers[1]!.init?.sendEncodings).toBeUndefined();
  });

  it("publishes the microphone only in an audio call", async () => {
    const s = await started(setup({}, new FakeNode(), joinInfo({ kind: "audio" })));
    const pubs = sent(s.node).filter((e) => e.type === "publish");
    expect(pubs.map((e) => (e.data as { source: string }).source)).toEqual(["microphone"]);
    expect(s.media.requests[0]).toMatchObject({ video: false });
  });

  it("joins with the microphone alone when the camera is refused", async () => {
    const s = setup();
    s.media.refuseVideo = true;
    await started(s);
    expect(s.client.mediaError.value).toBe("camera_refused");
    expect(sent(s.node).filter((e) => e.type === "publish")).toHaveLength(1);
    expect(s.client.cameraOff.value).toBe(true);
  });

  it("answers the node's sub offer and its renegotiations", async () => {
    const s = await started(setup());
    s.node.last.message({ type: "offer", data: { target: "sub", sdp: { type: "offer", sdp: "sub-offer-1" } } });
    await waitFor(() => expect(sent(s.node).filter((e) => e.type === "answer")).toHaveLength(1));
    expect(s.peers.sub.remoteDescription).toEqual({ type: "offer", sdp: "sub-offer-1" });
    expect(sent(s.node).find((e) => e.type === "answer")!.data).toEqual({
      target: "sub",
      sdp: { type: "answer", sdp: expect.stringContaining("answer-") },
    });
    s.node.last.message({ type: "offer", data: { target: "sub", sdp: { type: "offer", sdp: "sub-offer-2" } } });
    await waitFor(() => expect(sent(s.node).filter((e) => e.type === "answer")).toHaveLength(2));
    expect(s.peers.sub.remoteDescription?.sdp).toBe("sub-offer-2");
  });

  it("queues remote candidates until the remote description, and trickles its own", async () => {
    const s = await started(setup());
    const cand = { candidate: "candidate:1 1 udp 1 10.0.0.1 7882 typ host", sdpMid: "0", sdpMLineIndex: 0 };
    s.node.last.message({ type: "trickle", data: { target: "sub", candidate: cand } });
    s.node.last.message({ type: "trickle", data: { target: "sub", candidate: null } });
    await new Promise((r) => setTimeout(r, 5));
    expect(s.client.queuedCandidates.sub).toBe(1);
    expect(s.peers.sub.candidates).toHaveLength(0);
    s.node.last.message({ type: "offer", data: { target: "sub", sdp: { type: "offer", sdp: "o" } } });
    await waitFor(() => expect(s.peers.sub.candidates).toEqual([cand]));
    expect(s.peers.sub.log.slice(0, 2)).toEqual(["remote:offer", "candidate"]);
    expect(s.client.queuedCandidates.sub).toBe(0);
    // Pub already has its answer: a candidate goes straight in.
    s.node.last.message({ type: "trickle", data: { target: "pub", candidate: cand } });
    await waitFor(() => expect(s.peers.pub.candidates).toHaveLength(1));

    s.peers.pub.emitCandidate("candidate:2 1 udp 2 192.0.2.1 5000 typ srflx");
    const trickle = sent(s.node).filter((e) => e.type === "trickle");
    expect(trickle.at(-1)).toEqual({
      type: "trickle",
      data: { target: "pub", candidate: { candidate: "candidate:2 1 udp 2 192.0.2.1 5000 typ srflx", sdpMid: "0", sdpMLineIndex: 0, usernameFragment: "u" } },
    });
  });

  it("shows reconnecting when ICE drops and restarts ICE on pub", async () => {
    const s = await started(setup({ iceRestartAfterMs: 5 }));
    s.peers.pub.setIce("connected");
    s.peers.pub.setIce("disconnected");
    expect(s.client.state.value).toBe("reconnecting");
    await waitFor(() => expect(s.peers.pub.offers.at(-1)).toEqual({ iceRestart: true }));
    await waitFor(() => expect(sent(s.node).filter((e) => e.type === "offer")).toHaveLength(2));
    s.peers.pub.setIce("connected");
    expect(s.client.state.value).toBe("connected");
  });

  it("resumes after the socket drops, republishing on fresh peer connections", async () => {
    const s = await started(setup());
    const firstPub = s.peers.pub;
    s.node.last.serverClose(1006);
    expect(s.client.state.value).toBe("reconnecting");
    await waitFor(() => expect(s.node.sockets).toHaveLength(2));
    await waitFor(() => expect(s.peers.pub.remoteDescription?.sdp).toBe("node-answer"));
    expect(firstPub.closed).toBe(true);
    expect(s.peers.pub).not.toBe(firstPub);
    const again = sent(s.node, 1);
    expect(again[0]).toEqual({ type: "join", id: expect.any(String), data: { room: "c1", resume: true } });
    expect(again.map((e) => e.type).slice(1, 4)).toEqual(["publish", "publish", "offer"]);
    expect(s.client.state.value).toBe("connected");
    expect(s.client.publishedTrackId("camera")).toBe("TR_2");
  });

  it("asks the backend for a fresh join answer when the grant expired", async () => {
    let now = Date.now();
    const refreshJoin = vi.fn(async () =>
      joinInfo({ signal_url: "wss://media.example/n/media-1/signal?2", grant: "fresh", grant_expires_at: new Date(now + 300_000).toISOString() }),
    );
    const s = await started(setup({ refreshJoin, now: () => now }));
    now += 10 * 60_000; // past the grant's expiry
    s.node.last.serverClose(1006);
    await waitFor(() => expect(s.node.sockets).toHaveLength(2));
    expect(refreshJoin).toHaveBeenCalledTimes(1);
    expect(s.node.last.protocols).toEqual(["hcw.signal.v1", "hcw.grant.fresh"]);
    await waitFor(() => expect(s.client.state.value).toBe("connected"));
    // Same node, dropped a moment ago: the place is kept.
    expect(sent(s.node, 1)[0]!.data).toEqual({ room: "c1", resume: true });
  });

  it("ends the call when the backend says there is no call any more", async () => {
    let now = Date.now();
    const refreshJoin = vi.fn(async () => {
      throw new ApiError("gone", "/api/v1/consultations/c1/call/join", 409, { code: "no_active_call" });
    });
    const s = await started(setup({ refreshJoin, now: () => now }));
    now += 10 * 60_000;
    s.node.last.serverClose(1006);
    await waitFor(() => expect(s.client.ended.value).toBe("room_ended"));
  });

  it("surfaces the node's error codes", async () => {
    const node = new FakeNode();
    node.joinError = { code: "room_full", message: "the node is full" };
    const s = setup({}, node);
    clients.push(s.client);
    await expect(s.client.start()).rejects.toMatchObject({ code: "room_full" });
    expect(s.client.error.value).toBeInstanceOf(CallError);
    expect(s.client.error.value?.code).toBe("room_full");
    expect(s.client.ended.value).toBe("error");
    expect(s.client.localStream.value).toBeNull();

    const t = await started(setup());
    t.node.last.message({ type: "error", data: { code: "source_not_allowed", message: "no screen" } });
    expect(t.client.error.value?.code).toBe("source_not_allowed");
    expect(t.client.ended.value).toBeNull();
    t.node.last.message({ type: "leave", data: { reason: "removed" } });
    expect(t.client.ended.value).toBe("removed");
  });

  it("mutes: track.enabled and the node's mute message", async () => {
    const s = await started(setup());
    s.client.setMicMuted(true);
    const mic = s.peers.pub.transceivers[0]!.track;
    expect(mic.enabled).toBe(false);
    expect(sent(s.node).at(-1)).toEqual({ type: "mute", data: { track_id: "TR_1", muted: true } });
    s.client.setMicMuted(false);
    expect(mic.enabled).toBe(true);
    await s.client.setCameraOff(true);
    const cam = s.peers.pub.transceivers[1]!;
    expect(cam.track.readyState).toBe("ended"); // the camera's light goes out
    expect(cam.replaced).toEqual([null]);
    expect(sent(s.node).at(-1)).toEqual({ type: "mute", data: { track_id: "TR_2", muted: true } });
    await s.client.setCameraOff(false);
    expect(cam.replaced.at(-1)).toBeInstanceOf(FakeTrack);
    expect(sent(s.node).at(-1)).toEqual({ type: "mute", data: { track_id: "TR_2", muted: false } });
  });

  it("switches camera with replaceTrack, without renegotiating", async () => {
    const s = await started(setup());
    const offers = sent(s.node).filter((e) => e.type === "offer").length;
    await s.client.switchCamera();
    const cam = s.peers.pub.transceivers[1]!;
    expect((cam.replaced.at(-1) as FakeTrack).deviceId).toBe("video-dev-2");
    expect(cam.track.readyState).toBe("ended");
    expect(s.client.cameraId.value).toBe("video-dev-2");
    expect(sent(s.node).filter((e) => e.type === "offer")).toHaveLength(offers);
    await s.client.selectDevice("audiooutput", "out-1");
    expect(s.client.speakerId.value).toBe("out-1");
  });

  it("follows participants, tracks, speakers and quality", async () => {
    const s = await started(setup());
    const sock = s.node.last;
    sock.message({ type: "track_published", data: { id: "TR_9", participant: "u-doc", kind: "video", source: "camera", muted: false } });
    expect(s.client.participants.value.get("u-doc")?.hasVideo).toBe(true);
    sock.message({ type: "participant_updated", data: { id: "u-doc", name: "Dr Who", role: "doctor", state: "reconnecting", tracks: [] } });
    expect(s.client.participants.value.get("u-doc")?.state).toBe("reconnecting");
    sock.message({ type: "speakers", data: { speakers: [{ participant: "u-doc", level: 0.6 }] } });
    expect(s.client.activeSpeaker.value).toBe("u-doc");
    sock.message({ type: "quality", data: { participant: "p-me", quality: "poor", loss: 0.1, rtt_ms: 300 } });
    expect(s.client.quality.value).toBe("poor");
    sock.message({ type: "participant_left", data: { id: "u-doc", reason: "client_left" } });
    expect(s.client.participants.value.size).toBe(0);
    expect(s.client.activeSpeaker.value).toBeNull();
  });

  it("pauses and caps video subscriptions", async () => {
    const s = await started(setup());
    s.client.setSubscription("TR_9", { quality: "low", paused: true });
    expect(sent(s.node).at(-1)).toEqual({ type: "subscription", data: { track_id: "TR_9", paused: true, quality: "low" } });
  });

  it("reports inbound stats per track", async () => {
    const s = await started(setup());
    s.node.last.message({ type: "track_published", data: { id: "TR_9", participant: "u-doc", kind: "video", source: "camera", muted: false } });
    s.peers.sub.stats = [
      { id: "in1", type: "inbound-rtp", kind: "video", trackIdentifier: "TR_9", framesDecoded: 42, packetsReceived: 900, packetsLost: 3, bytesReceived: 1e6 },
      { id: "in2", type: "inbound-rtp", kind: "audio", trackIdentifier: "x", packetsReceived: 50, packetsLost: 0, bytesReceived: 4000 },
    ];
    const st = await s.client.stats();
    expect(st.inbound[0]).toMatchObject({ trackId: "TR_9", participant: "u-doc", kind: "video", framesDecoded: 42, packetsReceived: 900 });
    expect(st.inbound[1]).toMatchObject({ kind: "audio", packetsReceived: 50 });
  });

  it("forces relay through the turns: servers when asked", async () => {
    const join = joinInfo({
      ice_servers: [
        { urls: ["turn:turn.example:3478?transport=udp", "turns:turn.example:443?transport=tcp"], username: "u", credential: "c" },
        { urls: ["stun:stun.example:3478"] },
      ],
    });
    const relay = await started(setup({ iceTransportPolicy: "relay" }, new FakeNode(), join));
    expect(relay.peers.pub.config.iceTransportPolicy).toBe("relay");
    expect(relay.peers.pub.config.iceServers).toEqual([{ urls: ["turns:turn.example:443?transport=tcp"], username: "u", credential: "c" }]);
    const all = await started(setup({ iceTransportPolicy: "all" }, new FakeNode(), join));
    expect(all.peers.pub.config.iceTransportPolicy).toBeUndefined();
    expect(all.peers.pub.config.iceServers).toHaveLength(2);
  });

  it("states its subscription for every remote video at join (the node may hold an older session's pause)", async () => {
    const node = new FakeNode({
      others: [{ id: "u-doc", name: "Dr Who", role: "doctor", state: "active", tracks: [{ id: "TR_cam", participant: "u-doc", kind: "video", source: "camera", muted: false }] }],
    });
    const s = await started(setup({}, node));
    expect(sent(s.node)).toContainEqual({ type: "subscription", data: { track_id: "TR_cam", paused: false, quality: "high" } });
  });

  it("reports the candidate pair in use", async () => {
    const s = await started(setup());
    s.peers.sub.stats = [
      { id: "T", type: "transport", selectedCandidatePairId: "P" },
      { id: "P", type: "candidate-pair", localCandidateId: "L", remoteCandidateId: "R", state: "succeeded" },
      { id: "L", type: "local-candidate", candidateType: "relay", protocol: "udp", relayProtocol: "tls" },
      { id: "R", type: "remote-candidate", candidateType: "host" },
    ];
    const st = await s.client.stats();
    expect(st.transport?.sub).toEqual({ localType: "relay", remoteType: "host", protocol: "udp", relayProtocol: "tls" });
  });

  it("leaves: tells the node and releases the devices", async () => {
    const s = await started(setup());
    const sock = s.node.last;
    const tracks = s.peers.pub.transceivers.map((t) => t.track);
    s.client.leave();
    expect(sock.envelopes().at(-1)).toEqual({ type: "leave", data: { reason: "client_left" } });
    expect(s.client.ended.value).toBe("left");
    expect(tracks.every((t) => t.readyState === "ended")).toBe(true);
    expect(s.peers.pub.closed && s.peers.sub.closed).toBe(true);
  });

  it("takes the pre-call check's stream instead of asking again", async () => {
    const s = setup();
    clients.push(s.client);
    await s.client.start(fakeStream([new FakeTrack("audio"), new FakeTrack("video")]));
    await waitFor(() => expect(sent(s.node).filter((e) => e.type === "offer")).toHaveLength(1));
    expect(s.media.requests).toHaveLength(0);
  });
});

const DOCTOR_GRANT = fakeGrant(["camera", "microphone", "screen"]);

/** A doctor's call: the grant allows the screen. */
function doctorSetup(opts: Partial<CallOptions> = {}, node = new FakeNode()): Setup {
  return setup(opts, node, joinInfo({ grant: DOCTOR_GRANT }));
}

describe("screen sharing", () => {
  it("is offered only when the grant allows the screen, in a video call, where the browser can capture it", async () => {
    const patient = await started(setup({}, new FakeNode(), joinInfo({ grant: fakeGrant(["camera", "microphone"]) })));
    expect(patient.client.canShareScreen.value).toBe(false);
    expect(await patient.client.startScreenShare()).toBe(false);
    expect(patient.media.screenRequests).toHaveLength(0);
    expect(sent(patient.node).filter((e) => e.type === "publish")).toHaveLength(2);

    // An unreadable grant allows nothing extra.
    expect((await started(setup())).client.canShareScreen.value).toBe(false);
    // An audio call's grant: the microphone only, whatever its sources say.
    const audio = setup({}, new FakeNode(), joinInfo({ kind: "audio", grant: fakeGrant(["camera", "microphone", "screen"], { audio_only: true }) }));
    expect(audio.client.canShareScreen.value).toBe(false);
    // A phone: no getDisplayMedia.
    const phone = doctorSetup();
    phone.media.getDisplayMedia = undefined;
    expect(phone.client.canShareScreen.value).toBe(false);

    expect(doctorSetup().client.canShareScreen.value).toBe(true);
  });

  it("publishes the screen as its own track (source screen, one encoding, contentHint detail) and unpublishes it on stop", async () => {
    const s = await started(doctorSetup());
    const offers = () => sent(s.node).filter((e) => e.type === "offer").length;
    const before = offers();
    expect(await s.client.startScreenShare()).toBe(true);
    expect(s.client.screenSharing.value).toBe(true);
    const screen = s.media.screens[0]!;
    expect(screen.contentHint).toBe("detail");
    expect(s.media.screenRequests[0]).toMatchObject({ audio: false });
    const pub = sent(s.node).filter((e) => e.type === "publish").at(-1)!;
    expect(pub.data).toEqual({ cid: screen.id, kind: "video", source: "screen" }); // no layers: no simulcast
    const tr = s.peers.pub.transceivers.at(-1)!;
    expect(tr.track).toBe(screen);
    expect(tr.init?.direction).toBe("sendonly");
    expect(tr.init?.sendEncodings).toEqual([{ maxBitrate: SCREEN_MAX_BITRATE }]);
    expect(offers()).toBe(before + 1);
    // The publish came before the offer that carries it.
    const types = sent(s.node).map((e) => e.type);
    expect(types.lastIndexOf("publish")).toBeLessThan(types.lastIndexOf("offer"));
    const id = s.client.publishedTrackId("screen");
    expect(id).toBe("TR_3");
    // The self view stays the camera.
    expect(s.client.localStream.value?.getTracks().some((t) => t.id === screen.id) ?? false).toBe(false);

    await s.client.stopScreenShare();
    expect(s.node.unpublished).toEqual([id]);
    expect(sent(s.node)).toContainEqual({ type: "unpublish", data: { track_id: id } });
    expect(screen.readyState).toBe("ended");
    expect(tr.replaced).toEqual([null]);
    expect(tr.direction).toBe("inactive");
    await waitFor(() => expect(offers()).toBe(before + 2));
    expect(s.client.screenSharing.value).toBe(false);
    expect(s.client.publishedTrackId("screen")).toBeUndefined();

    // And again: a fresh track on a fresh transceiver.
    expect(await s.client.startScreenShare()).toBe(true);
    expect(s.peers.pub.transceivers.at(-1)!.track).toBe(s.media.screens[1]);
  });

  it("unpublishes when the browser's own Stop sharing ends the track", async () => {
    const s = await started(doctorSetup());
    await s.client.startScreenShare();
    const id = s.client.publishedTrackId("screen")!;
    s.media.screens[0]!.end();
    await waitFor(() => expect(s.node.unpublished).toEqual([id]));
    expect(s.client.screenSharing.value).toBe(false);
    expect(s.peers.pub.transceivers.at(-1)!.direction).toBe("inactive");
  });

  it("says nothing when the picker is cancelled, and why otherwise", async () => {
    const s = await started(doctorSetup());
    s.media.screenPicker = "cancel";
    expect(await s.client.startScreenShare()).toBe(false);
    expect(s.client.screenError.value).toBeNull();
    s.media.screenPicker = "fail";
    expect(await s.client.startScreenShare()).toBe(false);
    expect(s.client.screenError.value).toBe("screen_failed");
    expect(sent(s.node).filter((e) => e.type === "publish")).toHaveLength(2);
    expect(s.client.screenSharing.value).toBe(false);
  });

  it("stops the capture when the node refuses the screen", async () => {
    const s = await started(doctorSetup({}, new FakeNode({ refuseSources: ["screen"] })));
    expect(await s.client.startScreenShare()).toBe(false);
    expect(s.client.screenError.value).toBe("screen_refused");
    expect(s.media.screens[0]!.readyState).toBe("ended");
    expect(s.client.screenSharing.value).toBe(false);
    expect(s.client.ended.value).toBeNull();
  });

  it("republishes the screen after a resume, and unpublishes one stopped while disconnected", async () => {
    const s = await started(doctorSetup());
    await s.client.startScreenShare();
    s.node.last.serverClose(1006);
    await waitFor(() => expect(s.node.sockets).toHaveLength(2));
    await waitFor(() => expect(s.peers.pub.remoteDescription?.sdp).toBe("node-answer"));
    const again = sent(s.node, 1).filter((e) => e.type === "publish").map((e) => (e.data as { source: string }).source);
    expect(again).toEqual(["microphone", "camera", "screen"]);
    expect(s.peers.pub.transceivers.map((t) => t.track)).toContain(s.media.screens[0]);

    const id = s.client.publishedTrackId("screen")!;
    s.node.last.serverClose(1006);
    await s.client.stopScreenShare();
    await waitFor(() => expect(s.node.sockets).toHaveLength(3));
    await waitFor(() => expect(sent(s.node, 2)).toContainEqual({ type: "unpublish", data: { track_id: id } }));
    expect(sent(s.node, 2).filter((e) => e.type === "publish")).toHaveLength(2);
  });

  it("releases the screen when the call ends", async () => {
    const s = await started(doctorSetup());
    await s.client.startScreenShare();
    s.client.leave();
    expect(s.media.screens[0]!.readyState).toBe("ended");
    expect(s.client.screenSharing.value).toBe(false);
  });
});

describe("remote screen shares", () => {
  it("keeps a participant's screen apart from their camera, by the sub offer's msid", async () => {
    const s = await started(setup());
    const sock = s.node.last;
    for (const t of [
      { id: "TR_a", kind: "audio", source: "microphone" },
      { id: "TR_c", kind: "video", source: "camera" },
      { id: "TR_s", kind: "video", source: "screen" },
    ]) {
      sock.message({ type: "track_published", data: { ...t, participant: "u-doc", muted: false } });
    }
    const doc = () => s.client.participants.value.get("u-doc")!;
    expect(doc().hasScreen).toBe(true);
    expect(doc().hasVideo).toBe(true);
    const sdp = subOfferSdp([
      { mid: "0", participant: "u-doc", track: "TR_a", kind: "audio" },
      { mid: "1", participant: "u-doc", track: "TR_c" },
      { mid: "2", participant: "u-doc", track: "TR_s" },
    ]);
    // Browser-named tracks (as Firefox does): only the mid ties them to the node's ids.
    const mic = new FakeTrack("audio", "x", "{mic}");
    const cam = new FakeTrack("video", "x", "{cam}");
    const scr = new FakeTrack("video", "x", "{scr}");
    sock.message({ type: "offer", data: { target: "sub", sdp: { type: "offer", sdp } } });
    await waitFor(() => expect(s.peers.sub.remoteDescription?.sdp).toBe(sdp));
    s.peers.sub.emitTrack(mic, "u-doc", "0");
    s.peers.sub.emitTrack(scr, "u-doc", "2");
    s.peers.sub.emitTrack(cam, "u-doc", "1");
    expect(doc().stream?.getTracks().map((t) => t.id)).toEqual(["{mic}", "{cam}"]);
    expect(doc().screen?.getTracks().map((t) => t.id)).toEqual(["{scr}"]);
    // The same tracks, the same stream (a new srcObject would restart the video).
    const stream = doc().stream;
    sock.message({ type: "quality", data: { participant: "u-doc", quality: "good", loss: 0, rtt_ms: 10 } });
    sock.message({ type: "participant_updated", data: { id: "u-doc", name: "Dr Who", role: "doctor", state: "active", tracks: doc().tracks } });
    expect(doc().stream).toBe(stream);
    // Stats name the node's track and its sender.
    s.peers.sub.stats = [{ id: "in", type: "inbound-rtp", kind: "video", trackIdentifier: "{scr}", framesDecoded: 5, packetsReceived: 9, packetsLost: 0, bytesReceived: 1 }];
    expect((await s.client.stats()).inbound[0]).toMatchObject({ trackId: "TR_s", participant: "u-doc" });

    sock.message({ type: "track_unpublished", data: { id: "TR_s", participant: "u-doc" } });
    expect(doc().hasScreen).toBe(false);
    expect(doc().screen).toBeNull();
    expect(doc().stream).toBe(stream);
  });
});

describe("helpers", () => {
  it("takes the sources from the join answer before the grant", () => {
    const grant = fakeGrant(["camera", "microphone", "screen"]);
    expect(joinSources(joinInfo({ grant, sources: ["camera", "microphone"] }))).toEqual(["camera", "microphone"]);
    expect(joinSources(joinInfo({ grant, sources: ["camera", "hologram"] }))).toEqual(["camera"]);
    expect(joinSources(joinInfo({ grant }))).toEqual(["camera", "microphone", "screen"]);
  });

  it("reads the grant's sources", () => {
    expect(grantSources(fakeGrant(["camera", "microphone", "screen"]))).toEqual(["camera", "microphone", "screen"]);
    expect(grantSources(fakeGrant(["camera", "microphone", "screen"], { audio_only: true }))).toEqual(["microphone"]);
    expect(grantSources(fakeGrant(["camera", "bogus"]))).toEqual(["camera"]);
    expect(grantSources("g.r.ant")).toBeNull();
    expect(grantSources("nodots")).toBeNull();
    // Names in any script, and base64url's - and _.
    expect(grantSources(fakeGrant(["screen"], { name: "Zoë ملاك ???>>>" }))).toEqual(["screen"]);
  });
  it("maps an SDP's mids to the msid track ids", () => {
    const sdp = subOfferSdp([
      { mid: "0", participant: "u-a", track: "TR_1", kind: "audio" },
      { mid: "1", participant: "u-a", track: "TR_2" },
    ]);
    expect([...msidByMid(sdp)]).toEqual([
      ["0", "TR_1"],
      ["1", "TR_2"],
    ]);
    expect(msidByMid("").size).toBe(0);
  });
  it("keeps only the contract's fields of a candidate", () => {
    expect(candidateInit({ candidate: "c", sdpMid: "0", sdpMLineIndex: 0, usernameFragment: null })).toEqual({
      candidate: "c",
      sdpMid: "0",
      sdpMLineIndex: 0,
    });
  });
  it("computes layers and qualities", () => {
    expect(simulcastLayers(1280, 720).map((l) => [l.rid, l.width, l.height])).toEqual([
      ["q", 320, 180],
      ["h", 640, 360],
      ["f", 1280, 720],
    ]);
    expect(qualityOf(0, 50)).toBe("excellent");
    expect(qualityOf(0.03, 50)).toBe("good");
    expect(qualityOf(0.1, 50)).toBe("poor");
    expect(qualityOf(0.6, 50)).toBe("lost");
  });
});
