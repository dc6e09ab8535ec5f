package forward

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"
)

func TestVP8Keyframe(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    bool
	}{
		{"empty", nil, false},
		{"key, no extension", []byte{0x10, 0x00, 0x9d, 0x01, 0x2a}, true},
		{"delta, no extension", []byte{0x10, 0x01}, false},
		{"not start of partition", []byte{0x00, 0x00}, false},
		{"partition 1", []byte{0x11, 0x00}, false},
		{"key, 15-bit picture id", []byte{0x90, 0x80, 0x81, 0x23, 0x00}, true},
		{"delta, 15-bit picture id", []byte{0x90, 0x80, 0x81, 0x23, 0x01}, false},
		{"key, 7-bit picture id, TL0PICIDX, TID", []byte{0x90, 0xe0, 0x05, 0x07, 0x40, 0x00}, true},
		{"truncated after extension", []byte{0x90, 0x80}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, VP8Keyframe(tt.payload))
		})
	}
}

func TestH264Keyframe(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    bool
	}{
		{"empty", nil, false},
		{"IDR", []byte{0x65, 0x88}, true},
		{"SPS", []byte{0x67, 0x42}, true},
		{"non-IDR slice", []byte{0x41, 0x9a}, false},
		{"STAP-A with SPS PPS", []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, true},
		{"STAP-A without key", []byte{0x78, 0x00, 0x02, 0x41, 0x9a}, false},
		{"STAP-A truncated", []byte{0x78, 0x00, 0x09, 0x65}, false},
		{"FU-A start IDR", []byte{0x7c, 0x85, 0x88}, true},
		{"FU-A middle IDR", []byte{0x7c, 0x05, 0x88}, false},
		{"FU-A start non-IDR", []byte{0x7c, 0x81, 0x9a}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, H264Keyframe(tt.payload))
		})
	}
}

func TestRewriter(t *testing.T) {
	const ms = int64(time.Millisecond)
	r := NewRewriter(90000)
	require.False(t, r.Started())

	// First source starts where it is.
	r.Switch(1000, 5000, 0)
	for i := range uint16(5) {
		seq, ts, ok := r.Rewrite(1000+i, 5000+uint32(i)*3000, int64(i)*33*ms)
		require.True(t, ok)
		require.Equal(t, 1000+i, seq)
		require.Equal(t, 5000+uint32(i)*3000, ts)
	}
	// A late packet of the same source keeps its mapping.
	seq, _, ok := r.Rewrite(1002, 11000, 140*ms)
	require.True(t, ok)
	require.Equal(t, uint16(1002), seq)

	// Padding at the head is skipped without a hole.
	r.Skip(1005)
	seq, _, ok = r.Rewrite(1006, 20000, 170*ms)
	require.True(t, ok)
	require.Equal(t, uint16(1005), seq)

	// Switch to another source with unrelated numbering, 100 ms later.
	r.Switch(60000, 1<<31, 270*ms)
	seq, ts, ok := r.Rewrite(60000, 1<<31, 270*ms)
	require.True(t, ok)
	require.Equal(t, uint16(1006), seq, "continues after the last sequence number sent")
	require.Equal(t, uint32(20000+9000), ts, "advances by the 100 ms elapsed")
	// A packet of the new source from before the switch point is dropped.
	_, _, ok = r.Rewrite(59999, 1<<31-3000, 271*ms)
	require.False(t, ok)

	// Sequence numbers wrap.
	r.Switch(65535, 0, 300*ms)
	a, _, _ := r.Rewrite(65535, 0, 300*ms)
	b, _, _ := r.Rewrite(0, 3000, 333*ms)
	require.Equal(t, a+1, b)
}

// memSource replays packets then blocks until closed.
type memSource struct {
	ch chan []byte
}

func (s *memSource) Read(b []byte) (int, interceptor.Attributes, error) {
	p, ok := <-s.ch
	if !ok {
		return 0, nil, errClosed
	}
	return copy(b, p), nil, nil
}

var errClosed = &closedErr{}

type closedErr struct{}

func (*closedErr) Error() string { return "closed" }

