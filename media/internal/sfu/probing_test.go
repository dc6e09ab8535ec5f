package sfu

import (
	"flag"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/signal"
)

// probeBaseline also runs the probing tests' scenarios with probing off,
// to measure what probing changes (slow: up to a minute each).
var probeBaseline = flag.Bool("sfu.probe-baseline", false, "also run the probing scenarios without probing and log their figures")

// cameraLayers shapes a simulcast camera with a real camera's 3x gaps
// between layers: about 110, 310 and 930 kbit/s on the wire.
func cameraLayers(v *vp8Publisher) {
	v.shape(0, 1, 250)
	v.shape(1, 1, 750)
	v.shape(2, 3, 750)
}

// labeledCounter is the value of one labelled series of a counter.
func labeledCounter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func (vc *vnetCall) probes(t *testing.T, event string) float64 {
	t.Helper()
	return labeledCounter(t, vc.reg, "hcw_media_probes_total", "event", event)
}

func (vc *vnetCall) paddingBytes(t *testing.T) float64 {
	t.Helper()
	return counterValue(t, vc.reg, "hcw_media_probe_padding_bytes_total")
}

// probing reports whether a probe to id is in flight.
func (vc *vnetCall) probing(id ParticipantID) bool {
	s := vc.node.sfu
	s.mu.Lock()
	var dl *downlink
	if r := s.rooms["room-1"]; r != nil {
		if p := r.participants[id]; p != nil {
			dl = p.down
		}
	}
	s.mu.Unlock()
	if dl == nil {
		return false
	}
	dl.mu.Lock()
	defer dl.mu.Unlock()
	return dl.probing
}

// probeModes are the runs of a probing scenario: with probing, and without
// (the baseline, only with -sfu.probe-baseline).
func probeModes(t *testing.T, run func(t *testing.T, probing bool)) {
	t.Run("probing", func(t *testing.T) { run(t, true) })
	t.Run("baseline", func(t *testing.T) {
		if !*probeBaseline {
			t.Skip("-sfu.probe-baseline not set")
		}
		run(t, false)
	})
}

func withProbing(probing bool, initialEstimate int) func(*Params) {
	return func(p *Params) {
		if !probing {
			p.ProbeMaxBitrate = -1
		}
		p.initialEstimate = initialEstimate
	}
}

// TestProbeRecoversAfterSqueeze: b's link is squeezed below the top layer
// of a camera with 3x gaps between layers, b drops to a lower layer, the
// squeeze lifts, and probing brings b back to the top layer within 12 s
// (without probing, GCC's slow climb takes longer, if it gets there).
func TestProbeRecoversAfterSqueeze(t *testing.T) {
	if testing.Short() {
		t.Skip("media test")
	}
	probeModes(t, func(t *testing.T, probing bool) {
		within := 12 * time.Second
		if !probing {
			within = 60 * time.Second
		}
		vc := newVNetCall(t, 10*time.Millisecond, withProbing(probing, 0))
		_, tr := vc.publishVideo(t, true, cameraLayers)
		layer := watchLayer(tr)
		waitLayer(t, layer, 15*time.Second, func(l int) bool { return l == 2 }, "unconstrained, the top layer")

		// 600 kbit/s holds the middle layer, not the top one.
		vc.bLink.setRate(600_000)
		down := waitLayer(t, layer, 15*time.Second, func(l int) bool { return l < 2 }, "squeezed, a lower layer")
		t.Logf("squeezed to 600 kbit/s: layer %d after %v (estimate %d bit/s)", layer.Load(), down.Round(10*time.Millisecond), vc.estimate("b"))
		time.Sleep(time.Second) // settle on what the link holds

		started := vc.probes(t, probeStarted)
		vc.bLink.setRate(unlimited)
		up := waitLayer(t, layer, within, func(l int) bool { return l == 2 }, "restored, the top layer")
		t.Logf("probing %v: restored, top layer again after %v (GCC estimate %d bit/s; probes %v started, %v succeeded, %v aborted, %v failed)",
			probing, up.Round(10*time.Millisecond), vc.estimate("b"), vc.probes(t, probeStarted)-started,
			vc.probes(t, probeSucceeded), vc.probes(t, probeAborted), vc.probes(t, probeFailed))
		if probing {
			require.Positive(t, vc.probes(t, probeSucceeded))
		}
	})
}

