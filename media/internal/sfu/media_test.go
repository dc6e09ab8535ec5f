package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/signal"
)

// vp8Body is where a synthetic packet's VP8 payload header starts: after
// the payload descriptor, which withPictureIDs extends.
func vp8Body(payload []byte) int {
	if len(payload) < 2 || payload[0]&0x80 == 0 {
		return 1
	}
	x, i := payload[1], 2
	if x&0x80 != 0 { // I, M
		if len(payload) > i && payload[i]&0x80 != 0 {
			i++
		}
		i++
	}
	if x&0x40 != 0 { // L
		i++
	}
	if x&0x30 != 0 { // T, K
		i++
	}
	return i
}

func isKey(p *rtp.Packet) bool {
	b := vp8Body(p.Payload)
	return len(p.Payload) >= b+2 && p.Payload[b]&0x01 == 0
}

func layerByte(p *rtp.Packet) int {
	b := vp8Body(p.Payload)
	if len(p.Payload) < b+2 {
		return -1
	}
	return int(p.Payload[b+1])
}

// pictureNumbers reads the 15-bit picture id, TL0PICIDX and KEYIDX of a
// packet from a publisher withPictureIDs.
func pictureNumbers(t *testing.T, p *rtp.Packet) (pic uint16, tl0, keyIdx uint8) {
	t.Helper()
	b := p.Payload
	require.True(t, len(b) >= 6 && b[0]&0x80 != 0 && b[1] == 0xf0 && b[2]&0x80 != 0, "packet %d has a full descriptor: % x", p.SequenceNumber, b)
	return uint16(b[2]&0x7f)<<8 | uint16(b[3]), b[4], b[5] & 0x1f
}