// captureWriter records what a down-track writes.
type captureWriter struct {
	mu   sync.Mutex
	pkts []rtp.Packet
	n    atomic.Int64
}

func (w *captureWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.mu.Lock()
	w.pkts = append(w.pkts, rtp.Packet{Header: *h, Payload: append([]byte(nil), payload...)})
	w.mu.Unlock()
	w.n.Add(1)
	return len(payload) + 12, nil
}

func (w *captureWriter) Write(b []byte) (int, error) { return len(b), nil }

func (w *captureWriter) snapshot() []rtp.Packet {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]rtp.Packet(nil), w.pkts...)
}

type fakeBindCtx struct {
	webrtc.TrackLocalContext
	w webrtc.TrackLocalWriter
}

func (c fakeBindCtx) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}}
}
func (c fakeBindCtx) SSRC() webrtc.SSRC                    { return 4242 }
func (c fakeBindCtx) WriteStream() webrtc.TrackLocalWriter { return c.w }

func vp8Packet(layer byte, seq uint16, ts uint32, key bool) []byte {
	vp8 := byte(0x01)
	if key {
		vp8 = 0x00
	}
	p := rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, SSRC: 100 + uint32(layer)},
		Payload: []byte{0x10, vp8, layer},
	}
	b, _ := p.Marshal()
	return b
}

// TestDownTrackLayerSwitch feeds two layers and checks that the forwarded
// stream moves to the target layer only at its key frame, without a gap.
func TestDownTrackLayerSwitch(t *testing.T) {
	var plis atomic.Int32
	r := NewReceiver(ReceiverParams{Kind: Video, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, RequestKeyframe: func(uint32) { plis.Add(1) }})
	srcs := [2]*memSource{{ch: make(chan []byte)}, {ch: make(chan []byte)}}
	r.Start(0, 100, srcs[0])
	r.Start(2, 102, srcs[1])
	d := NewDownTrack(DownTrackParams{TrackID: "t", StreamID: "p", Receiver: r, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}})
	w := &captureWriter{}
	_, err := d.Bind(fakeBindCtx{w: w})
	require.NoError(t, err)
	r.AddDownTrack(d)
	d.SetTargetLayer(0)

	send := func(layer byte, seq uint16, key bool) {
		src := srcs[0]
		if layer == 2 {
			src = srcs[1]
		}
		src.ch <- vp8Packet(layer, seq, uint32(seq)*3000, key)
	}
	waitN := func(n int64) {
		require.Eventually(t, func() bool { return w.n.Load() >= n }, 2*time.Second, time.Millisecond)
	}
	send(0, 10, false) // dropped: no key frame yet
	send(0, 11, true)
	send(0, 12, false)
	waitN(2)
	require.GreaterOrEqual(t, plis.Load(), int32(1))

	d.SetTargetLayer(2)
	send(2, 500, false) // not a key frame: stays on layer 0
	send(0, 13, false)
	waitN(3)
	send(2, 501, true)
	waitN(4)           // the layers are read concurrently: let the switch land first
	send(0, 14, false) // old layer now dropped
	send(2, 502, false)
	waitN(5)
	time.Sleep(20 * time.Millisecond)

	got := w.snapshot()
	require.Len(t, got, 5)
	wantLayers := []byte{0, 0, 0, 2, 2}
	for i, p := range got {
		require.Equal(t, wantLayers[i], p.Payload[2], "packet %d layer", i)
		require.Equal(t, uint32(4242), p.SSRC)
		require.Equal(t, uint8(96), p.PayloadType)
		if i > 0 {
			require.Equal(t, got[i-1].SequenceNumber+1, p.SequenceNumber, "continuous sequence at %d", i)
			require.Greater(t, p.Timestamp, got[i-1].Timestamp)
		}
	}
	require.Equal(t, 2, d.CurrentLayer())

	r.Close()
	for _, s := range srcs {
		close(s.ch)
	}
	r.Wait()
	d.Close()
}

// nopWriter is a subscriber that costs nothing, so the benchmark measures
// the fan-out itself.
type nopWriter struct{ n atomic.Int64 }