// TestProbeFromLowEstimate: b's estimate starts at GCC's floor (100
// kbit/s) on an unconstrained link. Probing takes b to the top layer
// within 12 s; GCC alone (8% a second) would need some 30 s.
func TestProbeFromLowEstimate(t *testing.T) {
	if testing.Short() {
		t.Skip("media test")
	}
	probeModes(t, func(t *testing.T, probing bool) {
		within := 12 * time.Second
		if !probing {
			within = 60 * time.Second
		}
		vc := newVNetCall(t, 10*time.Millisecond, withProbing(probing, bweMin))
		_, tr := vc.publishVideo(t, true, cameraLayers)
		layer := watchLayer(tr)
		// Until the layers' rates are measured (a second) any layer fits;
		// then the estimate holds only the low one.
		low := waitLayer(t, layer, 10*time.Second, func(l int) bool { return l == 0 }, "the low layer")
		t.Logf("low layer after %v", low.Round(10*time.Millisecond))
		top := waitLayer(t, layer, within, func(l int) bool { return l == 2 }, "the top layer")
		t.Logf("probing %v: top layer after %v more (GCC estimate %d bit/s; probes %v started, %v succeeded, %v aborted, %v failed; %.0f kB of padding)",
			probing, top.Round(10*time.Millisecond), vc.estimate("b"), vc.probes(t, probeStarted), vc.probes(t, probeSucceeded),
			vc.probes(t, probeAborted), vc.probes(t, probeFailed), vc.paddingBytes(t)/1000)
		if probing {
			require.Positive(t, vc.probes(t, probeSucceeded))
		} else {
			require.Zero(t, vc.paddingBytes(t))
		}
	})
}

// TestNoProbeWithoutWant: with a low estimate, a subscriber that asked for
// the low quality, or paused the video, is never probed for; asking for
// the high quality again starts probing, up to the top layer.
func TestNoProbeWithoutWant(t *testing.T) {
	if testing.Short() {
		t.Skip("media test")
	}
	for _, pref := range []signal.Subscription{{Quality: signal.QualityLow}, {Paused: true}} {
		name := "low quality"
		if pref.Paused {
			name = "paused"
		}
		t.Run(name, func(t *testing.T) {
			vc := newVNetCall(t, 10*time.Millisecond, withProbing(true, bweMin))
			video := vc.a.addVP8("cam", true)
			t.Cleanup(video.close)
			cameraLayers(video)
			info := vc.a.publish("cam", "video", grant.SourceCamera, signal.Layer{RID: "q"}, signal.Layer{RID: "h"}, signal.Layer{RID: "f"})
			// The preference is in place before the media arrives.
			pref.TrackID = info.ID
			vc.b.send(signal.TypeSubscription, pref)
			require.Eventually(t, func() bool {
				s := vc.node.sfu
				s.mu.Lock()
				defer s.mu.Unlock()
				_, ok := s.rooms["room-1"].participants["b"].prefs[TrackID(info.ID)]
				return ok
			}, 5*time.Second, 10*time.Millisecond)
			vc.a.offerPub()
			vc.a.waitFor(signal.TypeAnswer, nil)
			video.run()
			var layer *atomic.Int32
			if !pref.Paused {
				layer = watchLayer(vc.b.nextTrack(10 * time.Second))
				waitLayer(t, layer, 10*time.Second, func(l int) bool { return l == 0 }, "the low layer")
			} else {
				// Paused from the start: nothing is forwarded, so b sees
				// no track yet; wait until the node has the down-track.
				require.Eventually(t, func() bool {
					s := vc.node.sfu
					s.mu.Lock()
					defer s.mu.Unlock()
					return s.rooms["room-1"].participants["b"].subs[TrackID(info.ID)] != nil
				}, 10*time.Second, 10*time.Millisecond)
			}
			// Long enough for several probes if it wanted more (each
			// allocation interval could start one).
			time.Sleep(6 * time.Second)
			require.Zero(t, vc.probes(t, probeStarted), "probes started")
			require.Zero(t, vc.paddingBytes(t), "padding sent")
			if !pref.Paused {
				require.Equal(t, int32(0), layer.Load())
			}

			vc.b.send(signal.TypeSubscription, signal.Subscription{TrackID: info.ID, Quality: signal.QualityHigh})
			if pref.Paused {
				layer = watchLayer(vc.b.nextTrack(10 * time.Second))
			}
			top := waitLayer(t, layer, 12*time.Second, func(l int) bool { return l == 2 }, "asked for high, the top layer")
			t.Logf("asked for high: top layer after %v (probes %v started, %v succeeded)", top.Round(10*time.Millisecond),
				vc.probes(t, probeStarted), vc.probes(t, probeSucceeded))
			require.Positive(t, vc.probes(t, probeStarted))
		})
	}
}

