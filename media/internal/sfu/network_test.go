package sfu

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/signal"
)

// vnetCall is a node and two participants on a virtual network: a
// publishes on a clean link, b's link can be squeezed and made lossy.
type vnetCall struct {
	node  *testNode
	reg   *prometheus.Registry
	a, b  *client
	bLink *link
}

func newVNetCall(t *testing.T, delay time.Duration, mutate func(*Params)) *vnetCall {
	t.Helper()
	tn := newTestNetwork(t, delay)
	conn := tn.nodeConn()
	aNet := tn.host("10.0.0.2")
	bNet, bLink := tn.impairedHost("10.0.0.3")
	tn.start()
	reg := prometheus.NewRegistry()
	n := newTestNode(t, func(p *Params) {
		p.UDPConn = conn
		p.Registerer = reg
		if mutate != nil {
			mutate(p)
		}
	})
	vc := &vnetCall{
		node: n, reg: reg, bLink: bLink,
		a: newClient(t, n, "a", n.grant(t, "a", "room-1", allSources), onNet(aNet)),
		b: newClient(t, n, "b", n.grant(t, "b", "room-1", allSources), onNet(bNet)),
	}
	vc.a.join("room-1")
	vc.b.join("room-1")
	return vc
}

// publishVideo makes a publish a VP8 track (three layers when simulcast)
// shaped by shape, and returns b's copy of it.
func (vc *vnetCall) publishVideo(t *testing.T, simulcast bool, shape func(*vp8Publisher)) (*vp8Publisher, *webrtc.TrackRemote) {
	t.Helper()
	video := vc.a.addVP8("cam", simulcast)
	t.Cleanup(video.close)
	if shape != nil {
		shape(video)
	}
	var layers []signal.Layer
	if simulcast {
		layers = []signal.Layer{{RID: "q"}, {RID: "h"}, {RID: "f"}}
	}
	info := vc.a.publish("cam", "video", grant.SourceCamera, layers...)
	vc.a.offerPub()
	vc.a.waitFor(signal.TypeAnswer, nil)
	video.run()
	tr := vc.b.nextTrack(10 * time.Second)
	require.Equal(t, info.ID, tr.ID())
	return video, tr
}

// estimate is the node's downlink estimate for a participant (bits/s).
func (vc *vnetCall) estimate(id ParticipantID) int {
	s := vc.node.sfu
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rooms["room-1"]; r != nil {
		if p := r.participants[id]; p != nil && p.down != nil {
			return p.down.bwe.GetTargetBitrate()
		}
	}
	return 0
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// watchLayer reads a remote simulcast track and keeps the layer of the
// last packet (-1 before any).
func watchLayer(tr *webrtc.TrackRemote) *atomic.Int32 {
	var layer atomic.Int32
	layer.Store(-1)
	go func() {
		for p := range readPackets(tr) {
			layer.Store(int32(layerByte(p)))
		}
	}()
	return &layer
}

// waitLayer polls until pred holds for the layer b receives and returns how
// long that took.
func waitLayer(t *testing.T, layer *atomic.Int32, within time.Duration, pred func(int) bool, what string) time.Duration {
	t.Helper()
	start := time.Now()
	require.Eventually(t, func() bool { return pred(int(layer.Load())) }, within, 20*time.Millisecond,
		"%s: layer %d after %v", what, layer.Load(), within)
	return time.Since(start)
}

// TestBandwidthLayerSwitch: b's downlink is squeezed below the top
// simulcast layer's rate, then restored. The node's send-side estimate
// (GCC over b's transport-wide CC feedback) falls, b is moved to a lower
// layer, and once the estimate climbs back b gets the top layer again.
//
// The layers are close together (about 50, 80 and 150 kbit/s) so that
// the climb back fits a test even without probing: pion's GCC raises its
// estimate by about 8% a second, so going back from 500 kbit/s to 1.5
// Mbit/s in a real call takes it some 15 s (with probing, a few: see
// TestProbeRecoversAfterSqueeze).
func TestBandwidthLayerSwitch(t *testing.T) {
	if testing.Short() {
		t.Skip("media test")
	}
	vc := newVNetCall(t, 10*time.Millisecond, nil)
	_, tr := vc.publishVideo(t, true, func(v *vp8Publisher) {
		v.shape(0, 1, 100)
		v.shape(1, 1, 170)
		v.shape(2, 1, 340)
	})
	layer := watchLayer(tr)
	waitLayer(t, layer, 10*time.Second, func(l int) bool { return l == 2 }, "unconstrained, the top layer")
	switches := counterValue(t, vc.reg, "hcw_media_layer_switches_total")

	// 100 kbit/s holds the middle layer (about 80 kbit/s on the wire) but
	// not the top one (about 150).
	vc.bLink.setRate(100_000)
	down := waitLayer(t, layer, 10*time.Second, func(l int) bool { return l < 2 }, "squeezed, a lower layer")
	t.Logf("squeezed to 100 kbit/s: layer %d after %v (estimate %d bit/s)", layer.Load(), down.Round(10*time.Millisecond), vc.estimate("b"))
	// Let it settle on what the link holds.
	time.Sleep(time.Second)

	vc.bLink.setRate(unlimited)
	up := waitLayer(t, layer, 20*time.Second, func(l int) bool { return l == 2 }, "restored, the top layer")
	t.Logf("restored: top layer again after %v (estimate %d bit/s)", up.Round(10*time.Millisecond), vc.estimate("b"))
	require.GreaterOrEqual(t, counterValue(t, vc.reg, "hcw_media_layer_switches_total"), switches+2)
}

// TestNACKRecoveryUnderLoss: b's link drops 5% of packets each way; b
// still gets at least 99% of a VP8 stream's packets, the rest having been
// NACKed and resent from the node's send buffer (RTX).
func TestNACKRecoveryUnderLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("media test")
	}
	vc := newVNetCall(t, 10*time.Millisecond, nil)
	vc.bLink.setLoss(5)
	// 100 packets/s of 500 bytes.
	video, tr := vc.publishVideo(t, false, func(v *vp8Publisher) { v.shape(0, 2, 500) })

	var mu sync.Mutex
	got := map[uint32]bool{}
	go func() {
		for p := range readPackets(tr) {
			if len(p.Payload) >= 9 {
				mu.Lock()
				got[packetIndex(p)] = true
				mu.Unlock()
			}
		}
	}()
	// Count from the first packet b gets (the first key frame) over 5 s of
	// sending, then leave a second for the last repairs.
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) > 0 }, 5*time.Second, 10*time.Millisecond)
	mu.Lock()
	first := uint32(1 << 31)
	for n := range got {
		first = min(first, n)
	}
	mu.Unlock()
	nacksBefore := counterValue(t, vc.reg, "hcw_media_nacks_total")
	time.Sleep(5 * time.Second)
	last := video.sent[0].Load()
	time.Sleep(time.Second)

	mu.Lock()
	received := 0
	for n := first; n < last; n++ {
		if got[n] {
			received++
		}
	}
	mu.Unlock()
	sent := int(last - first)
	ratio := float64(received) / float64(sent)
	nacks := counterValue(t, vc.reg, "hcw_media_nacks_total") - nacksBefore
	t.Logf("5%% loss each way: %d of %d packets (%.2f%%), %v packets NACKed, estimate %d", received, sent, 100*ratio, nacks, vc.estimate("b"))
	require.Greater(t, sent, 400)
	require.GreaterOrEqual(t, ratio, 0.99)
	// About 5% of the packets were lost on the way and NACKed at least once.
	require.Greater(t, nacks, float64(sent)/100)
}

