package forward

import (
	"runtime"
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
	r.Skip(1005, 150*ms)
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

	// A long run on one source (two minutes of a 720p layer, eleven of
	// audio): past 32768 packets its packets are still newer than its
	// first, and a late one from before the switch is still dropped.
	r.Switch(100, 0, 400*ms)
	for i := range 3 * 65536 {
		seq := uint16(100 + i)
		_, _, ok := r.Rewrite(seq, uint32(i)*3000, 400*ms+int64(i))
		require.True(t, ok, "packet %d of the run", i)
		if i == 20 {
			_, _, ok = r.Rewrite(99, 0, 400*ms+int64(i))
			require.False(t, ok, "from before the switch")
		}
	}
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

// vp8PacketPicture is vp8Packet with a descriptor carrying a 15-bit
// picture id and a TL0PICIDX; the layer is at payload[6].
func vp8PacketPicture(layer byte, seq uint16, ts uint32, key bool, pic uint16, tl0 uint8) []byte {
	vp8 := byte(0x01)
	if key {
		vp8 = 0x00
	}
	p := rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, SSRC: 100 + uint32(layer)},
		Payload: []byte{0x90, 0xc0, 0x80 | byte(pic>>8&0x7f), byte(pic), tl0, vp8, layer},
	}
	b, _ := p.Marshal()
	return b
}

// TestDownTrackLayerSwitch feeds two layers and checks that the forwarded
// stream moves to the target layer only at its key frame, without a gap
// in sequence numbers or VP8 picture ids (each layer numbers its own).
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

	// Layer 0 numbers its pictures from 32765 (wrapping on the way),
	// layer 2 from 1000; one packet per picture.
	send := func(layer byte, seq uint16, key bool) {
		src, pic, tl0 := srcs[0], 32765+seq-10, uint8(seq-10)
		if layer == 2 {
			src, pic, tl0 = srcs[1], 1000+seq-500, uint8(200+seq-500)
		}
		src.ch <- vp8PacketPicture(layer, seq, uint32(seq)*3000, key, pic&0x7fff, tl0)
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
	// Layer 0's pictures 32766, 32767, 0 go out as they are; layer 2's
	// 1001, 1002 follow on.
	wantPics := []uint16{32766, 32767, 0, 1, 2}
	for i, p := range got {
		require.Equal(t, wantLayers[i], p.Payload[6], "packet %d layer", i)
		require.Equal(t, uint32(4242), p.SSRC)
		require.Equal(t, uint8(96), p.PayloadType)
		pic := uint16(p.Payload[2]&0x7f)<<8 | uint16(p.Payload[3])
		require.NotZero(t, p.Payload[2]&0x80, "packet %d keeps its 15-bit picture id", i)
		require.Equal(t, wantPics[i], pic, "packet %d picture id", i)
		require.Equal(t, uint8(i+1), p.Payload[4], "packet %d TL0PICIDX", i)
		if i > 0 {
			require.Equal(t, got[i-1].SequenceNumber+1, p.SequenceNumber, "continuous sequence at %d", i)
			require.Greater(t, p.Timestamp, got[i-1].Timestamp)
		}
	}
	require.Equal(t, 2, d.CurrentLayer())

	r.Close()
	require.True(t, r.Reading(), "closed, its readers wait on their sources")
	for _, s := range srcs {
		close(s.ch)
	}
	r.Wait()
	require.False(t, r.Reading())
	d.Close()
}

// nopWriter is a subscriber that costs nothing, so the benchmark measures
// the fan-out itself.
type nopWriter struct{ n atomic.Int64 }

func (w *nopWriter) WriteRTP(_ *rtp.Header, p []byte) (int, error) { w.n.Add(1); return len(p), nil }
func (w *nopWriter) Write(b []byte) (int, error)                   { return len(b), nil }

// fanoutRig is one published VP8 layer fanned out to subscribers that cost
// nothing.
type fanoutRig struct {
	r        *Receiver
	downs    []*DownTrack
	writers  []*nopWriter
	raw      [][]byte
	pictures bool
}