// TestSimulcastLayerSwitch: A sends three RIDs; B asks for low, then high.
// B's one stream moves to the other layer only at a key frame (which the
// node requested from A), with no gap in sequence numbers, and the VP8
// picture ids, TL0PICIDX and KEYIDX (each layer numbers its own, far
// apart) run on across every switch as if one encoder sent them all.
func TestSimulcastLayerSwitch(t *testing.T) {
	if testing.Short() {
		t.Skip("media test")
	}
	n := newTestNode(t, nil)
	a := newClient(t, n, "a", n.grant(t, "a", "room-1", allSources))
	b := newClient(t, n, "b", n.grant(t, "b", "room-1", allSources))
	a.join("room-1")
	b.join("room-1")

	video := a.addVP8("cam", true).withPictureIDs()
	defer video.close()
	info := a.publish("cam", "video", grant.SourceCamera,
		signal.Layer{RID: "q", Width: 320, Height: 180}, signal.Layer{RID: "h", Width: 640, Height: 360}, signal.Layer{RID: "f", Width: 1280, Height: 720})
	a.offerPub()
	a.waitFor(signal.TypeAnswer, nil)
	video.run()

	tr := b.nextTrack(10 * time.Second)
	require.Equal(t, info.ID, tr.ID())
	pkts := readPackets(tr)

	// next reads B's next packet and checks its numbers against the one
	// before: one picture per packet, so the picture id and TL0PICIDX
	// advance as the sequence number does (a packet the reader dropped
	// leaves the same gap in both), and KEYIDX only at a key frame.
	var prev *rtp.Packet
	switches := 0
	next := func(timeout time.Duration) *rtp.Packet {
		t.Helper()
		p := waitRTP(t, pkts, timeout, nil)
		pic, tl0, keyIdx := pictureNumbers(t, p)
		if prev != nil {
			gap := p.SequenceNumber - prev.SequenceNumber
			prevPic, prevTL0, prevKeyIdx := pictureNumbers(t, prev)
			require.Equal(t, (prevPic+gap)&0x7fff, pic, "picture id of packet %d (layer %d after %d)", p.SequenceNumber, layerByte(p), layerByte(prev))
			require.Equal(t, prevTL0+uint8(gap), tl0, "TL0PICIDX of packet %d", p.SequenceNumber)
			if gap == 1 {
				want := prevKeyIdx
				if isKey(p) {
					want = (want + 1) & 0x1f
				}
				require.Equal(t, want, keyIdx, "KEYIDX of packet %d", p.SequenceNumber)
			}
			if layerByte(p) != layerByte(prev) {
				switches++
			}
		}
		prev = p
		return p
	}
	next(5 * time.Second)

	b.send(signal.TypeSubscription, signal.Subscription{TrackID: info.ID, Quality: signal.QualityLow})
	for p := next(5 * time.Second); layerByte(p) != 0; p = next(5 * time.Second) {
	}
	// Settle on the low layer, then ask for high.
	var last *rtp.Packet
	for range 5 {
		last = next(5 * time.Second)
		require.Equal(t, 0, layerByte(last), "still the low layer")
	}
	plisBefore := video.plis[2].Load()
	b.send(signal.TypeSubscription, signal.Subscription{TrackID: info.ID, Quality: signal.QualityHigh})

	deadline := time.Now().Add(5 * time.Second)
	for {
		p := next(time.Until(deadline))
		require.Equal(t, last.SequenceNumber+1, p.SequenceNumber, "continuous sequence numbers")
		require.Greater(t, p.Timestamp, last.Timestamp-1, "timestamps move forward")
		require.Equal(t, last.SSRC, p.SSRC, "one outgoing stream")
		if layerByte(p) == 2 {
			require.True(t, isKey(p), "the switch happens at a key frame")
			break
		}
		require.Equal(t, 0, layerByte(p), "the low layer until the switch")
		last = p
	}
	require.Greater(t, video.plis[2].Load(), plisBefore, "the node asked the high layer for a key frame")
	// Some frames of the high layer, its numbering carried on.
	for range 10 {
		require.Equal(t, 2, layerByte(next(5*time.Second)))
	}
	require.GreaterOrEqual(t, switches, 1)
	t.Logf("%d layer switches checked", switches)

	// Paused: nothing arrives.
	b.send(signal.TypeSubscription, signal.Subscription{TrackID: info.ID, Paused: true})
	time.Sleep(200 * time.Millisecond)
	for len(pkts) > 0 {
		<-pkts
	}
	select {
	case p := <-pkts:
		t.Fatalf("packet %d while paused", p.SequenceNumber)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestScreenShare: A's grant allows the screen: A publishes a screen
// track beside its camera and C sees both announced with their sources and
// gets both tracks' media. B's grant does not: its publish of the screen is
// refused with source_not_allowed, and the screen B then sends anyway (its
// offer carries it beside its allowed camera) reaches nobody.
func TestScreenShare(t *testing.T) {
	if testing.Short() {
		t.Skip("media test")
	}
	n := newTestNode(t, nil)
	withScreen := append([]string{grant.SourceScreen}, allSources...)
	a := newClient(t, n, "a", n.grant(t, "a", "room-1", withScreen))
	b := newClient(t, n, "b", n.grant(t, "b", "room-1", allSources))
	c := newClient(t, n, "c", n.grant(t, "c", "room-1", allSources))
	a.join("room-1")
	b.join("room-1")
	c.join("room-1")

	aCam := a.addVP8("cam", false)
	defer aCam.close()
	aScreen := a.addVP8("screen", false)
	defer aScreen.close()
	camInfo := a.publish("cam", "video", grant.SourceCamera)
	screenInfo := a.publish("screen", "video", grant.SourceScreen)
	require.Equal(t, grant.SourceScreen, screenInfo.Source)
	a.offerPub()
	a.waitFor(signal.TypeAnswer, nil)
	aCam.run()
	aScreen.run()

	// B: the screen is refused, the camera is not.
	b.send(signal.TypePublish, signal.Publish{CID: "screen", Kind: "video", Source: grant.SourceScreen})
	e := b.waitFor(signal.TypeError, nil)
	require.Equal(t, signal.ErrSourceNotAllowed, dataAs[signal.Error](t, e).Code)
	bCam := b.addVP8("cam", false)
	defer bCam.close()
	// B's screen is told apart from every other track by its payload
	// descriptor (the others send none).
	bScreen := b.addVP8("screen", false).withPictureIDs()
	defer bScreen.close()
	bCamInfo := b.publish("cam", "video", grant.SourceCamera)
	b.offerPub()
	b.waitFor(signal.TypeAnswer, nil)
	bCam.run()
	bScreen.run()

	published := func(id string) signal.TrackInfo {
		return dataAs[signal.TrackInfo](t, c.waitFor(signal.TypeTrackPublished, func(e signal.Envelope) bool {
			return dataAs[signal.TrackInfo](t, e).ID == id
		}))
	}
	got := published(screenInfo.ID)
	require.Equal(t, signal.TrackInfo{ID: screenInfo.ID, Participant: "a", Kind: "video", Source: grant.SourceScreen}, got)
	require.Equal(t, grant.SourceCamera, published(camInfo.ID).Source)
	require.Equal(t, grant.SourceCamera, published(bCamInfo.ID).Source)

	// C gets media on all three tracks: A's screen and camera, B's camera.
	tracks := map[string]*webrtc.TrackRemote{}
	for len(tracks) < 3 {
		tr := c.nextTrack(10 * time.Second)
		tracks[tr.ID()] = tr
	}
	plain := func(p *rtp.Packet) bool { return len(p.Payload) == 5 && p.Payload[3] == 0xAA }
	pkts := map[string]<-chan *rtp.Packet{}
	for _, id := range []string{screenInfo.ID, camInfo.ID, bCamInfo.ID} {
		tr := tracks[id]
		require.NotNil(t, tr, "track %s", id)
		require.Equal(t, webrtc.MimeTypeVP8, tr.Codec().MimeType)
		pkts[id] = readPackets(tr)
		waitRTP(t, pkts[id], 5*time.Second, plain)
	}
	require.Equal(t, "a", tracks[screenInfo.ID].StreamID())

	// B's screen has been on the wire all along (its camera's media, on
	// the same connection, reached C): still no announcement, no track,
	// and none of its packets in another track.
	require.Eventually(t, func() bool { return bScreen.sent[0].Load() >= 50 }, 5*time.Second, 10*time.Millisecond)
	check := func(what string, p *rtp.Packet, ok bool) {
		t.Helper()
		require.True(t, ok, "%s ended", what)
		require.True(t, plain(p), "%s carries B's screen: % x", what, p.Payload)
	}
	bCamPackets := 0
	quiet := time.After(time.Second)
watch:
	for {
		select {
		case tr := <-c.tracks:
			t.Fatalf("unexpected track %s (stream %s)", tr.ID(), tr.StreamID())
		case p, ok := <-pkts[screenInfo.ID]:
			check("A's screen", p, ok)
		case p, ok := <-pkts[camInfo.ID]:
			check("A's camera", p, ok)
		case p, ok := <-pkts[bCamInfo.ID]:
			check("B's camera", p, ok)
			bCamPackets++
		case <-quiet:
			break watch
		}
	}
	require.Positive(t, bCamPackets, "B's camera still flows")
	require.False(t, c.has(signal.TypeTrackPublished, func(e signal.Envelope) bool {
		info := dataAs[signal.TrackInfo](t, e)
		return info.Participant == "b" && info.Source == grant.SourceScreen
	}))
	require.Equal(t, 3, n.sfu.Load().Tracks)
}

// TestLateJoinerKeyframe: B joins long after A's only spontaneous key
// frame; the node asks A for one as B's down-track binds, so B decodes
// within a second or so.
func TestLateJoinerKeyframe(t *testing.T) {
	if testing.Short() {
		t.Skip("media test")
	}
	n := newTestNode(t, nil)
	a := newClient(t, n, "a", n.grant(t, "a", "room-1", allSources))
	a.join("room-1")
	video := a.addVP8("cam", false)
	defer video.close()
	info := a.publish("cam", "video", grant.SourceCamera)
	a.offerPub()
	a.waitFor(signal.TypeAnswer, nil)
	video.run()
	require.Eventually(t, func() bool { return n.sfu.Load().Tracks == 1 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(1500 * time.Millisecond) // past the PLI throttle window

	plisBefore := video.plis[0].Load()
	b := newClient(t, n, "b", n.grant(t, "b", "room-1", allSources))
	joinedAt := time.Now()
	joined := b.join("room-1")
	require.Len(t, joined.Participants, 1)
	require.Len(t, joined.Participants[0].Tracks, 1)
	require.Equal(t, info.ID, joined.Participants[0].Tracks[0].ID)

	tr := b.nextTrack(10 * time.Second)
	first := waitRTP(t, readPackets(tr), 5*time.Second, nil)
	require.True(t, isKey(first), "the first packet B gets starts a key frame")
	require.Greater(t, video.plis[0].Load(), plisBefore)
	t.Logf("late joiner's first key frame %v after join", time.Since(joinedAt))
	require.Less(t, time.Since(joinedAt), 5*time.Second)
}

// TestCloseLeavesNoGoroutines: with media flowing, Close (and the clients
// going away) leaves no goroutine behind.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	if testing.Short() {
		t.Skip("media test")
	}
	report := test.CheckRoutines(t)
	defer report()

	n := newTestNode(t, nil)
	a := newClient(t, n, "a", n.grant(t, "a", "room-1", allSources))
	b := newClient(t, n, "b", n.grant(t, "b", "room-1", allSources))
	a.join("room-1")
	b.join("room-1")
	audio := a.addOpus("mic")
	video := a.addVP8("cam", false)
	a.publish("mic", "audio", grant.SourceMicrophone)
	a.publish("cam", "video", grant.SourceCamera)
	a.offerPub()
	a.waitFor(signal.TypeAnswer, nil)
	video.run()
	tr := b.nextTrack(10 * time.Second)
	waitRTP(t, readPackets(tr), 5*time.Second, nil)

	n.sfu.Close()
	require.Equal(t, signal.ReasonNodeShutdown, dataAs[signal.Leave](t, a.waitFor(signal.TypeLeave, nil)).Reason)
	audio.close()
	video.close()
	a.close()
	b.close()
	audio.done.Wait()
	video.done.Wait()
	n.close()
}