// TestConnectionQuality: with 20% of b's packets lost each way, the room
// hears that b's connection is poor, with the loss and round trip its
// receiver reports show; a's clean connection is excellent; once b's link
// heals, b is announced excellent again.
func TestConnectionQuality(t *testing.T) {
	if testing.Short() {
		t.Skip("media test")
	}
	// 25 ms each way: a round trip of about 50 ms.
	vc := newVNetCall(t, 25*time.Millisecond, nil)
	_, tr := vc.publishVideo(t, false, func(v *vp8Publisher) { v.shape(0, 2, 500) })
	readPackets(tr) // b's receiver reports cover what it reads
	quality := func(c *client, who, level string) signal.Quality {
		t.Helper()
		var q signal.Quality
		c.waitFor(signal.TypeQuality, func(e signal.Envelope) bool {
			q = dataAs[signal.Quality](t, e)
			return q.Participant == who && q.Quality == level
		})
		return q
	}
	qa := quality(vc.b, "a", signal.QualityExcellent)
	t.Logf("a: %+v", qa)
	require.Less(t, qa.Loss, 0.02)
	qb := quality(vc.a, "b", signal.QualityExcellent)
	t.Logf("b before: %+v", qb)
	// Let the node's sender reports reach b, so its receiver reports carry
	// a round trip.
	time.Sleep(2 * time.Second)

	vc.bLink.setLoss(20)
	start := time.Now()
	qb = quality(vc.a, "b", signal.QualityPoor)
	t.Logf("b at 20%% loss: %+v after %v", qb, time.Since(start).Round(10*time.Millisecond))
	// 20% each way, sampled over a report interval of some tens of
	// packets: 0.355 has been seen.
	require.Greater(t, qb.Loss, 0.1)
	require.Less(t, qb.Loss, 0.5)
	require.Greater(t, qb.RTTMillis, 40, "b's round trip, two 25 ms legs")
	require.Less(t, qb.RTTMillis, 250)
	quality(vc.b, "b", signal.QualityPoor) // b hears it too

	vc.bLink.setLoss(0)
	vc.a.mu.Lock()
	vc.a.msgs = nil
	vc.a.mu.Unlock()
	quality(vc.a, "b", signal.QualityExcellent)

	families, err := vc.reg.Gather()
	require.NoError(t, err)
	seen := map[string]uint64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			seen[f.GetName()] += m.GetHistogram().GetSampleCount()
		}
	}
	require.Positive(t, seen["hcw_media_loss_ratio"])
	require.Positive(t, seen["hcw_media_rtt_seconds"])
}