func (w *nopWriter) WriteRTP(_ *rtp.Header, p []byte) (int, error) { w.n.Add(1); return len(p), nil }
func (w *nopWriter) Write(b []byte) (int, error)                   { return len(b), nil }

// BenchmarkFanout measures one publisher packet reaching N subscribers:
// parse, key frame detection, hand-off to N writer goroutines, rewrite and
// write. allocs/op is per published packet.
func BenchmarkFanout(b *testing.B) {
	for _, subs := range []int{1, 10, 100} {
		b.Run(benchName(subs), func(b *testing.B) {
			r := NewReceiver(ReceiverParams{Kind: Video, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}})
			r.layers[0].started.Store(true)
			downs := make([]*DownTrack, subs)
			writers := make([]*nopWriter, subs)
			for i := range downs {
				downs[i] = NewDownTrack(DownTrackParams{TrackID: "t", StreamID: "p", Receiver: r, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}})
				writers[i] = &nopWriter{}
				_, _ = downs[i].Bind(fakeBindCtx{w: writers[i]})
				downs[i].SetTargetLayer(0)
				r.AddDownTrack(downs[i])
			}
			raw := make([][]byte, 256)
			for i := range raw {
				raw[i] = vp8Packet(0, uint16(i), uint32(i)*3000, i == 0)
				raw[i] = append(raw[i], make([]byte, 1000)...) // a realistic video packet size
			}
			b.SetBytes(int64(len(raw[1])))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Back-pressure instead of drops: let the writers catch up.
				for len(downs[i%subs].queue) > QueueSize/2 {
					time.Sleep(10 * time.Microsecond)
				}
				p := getPacket()
				n := copy(p.buf[:], raw[i%len(raw)])
				p.buf[2], p.buf[3] = byte(i>>8), byte(i) // keep the numbering moving
				r.handle(p, n, 0, 0)
			}
			for _, d := range downs {
				for len(d.queue) > 0 {
					time.Sleep(100 * time.Microsecond)
				}
			}
			b.StopTimer()
			var written int64
			for _, w := range writers {
				written += w.n.Load()
			}
			b.ReportMetric(float64(written)/float64(b.N), "writes/op")
			for _, d := range downs {
				r.RemoveDownTrack(d)
				d.Close()
			}
		})
	}
}

func benchName(n int) string {
	switch n {
	case 1:
		return "subscribers=1"
	case 10:
		return "subscribers=10"
	default:
		return "subscribers=100"
	}
}

// TestDownTrackHeld: a held down-track forwards nothing and asks for no key
// frame; released, it asks for one and starts with it.
func TestDownTrackHeld(t *testing.T) {
	var plis atomic.Int32
	r := NewReceiver(ReceiverParams{Kind: Video, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, RequestKeyframe: func(uint32) { plis.Add(1) }})
	src := &memSource{ch: make(chan []byte)}
	r.Start(0, 100, src)
	d := NewDownTrack(DownTrackParams{TrackID: "t", StreamID: "p", Receiver: r, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, Held: true})
	w := &captureWriter{}
	d.SetTargetLayer(0)
	_, err := d.Bind(fakeBindCtx{w: w})
	require.NoError(t, err)
	r.AddDownTrack(d)

	src.ch <- vp8Packet(0, 10, 30000, true) // held: not written
	src.ch <- vp8Packet(0, 11, 33000, false)
	time.Sleep(20 * time.Millisecond)
	require.Zero(t, w.n.Load())
	require.Zero(t, plis.Load(), "no key frame request while held")

	d.SetHeld(false)
	require.Equal(t, int32(1), plis.Load(), "released: a key frame request")
	src.ch <- vp8Packet(0, 12, 36000, false) // not a key frame: still waiting
	src.ch <- vp8Packet(0, 13, 39000, true)
	src.ch <- vp8Packet(0, 14, 42000, false)
	require.Eventually(t, func() bool { return w.n.Load() == 2 }, 2*time.Second, time.Millisecond)
	got := w.snapshot()
	require.Equal(t, byte(0x00), got[0].Payload[1], "starts with the key frame")

	r.Close()
	close(src.ch)
	r.Wait()
	d.Close()
}