// newFanoutRig builds the rig. With pictures, the packets carry a 15-bit
// picture id and a TL0PICIDX, and every down-track has already switched
// from layer 1 (numbered elsewhere) to layer 0, so each packet's
// descriptor is rewritten into a copy: the down-track's costliest path.
func newFanoutRig(subs int, pictures bool) *fanoutRig {
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	f := &fanoutRig{r: NewReceiver(ReceiverParams{Kind: Video, Codec: vp8}), pictures: pictures}
	f.r.layers[0].started.Store(true)
	f.r.layers[1].started.Store(true)
	f.downs = make([]*DownTrack, subs)
	f.writers = make([]*nopWriter, subs)
	for i := range f.downs {
		f.downs[i] = NewDownTrack(DownTrackParams{TrackID: "t", StreamID: "p", Receiver: f.r, Codec: vp8})
		f.writers[i] = &nopWriter{}
		_, _ = f.downs[i].Bind(fakeBindCtx{w: f.writers[i]})
		f.r.AddDownTrack(f.downs[i])
	}
	if pictures {
		for _, d := range f.downs {
			d.SetTargetLayer(1)
		}
		p := getPacket()
		n := copy(p.buf[:], vp8PacketPicture(1, 40000, 0, true, 20000, 99))
		f.r.handle(p, n, 1, 0)
		for f.written() < int64(subs) {
			time.Sleep(100 * time.Microsecond)
		}
	}
	for _, d := range f.downs {
		d.SetTargetLayer(0)
	}
	f.raw = make([][]byte, 256)
	for i := range f.raw {
		if pictures {
			f.raw[i] = vp8PacketPicture(0, uint16(i), uint32(i)*3000, i == 0, uint16(i), uint8(i))
		} else {
			f.raw[i] = vp8Packet(0, uint16(i), uint32(i)*3000, i == 0)
		}
		f.raw[i] = append(f.raw[i], make([]byte, 1000)...) // a realistic video packet size
	}
	return f
}

// feed publishes the i-th packet (a key frame every 256).
func (f *fanoutRig) feed(i int) {
	p := getPacket()
	n := copy(p.buf[:], f.raw[i%len(f.raw)])
	p.buf[2], p.buf[3] = byte(i>>8), byte(i) // keep the numbering moving
	if f.pictures {
		p.buf[14], p.buf[15], p.buf[16] = 0x80|byte(i>>8)&0x7f, byte(i), byte(i)
	}
	f.r.handle(p, n, 0, 0)
}

// drain waits until the writers have written everything queued.
func (f *fanoutRig) drain() {
	for _, d := range f.downs {
		for len(d.queue) > 0 {
			time.Sleep(100 * time.Microsecond)
		}
	}
}

func (f *fanoutRig) written() int64 {
	var n int64
	for _, w := range f.writers {
		n += w.n.Load()
	}
	return n
}

func (f *fanoutRig) close() {
	for _, d := range f.downs {
		f.r.RemoveDownTrack(d)
		d.Close()
	}
}

// BenchmarkFanout measures one publisher packet reaching N subscribers:
// parse, key frame detection, hand-off to N writer goroutines, rewrite and
// write. allocs/op is per published packet.
func BenchmarkFanout(b *testing.B) { benchFanout(b, false) }

// BenchmarkFanoutPictureIDs is BenchmarkFanout with every packet's VP8
// picture id and TL0PICIDX rewritten (subscribers past a layer switch).
func BenchmarkFanoutPictureIDs(b *testing.B) { benchFanout(b, true) }

