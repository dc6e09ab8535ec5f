package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/transport/v5/test"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/signal"
)

func isKey(p *rtp.Packet) bool { return len(p.Payload) >= 3 && p.Payload[1]&0x01 == 0 }
func layerByte(p *rtp.Packet) int {
	if len(p.Payload) < 3 {
		return -1
	}
	return int(p.Payload[2])
}

// TestSimulcastLayerSwitch: A sends three RIDs; B asks for low, then high.
// B's one stream moves to the other layer only at a key frame (which the
// node requested from A), with no gap in sequence numbers.
func TestSimulcastLayerSwitch(t *testing.T) {
	if testing.Short() {
		t.Skip("media test")
	}
	n := newTestNode(t, nil)
	a := newClient(t, n, "a", n.grant(t, "a", "room-1", allSources))
	b := newClient(t, n, "b", n.grant(t, "b", "room-1", allSources))
	a.join("room-1")
	b.join("room-1")

	video := a.addVP8("cam", true)
	defer video.close()
	info := a.publish("cam", "video", grant.SourceCamera,
		signal.Layer{RID: "q", Width: 320, Height: 180}, signal.Layer{RID: "h", Width: 640, Height: 360}, signal.Layer{RID: "f", Width: 1280, Height: 720})
	a.offerPub()
	a.waitFor(signal.TypeAnswer, nil)
	video.run()

	tr := b.nextTrack(10 * time.Second)
	require.Equal(t, info.ID, tr.ID())
	pkts := readPackets(tr)
	waitRTP(t, pkts, 5*time.Second, nil)

	b.send(signal.TypeSubscription, signal.Subscription{TrackID: info.ID, Quality: signal.QualityLow})
	waitRTP(t, pkts, 5*time.Second, func(p *rtp.Packet) bool { return layerByte(p) == 0 })
	// Settle on the low layer, then ask for high.
	var last *rtp.Packet
	for range 5 {
		last = waitRTP(t, pkts, 5*time.Second, nil)
		require.Equal(t, 0, layerByte(last), "still the low layer")
	}
	plisBefore := video.plis[2].Load()
	b.send(signal.TypeSubscription, signal.Subscription{TrackID: info.ID, Quality: signal.QualityHigh})

	deadline := time.After(5 * time.Second)
	for {
		var p *rtp.Packet
		select {
		case p = <-pkts:
		case <-deadline:
			t.Fatal("no switch to the high layer")
		}
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
