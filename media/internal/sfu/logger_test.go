package sfu

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/signal"
)

// logCapture is a slog handler that keeps every record.
type logCapture struct {
	mu    *sync.Mutex
	recs  *[]capturedLog
	attrs []slog.Attr
}

type capturedLog struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func newLogCapture() logCapture {
	return logCapture{mu: &sync.Mutex{}, recs: &[]capturedLog{}}
}

func (h logCapture) Enabled(context.Context, slog.Level) bool { return true }

func (h logCapture) Handle(_ context.Context, r slog.Record) error {
	c := capturedLog{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		c.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool { c.attrs[a.Key] = a.Value.String(); return true })
	h.mu.Lock()
	*h.recs = append(*h.recs, c)
	h.mu.Unlock()
	return nil
}

func (h logCapture) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return h
}

func (h logCapture) WithGroup(string) slog.Handler { return h }

func (h logCapture) records() []capturedLog {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]capturedLog(nil), *h.recs...)
}

// TestPionLogLevels: pion's complaints about closed things are debug once
// their peer connection closes or restarts ICE, or the node shuts down;
// one logged just before the connection is found closing waits for it;
// anything else keeps its level.
func TestPionLogLevels(t *testing.T) {
	const (
		closedPipe = "Failed to read from candidate udp4 host 10.0.0.1:7882: io: read/write on closed pipe"
		noPairs    = "Failed to ping without candidate pairs. Connection is not possible yet."
	)
	tests := []struct {
		name  string
		set   func(node *atomic.Bool, peer *peerNoise) // before logging
		later func(peer *peerNoise)                    // while the line is held
		msg   string
		want  slog.Level
	}{
		{"open connection", nil, nil, closedPipe, slog.LevelWarn},
		{"closing connection", func(_ *atomic.Bool, p *peerNoise) { p.closing.Store(true) }, nil, closedPipe, slog.LevelDebug},
		{"ICE restart", func(_ *atomic.Bool, p *peerNoise) { p.restarting.Store(true) }, nil, closedPipe, slog.LevelDebug},
		{"node shutting down", func(n *atomic.Bool, _ *peerNoise) { n.Store(true) }, nil, closedPipe, slog.LevelDebug},
		{"closed right after", nil, func(p *peerNoise) { p.closing.Store(true) }, closedPipe, slog.LevelDebug},
		{"real warning while closing", func(_ *atomic.Bool, p *peerNoise) { p.closing.Store(true) }, nil, noPairs, slog.LevelWarn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			capture := newLogCapture()
			var node atomic.Bool
			peer := new(peerNoise)
			logs := pionLogs{log: slog.New(capture), node: &node, hold: 50 * time.Millisecond}.forPeer(peer)
			if tt.set != nil {
				tt.set(&node, peer)
			}
			logs.NewLogger("ice").Warnf("%s", tt.msg)
			if tt.later != nil {
				tt.later(peer)
			}
			require.Eventually(t, func() bool { return len(capture.records()) == 1 }, time.Second, 5*time.Millisecond)
			got := capture.records()[0]
			require.Equal(t, tt.want, got.level)
			require.Equal(t, tt.msg, got.msg)
			require.Equal(t, "ice", got.attrs["pion"])
		})
	}
}

// TestNoShutdownWarnings: a call whose participants leave (one saying
// leave, one just closing its connections) and a node that shuts down log
// no warning from pion about closed things: those lines are there, as
// debug.
func TestNoShutdownWarnings(t *testing.T) {
	if testing.Short() {
		t.Skip("media test")
	}
	capture := newLogCapture()
	n := newTestNode(t, func(p *Params) {
		p.Logger = slog.New(capture)
		p.noiseHold = 300 * time.Millisecond
	})
	a := newClient(t, n, "a", n.grant(t, "a", "room-1", allSources))
	b := newClient(t, n, "b", n.grant(t, "b", "room-1", allSources))
	c := newClient(t, n, "c", n.grant(t, "c", "room-1", allSources))
	a.join("room-1")
	b.join("room-1")
	c.join("room-1")
	audio := a.addOpus("mic")
	defer audio.close()
	video := a.addVP8("cam", false)
	defer video.close()
	a.publish("mic", "audio", grant.SourceMicrophone)
	a.publish("cam", "video", grant.SourceCamera)
	a.offerPub()
	a.waitFor(signal.TypeAnswer, nil)
	video.run()
	for _, cl := range []*client{b, c} {
		waitRTP(t, readPackets(cl.nextTrack(10*time.Second)), 5*time.Second, nil)
	}

	b.send(signal.TypeLeave, signal.Leave{Reason: signal.ReasonClientLeft})
	b.close()
	c.close() // no leave: its connections close under the node
	a.waitFor(signal.TypeParticipantLeft, nil)
	time.Sleep(500 * time.Millisecond)
	n.sfu.Close()
	time.Sleep(500 * time.Millisecond) // past the hold

	demoted := 0
	for _, r := range capture.records() {
		if r.attrs["component"] != "pion" || !shutdownNoise(r.msg) {
			continue
		}
		require.Less(t, r.level, slog.LevelWarn, "pion %s: %s", r.attrs["pion"], r.msg)
		demoted++
	}
	t.Logf("%d pion lines about closed things, all debug", demoted)
	require.Positive(t, demoted)
}