func benchFanout(b *testing.B, pictures bool) {
	for _, subs := range []int{1, 10, 100} {
		b.Run(benchName(subs), func(b *testing.B) {
			f := newFanoutRig(subs, pictures)
			before := f.written()
			b.SetBytes(int64(len(f.raw[1])))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Back-pressure instead of drops: let the writers catch up.
				for len(f.downs[i%subs].queue) > QueueSize/2 {
					time.Sleep(10 * time.Microsecond)
				}
				f.feed(i)
			}
			f.drain()
			b.StopTimer()
			b.ReportMetric(float64(f.written()-before)/float64(b.N), "writes/op")
			f.close()
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

// TestFanoutAllocations: a published packet reaches its subscribers, its
// picture id rewritten for each, without allocating. The race detector
// allocates on its own and makes sync.Pool drop items, so it is skipped
// there (BenchmarkFanoutPictureIDs reports the same).
func TestFanoutAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not measurable under the race detector")
	}
	const subs = 3
	f := newFanoutRig(subs, true)
	defer f.close()
	i := 0
	allocs := testing.AllocsPerRun(2000, func() {
		want := f.written() + subs
		f.feed(i)
		i++
		for start := time.Now(); f.written() < want && time.Since(start) < 5*time.Second; {
			runtime.Gosched()
		}
	})
	require.Zero(t, allocs)
	require.GreaterOrEqual(t, f.written(), int64(2000*subs), "every packet written to every subscriber")
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

// vp8Frame is vp8Packet with the marker bit as given (the last packet of
// a frame).
func vp8Frame(seq uint16, ts uint32, key, marker bool) []byte {
	b := vp8Packet(0, seq, ts, key)
	if marker {
		b[1] |= 0x80
	}
	return b
}

// TestRewriterPadWaitsForRepairs: a packet that went missing and left
// the window of the last 64 (a long keyframe, a publisher far away) may
// still be repaired: no padding for RepairHorizon after, so the repair
// finds its sequence number free and goes out.
func TestRewriterPadWaitsForRepairs(t *testing.T) {
	const ms = int64(time.Millisecond)
	r := NewRewriter(90000)
	r.Switch(100, 0, 0)
	require.True(t, r.CanPad(0))
	// 101 lost; 102..199 arrive within 100 ms (a 100-packet keyframe).
	for seq := uint16(100); seq < 200; seq++ {
		if seq == 101 {
			continue
		}
		_, _, ok := r.Rewrite(seq, 0, int64(seq-100)*ms)
		require.True(t, ok)
	}
	require.False(t, r.CanPad(100*ms), "101 left the window of 64 but may still come")
	// It left with 165, which arrived at 65 ms.
	require.False(t, r.CanPad(65*ms+RepairHorizon-ms))
	// Its repair comes and goes out with its own number.
	out, _, ok := r.Rewrite(101, 0, 150*ms)
	require.True(t, ok)
	require.Equal(t, uint16(101), out)
	require.True(t, r.CanPad(65*ms+RepairHorizon), "the horizon has passed since it went missing")

	// A switch starts afresh.
	r.Switch(5000, 0, 2*RepairHorizon)
	for seq := uint16(5000); seq < 5100; seq++ {
		if seq != 5001 {
			r.Rewrite(seq, 0, 2*RepairHorizon+int64(seq-5000)*ms)
		}
	}
	require.False(t, r.CanPad(2*RepairHorizon+100*ms))
	r.Switch(9000, 0, 3*RepairHorizon)
	r.Rewrite(9000, 0, 3*RepairHorizon)
	require.True(t, r.CanPad(3*RepairHorizon+ms))
}

// TestRewriterSkipAfterGap: a publisher's padding right after a gap is
// dropped without shifting the numbering, so the missing packet, when it
// comes, keeps its own number (it must not take its predecessor's).
func TestRewriterSkipAfterGap(t *testing.T) {
	r := NewRewriter(90000)
	r.Switch(10, 0, 0)
	for _, seq := range []uint16{10, 11} {
		_, _, ok := r.Rewrite(seq, 0, 0)
		require.True(t, ok)
	}
	r.Skip(13, 0) // 12 missing
	late, _, ok := r.Rewrite(12, 0, 0)
	require.True(t, ok)
	require.Equal(t, uint16(12), late)
	next, _, ok := r.Rewrite(14, 0, 0)
	require.True(t, ok)
	require.Equal(t, uint16(14), next, "13's number is a hole, not reused")
	// At the head, padding still closes up.
	r.Skip(15, 0)
	next, _, _ = r.Rewrite(16, 0, 0)
	require.Equal(t, uint16(15), next)
}

// TestDownTrackPadding: padding goes out only between frames, with the
// next sequence number and the last timestamp, and the media after it
// follows on; it waits while a frame is half sent or a packet is missing,
// and a packet from before the padding that comes late is dropped.
func TestDownTrackPadding(t *testing.T) {
	r := NewReceiver(ReceiverParams{Kind: Video, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}})
	src := &memSource{ch: make(chan []byte)}
	r.Start(0, 100, src)
	d := NewDownTrack(DownTrackParams{TrackID: "t", StreamID: "p", Receiver: r, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}})
	w := &captureWriter{}
	_, err := d.Bind(fakeBindCtx{w: w})
	require.NoError(t, err)
	r.AddDownTrack(d)
	d.SetTargetLayer(0)
	require.False(t, (&DownTrack{kind: Audio}).QueuePadding(), "no padding on audio")

	settle := func() {
		require.Eventually(t, func() bool { return d.PaddingPending() == 0 }, 2*time.Second, time.Millisecond)
	}
	waitN := func(n int64) {
		require.Eventually(t, func() bool { return w.n.Load() >= n }, 2*time.Second, time.Millisecond)
	}
	src.ch <- vp8Frame(10, 3000, true, false) // first packet of a key frame
	waitN(1)
	require.True(t, d.QueuePadding())
	settle()
	require.Zero(t, d.PaddingSent(), "not in the middle of a frame")
	src.ch <- vp8Frame(11, 3000, false, true) // its last packet
	waitN(2)
	require.True(t, d.QueuePadding())
	require.True(t, d.QueuePadding())
	settle()
	require.Equal(t, uint64(2), d.PaddingSent())
	src.ch <- vp8Frame(12, 6000, false, true)
	waitN(5)
	got := w.snapshot()
	require.Len(t, got, 5)
	for i, p := range got {
		require.Equal(t, got[0].SequenceNumber+uint16(i), p.SequenceNumber, "packet %d: continuous numbering", i)
	}
	for _, p := range got[2:4] {
		require.True(t, p.Padding)
		require.Equal(t, byte(PaddingSize), p.Header.PaddingSize)
		require.Empty(t, p.Payload)
		require.Equal(t, got[1].Timestamp, p.Timestamp)
		require.Equal(t, uint32(4242), p.SSRC)
		require.False(t, p.Marker)
	}
	require.False(t, got[4].Padding)

	// Packet 13 is missing: no padding until it comes or scrolls away.
	src.ch <- vp8Frame(14, 9000, false, true)
	waitN(6)
	require.True(t, d.QueuePadding())
	settle()
	require.Equal(t, uint64(2), d.PaddingSent(), "a packet is missing")
	src.ch <- vp8Frame(13, 9000, false, false) // late, before any padding: forwarded
	waitN(7)
	require.True(t, d.QueuePadding())
	settle()
	require.Equal(t, uint64(3), d.PaddingSent())
	src.ch <- vp8Frame(12, 6000, false, true) // a repeat from before the padding: dropped
	src.ch <- vp8Frame(15, 12000, false, true)
	waitN(9)
	time.Sleep(20 * time.Millisecond)
	got = w.snapshot()
	require.Len(t, got, 9)
	require.True(t, got[7].Padding)
	require.False(t, got[8].Padding, "packet 12 was dropped, 15 follows the padding")
	require.Equal(t, got[7].SequenceNumber+1, got[8].SequenceNumber)

	r.Close()
	close(src.ch)
	r.Wait()
	d.Close()
}

// A source whose read never returns (pion can leave a simulcast reader so)
// must not hold a leaving participant for ever: WaitUntil gives up at its
// deadline, and reports the end once the source does end.
func TestWaitUntilIsBounded(t *testing.T) {
	r := NewReceiver(ReceiverParams{Kind: Video, Codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}})
	src := &memSource{ch: make(chan []byte)}
	r.Start(0, 100, src)
	r.Close()
	start := time.Now()
	require.False(t, r.WaitUntil(start.Add(50*time.Millisecond)), "the reader is still blocked")
	require.Less(t, time.Since(start), 5*time.Second)
	require.True(t, r.Reading())
	close(src.ch)
	require.True(t, r.WaitUntil(time.Now().Add(5*time.Second)))
	require.False(t, r.Reading())
}
