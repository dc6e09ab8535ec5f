package sfu

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/signal"
)

// TestSubOfferUnanswered: a client that never answers the node's "sub"
// offer gets an error and its socket closed once the negotiation timeout
// passes, instead of every later track waiting behind that offer; it
// resumes with fresh connections and gets the track.
func TestSubOfferUnanswered(t *testing.T) {
	reg := prometheus.NewRegistry()
	n := newTestNode(t, func(p *Params) {
		p.NegotiationTimeout = time.Second
		p.Registerer = reg
	})
	a := newClient(t, n, "a", n.grant(t, "a", "room-1", allSources))
	a.join("room-1")
	audio := a.addOpus("mic")
	defer audio.close()
	info := a.publish("mic", "audio", grant.SourceMicrophone)
	a.offerPub()
	a.waitFor(signal.TypeAnswer, nil)
	require.Eventually(t, func() bool { return n.sfu.Load().Tracks == 1 }, 5*time.Second, 10*time.Millisecond)

	b := newClient(t, n, "b", n.grant(t, "b", "room-1", allSources), unanswering())
	b.join("room-1")
	offered := time.Now()
	b.waitFor(signal.TypeOffer, nil)
	e := b.waitFor(signal.TypeError, nil)
	require.Equal(t, signal.ErrInternal, dataAs[signal.Error](t, e).Code)
	require.Eventually(t, b.isClosed, 5*time.Second, 10*time.Millisecond)
	t.Logf("unanswered offer: session ended %v after the join", time.Since(offered).Round(10*time.Millisecond))
	require.GreaterOrEqual(t, time.Since(offered), time.Second)
	a.waitFor(signal.TypeParticipantUpdated, func(e signal.Envelope) bool {
		pi := dataAs[signal.ParticipantInfo](t, e)
		return pi.ID == "b" && pi.State == signal.StateReconnecting
	})
	require.Equal(t, 1.0, counterValue(t, reg, "hcw_media_negotiation_timeouts_total"))

	b2 := newClient(t, n, "b2", n.grant(t, "b", "room-1", allSources))
	b2.send(signal.TypeJoin, signal.Join{Room: "room-1", Resume: true})
	b2.waitFor(signal.TypeJoined, nil)
	tr := b2.nextTrack(10 * time.Second)
	require.Equal(t, info.ID, tr.ID())
	waitRTP(t, readPackets(tr), 5*time.Second, nil)
}

// TestPubICERestart: the client offers "pub" again with new ICE
// credentials (iceRestart, as a browser does when its connection drops);
// the node answers with new credentials of its own, ICE connects again and
// the media sent after the restart reaches the subscriber.
func TestPubICERestart(t *testing.T) {
	if testing.Short() {
		t.Skip("media test")
	}
	reg := prometheus.NewRegistry()
	n := newTestNode(t, func(p *Params) { p.Registerer = reg })
	a := newClient(t, n, "a", n.grant(t, "a", "room-1", allSources))
	b := newClient(t, n, "b", n.grant(t, "b", "room-1", allSources))
	a.join("room-1")
	b.join("room-1")
	video := a.addVP8("cam", false)
	defer video.close()
	video.shape(0, 1, 20)
	a.publish("cam", "video", grant.SourceCamera)
	a.offerPub()
	first := dataAs[signal.SDP](t, a.waitFor(signal.TypeAnswer, nil)).SDP
	video.run()
	pkts := readPackets(b.nextTrack(10 * time.Second))
	waitRTP(t, pkts, 5*time.Second, nil)
	require.Eventually(t, func() bool { return a.pub.ICEConnectionState() == webrtc.ICEConnectionStateConnected },
		5*time.Second, 10*time.Millisecond)

	states := make(chan webrtc.ICEConnectionState, 16)
	a.pub.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) { states <- s })
	a.mu.Lock()
	a.msgs = nil
	a.mu.Unlock()
	restarted := time.Now()
	offer, err := a.pub.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	require.NoError(t, err)
	require.NoError(t, a.pub.SetLocalDescription(offer))
	require.NotEqual(t, iceUfrag(first.SDP), iceUfrag(offer.SDP))
	a.send(signal.TypeOffer, signal.SDP{Target: signal.TargetPub, SDP: offer})
	answer := dataAs[signal.SDP](t, a.waitFor(signal.TypeAnswer, nil)).SDP
	require.NotEqual(t, iceUfrag(first.SDP), iceUfrag(answer.SDP), "the node's new credentials")

	// ICE checks again and connects with the new credentials.
	sawChecking := false
	for connected := false; !connected; {
		select {
		case s := <-states:
			sawChecking = sawChecking || s == webrtc.ICEConnectionStateChecking
			connected = sawChecking && s == webrtc.ICEConnectionStateConnected
		case <-time.After(10 * time.Second):
			t.Fatal("pub ICE did not connect again after the restart")
		}
	}
	t.Logf("pub ICE restart: connected again %v after the offer", time.Since(restarted).Round(time.Millisecond))

	// What a sends from now on reaches b.
	after := video.sent[0].Load()
	waitRTP(t, pkts, 5*time.Second, func(p *rtp.Packet) bool { return packetIndex(p) > after })
	require.Equal(t, 1.0, counterValue(t, reg, "hcw_media_ice_restarts_total"))
}

// packetIndex is the index a shaped vp8Publisher stamps into a packet.
func packetIndex(p *rtp.Packet) uint32 {
	if len(p.Payload) < 9 {
		return 0
	}
	return binary.BigEndian.Uint32(p.Payload[5:])
}

// TestSubICERestart: b's link goes dead long enough for the node's "sub"
// ICE to be disconnected; the node offers "sub" with new ICE credentials
// and, once the link is back, b receives the video again.
func TestSubICERestart(t *testing.T) {
	if testing.Short() {
		t.Skip("media test")
	}
	vc := newVNetCall(t, 5*time.Millisecond, func(p *Params) {
		p.iceTimeouts = &iceTimeouts{disconnected: time.Second, failed: 5 * time.Second, keepalive: 250 * time.Millisecond}
	})
	video, tr := vc.publishVideo(t, false, func(v *vp8Publisher) { v.shape(0, 1, 20) })
	pkts := readPackets(tr)
	waitRTP(t, pkts, 5*time.Second, nil)
	firstOffer := dataAs[signal.SDP](t, vc.b.waitFor(signal.TypeOffer, nil)).SDP
	vc.b.mu.Lock()
	vc.b.msgs = nil
	vc.b.mu.Unlock()

	vc.bLink.setLoss(100)
	cut := time.Now()
	e := vc.b.waitFor(signal.TypeOffer, func(e signal.Envelope) bool {
		return iceUfrag(dataAs[signal.SDP](t, e).SDP.SDP) != iceUfrag(firstOffer.SDP)
	})
	require.Equal(t, signal.TargetSub, dataAs[signal.SDP](t, e).Target)
	t.Logf("link cut: the node offered an ICE restart after %v", time.Since(cut).Round(10*time.Millisecond))
	vc.bLink.setLoss(0)
	restored := time.Now()
	after := video.sent[0].Load()
	waitRTP(t, pkts, 10*time.Second, func(p *rtp.Packet) bool { return packetIndex(p) > after })
	t.Logf("link back: video again after %v", time.Since(restored).Round(10*time.Millisecond))
	require.GreaterOrEqual(t, counterValue(t, vc.reg, "hcw_media_ice_restarts_total"), 1.0)
}