// TestProbeStopsOnSqueeze: b's link is squeezed while a probe to b is in
// flight (the second one, from the middle layer to the top: more padding
// than the link's burst lets through). The probe stops within a second
// (it would run for about one), aborted or failed, and over the next 5 s
// almost no padding goes out (failed probes back off; congestion holds
// them). What the first probe proved does not keep b on the middle
// layer: it goes down to the low one.
func TestProbeStopsOnSqueeze(t *testing.T) {
	if testing.Short() {
		t.Skip("media test")
	}
	vc := newVNetCall(t, 10*time.Millisecond, withProbing(true, bweMin))
	_, tr := vc.publishVideo(t, true, cameraLayers)
	layer := watchLayer(tr)
	// Up to the middle layer by a first probe (before the layers' rates
	// are measured, b may get any layer for a moment).
	require.Eventually(t, func() bool { return vc.probes(t, probeSucceeded) == 1 && layer.Load() == 1 }, 15*time.Second, 5*time.Millisecond,
		"not on the middle layer after a first probe: layer %d, %v probes succeeded", layer.Load(), vc.probes(t, probeSucceeded))
	require.Eventually(t, func() bool { return vc.probing("b") }, 15*time.Second, time.Millisecond, "no probe started")
	// Let it send for a moment: the padding is on the wire when the
	// squeeze comes.
	before := vc.paddingBytes(t)
	require.Eventually(t, func() bool { return vc.paddingBytes(t) > before }, 2*time.Second, time.Millisecond, "the probe sends nothing")

	// 200 kbit/s holds the low layer only.
	vc.bLink.setRate(200_000)
	squeezed := time.Now()
	ended := []string{probeSucceeded, probeAborted, probeFailed}
	endedBefore := 0.0
	for _, e := range ended {
		endedBefore += vc.probes(t, e)
	}
	require.Eventually(t, func() bool { return !vc.probing("b") }, time.Second, 5*time.Millisecond, "the probe still runs a second after the squeeze")
	stopped := time.Since(squeezed)
	endedAfter := 0.0
	for _, e := range ended {
		endedAfter += vc.probes(t, e)
	}
	require.Equal(t, endedBefore+1, endedAfter)
	// Stopped by the loss or late feedback (aborted), or, on a loaded
	// machine where the cluster was all but sent when the squeeze came,
	// run out and judged failed: never a success.
	require.Equal(t, 1.0, vc.probes(t, probeAborted)+vc.probes(t, probeFailed), "the probe in flight did not end by abort or failure")
	require.Equal(t, 1.0, vc.probes(t, probeSucceeded), "only the first probe succeeded")

	time.Sleep(time.Second - time.Since(squeezed))
	from := vc.paddingBytes(t)
	time.Sleep(5 * time.Second)
	padding := vc.paddingBytes(t) - from
	t.Logf("probe ended %v after the squeeze (%v aborted, %v failed, %v succeeded); %.0f bytes of padding in the 5 s from 1 s after it; layer %d",
		stopped.Round(time.Millisecond), vc.probes(t, probeAborted), vc.probes(t, probeFailed), vc.probes(t, probeSucceeded), padding, layer.Load())
	// At most about two aborted probes' worth: under 4 kB/s on average,
	// against 30-140 kB/s while a probe runs.
	require.Less(t, padding, 20_000.0)
	// Long since down to the low layer (the floor follows congestion down).
	require.Equal(t, int32(0), layer.Load(), "b is above what its squeezed link holds")
}

// TestRetransmissionsKeepLayers: a publisher's link loses packets from
// the start, so the node NACKs and the publisher resends on its RTX
// streams, with each layer's RID on them (as pion's NACK responder
// sends). Those streams are not layers: every layer stays fed by its own
// stream, and b gets the top one.
func TestRetransmissionsKeepLayers(t *testing.T) {
	if testing.Short() {
		t.Skip("media test")
	}
	tn := newTestNetwork(t, 10*time.Millisecond)
	conn := tn.nodeConn()
	aNet, aLink := tn.impairedHost("10.0.0.2")
	bNet := tn.host("10.0.0.3")
	tn.start()
	aLink.setLoss(10)
	n := newTestNode(t, func(p *Params) { p.UDPConn = conn })
	a := newClient(t, n, "a", n.grant(t, "a", "room-1", allSources), onNet(aNet))
	b := newClient(t, n, "b", n.grant(t, "b", "room-1", allSources), onNet(bNet))
	a.join("room-1")
	b.join("room-1")
	video := a.addVP8("cam", true)
	t.Cleanup(video.close)
	info := a.publish("cam", "video", grant.SourceCamera, signal.Layer{RID: "q"}, signal.Layer{RID: "h"}, signal.Layer{RID: "f"})
	a.offerPub()
	a.waitFor(signal.TypeAnswer, nil)
	video.run()
	layer := watchLayer(b.nextTrack(15 * time.Second))
	// Long enough for NACKs and resends on every layer.
	time.Sleep(4 * time.Second)
	aLink.setLoss(0)
	s := n.sfu
	s.mu.Lock()
	recv := s.rooms["room-1"].participants["a"].tracks[TrackID(info.ID)].recv
	s.mu.Unlock()
	require.Eventually(t, func() bool {
		for l := range 3 {
			if recv.LayerRate(l) == 0 {
				return false
			}
		}
		return true
	}, 5*time.Second, 50*time.Millisecond, "a layer went silent: its source was replaced")
	waitLayer(t, layer, 10*time.Second, func(l int) bool { return l == 2 }, "the top layer")
}
