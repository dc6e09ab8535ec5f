package sfu

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/media/internal/sfu/forward"
)

// feedbackFor builds the subscriber's TWCC feedback on transport-wide
// sequence numbers from first (inclusive) to end (exclusive): arrival
// gives each one's arrival time in µs, or -1 when lost.
func feedbackFor(t *testing.T, first, end uint16, arrival func(seq uint16) int64) []*rtcp.TransportLayerCC {
	t.Helper()
	rec := twcc.NewRecorder(1)
	for seq := first; seq != end; seq++ {
		if at := arrival(seq); at >= 0 {
			rec.Record(2, seq, at)
		}
	}
	var out []*rtcp.TransportLayerCC
	for _, p := range rec.BuildFeedbackPacket() {
		if fb, ok := p.(*rtcp.TransportLayerCC); ok {
			out = append(out, fb)
		}
	}
	require.NotEmpty(t, out)
	return out
}

// TestProbeClusterMeasure: a cluster of padding interleaved with media on
// the transport-wide numbering (which wraps on the way) is measured from
// the subscriber's feedback: arriving as sent, at half the rate (a
// bottleneck: the delay rises), or with a fifth of it lost.
func TestProbeClusterMeasure(t *testing.T) {
	const (
		packets = 200
		gap     = 1000 // µs between probe packets: 2.2 Mbit/s of 275-byte packets
		base    = 65500
	)
	// Every third transport-wide number is a media packet.
	seqOf := func(i int) uint16 { return uint16(base + i + i/2) }
	for _, tc := range []struct {
		name      string
		arrival   func(i int) int64 // µs after 1 s, -1 lost
		congested bool
		minRatio  float64
		maxRatio  float64
		rise      time.Duration
	}{
		{"as sent", func(i int) int64 { return int64(i * gap) }, false, 0.95, 1.05, 0},
		{"half the rate", func(i int) int64 { return int64(i * 2 * gap) }, true, 0.45, 0.55, 150 * time.Millisecond},
		{"a fifth lost", func(i int) int64 {
			if i%5 == 0 {
				return -1
			}
			return int64(i * gap)
		}, true, 0.75, 0.85, 0}, // what arrived did at the rate sent
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newProbeCluster()
			start := time.Now()
			c.reset(start)
			for i := range packets {
				c.sent(start.Add(time.Duration(i*gap)*time.Microsecond), seqOf(i), probePacketBytes)
			}
			byseq := map[uint16]int64{}
			for i := range packets {
				byseq[seqOf(i)] = tc.arrival(i)
			}
			// Media packets arrive too; they are not the cluster's.
			last := seqOf(packets - 1)
			fbs := feedbackFor(t, seqOf(0)-5, last+3, func(seq uint16) int64 {
				at, probe := byseq[seq]
				if !probe {
					return 1_000_000 + int64(uint16(seq-seqOf(0)))*gap*2/3
				}
				if at < 0 {
					return -1
				}
				return 1_000_000 + at
			})
			now := time.Now()
			for _, fb := range fbs {
				c.feedback(now, fb)
				c.feedback(now, fb) // a repeat changes nothing
			}
			sig := c.signal()
			require.Equal(t, tc.congested, sig.congestion != "", sig.congestion)
			res := c.result()
			require.Equal(t, packets, res.packets)
			if tc.name == "a fifth lost" {
				require.Equal(t, packets*4/5, res.received)
				require.True(t, sig.complete, "lost packets are reported too")
			} else {
				require.Equal(t, packets, res.received)
				require.True(t, sig.complete)
			}
			wantSend := int64(probePacketBytes * 8 * 1e6 / gap)
			require.InDelta(t, wantSend, res.sendRate, float64(wantSend)/50)
			ratio := float64(res.recvRate) / float64(res.sendRate)
			require.GreaterOrEqual(t, ratio, tc.minRatio)
			require.LessOrEqual(t, ratio, tc.maxRatio)
			require.GreaterOrEqual(t, res.delayRise, tc.rise)
			if tc.rise == 0 {
				require.Less(t, res.delayRise, 5*time.Millisecond)
			}
		})
	}
}

// TestProbeClusterIgnoresOthers: feedback on numbers before the cluster,
// or before its first packet was sent, changes nothing.
func TestProbeClusterIgnoresOthers(t *testing.T) {
	c := newProbeCluster()
	start := time.Now()
	c.reset(start)
	fb := feedbackFor(t, 100, 120, func(uint16) int64 { return 5000 })
	c.feedback(start, fb[0]) // nothing sent yet
	for i := range 10 {
		c.sent(start.Add(time.Duration(i)*time.Millisecond), uint16(200+i), probePacketBytes)
	}
	c.feedback(start, fb[0]) // all before the cluster
	require.False(t, c.signal().complete)
	require.Zero(t, c.result().received)
}

// TestProbeClusterKeepsOrder: a padding packet resent as it is (no RTX,
// from the NACK responder's goroutine) can reach the tap out of order
// with the writer's; the cluster keeps only packets newer than its last,
// so its feedback lookup stays sorted.
func TestProbeClusterKeepsOrder(t *testing.T) {
	c := newProbeCluster()
	start := time.Now()
	c.reset(start)
	for _, seq := range []uint16{65534, 65535, 0, 65535, 2, 1, 3} {
		c.sent(start, seq, probePacketBytes)
	}
	n, _ := c.count()
	require.Equal(t, 5, n, "65534, 65535, 0, 2, 3")
	fb := feedbackFor(t, 65534, 4, func(uint16) int64 { return 1000 })
	c.feedback(start, fb[0])
	require.Equal(t, 5, c.result().received)
}

// TestProbeClusterFeedbackLate: a probe sending for longer than the wait
// with no feedback on its packets is late; feedback keeps it on time
// until the feedback stops for the wait.
func TestProbeClusterFeedbackLate(t *testing.T) {
	const wait = 500 * time.Millisecond
	c := newProbeCluster()
	start := time.Now()
	c.reset(start)
	require.False(t, c.feedbackLate(start.Add(time.Hour), wait), "nothing sent")
	first := start.Add(100 * time.Millisecond)
	for i := range 20 {
		c.sent(first.Add(time.Duration(i)*10*time.Millisecond), uint16(i), probePacketBytes)
	}
	require.False(t, c.feedbackLate(first.Add(wait-time.Millisecond), wait))
	require.True(t, c.feedbackLate(first.Add(wait+time.Millisecond), wait), "no feedback at all")
	fb := feedbackFor(t, 0, 5, func(uint16) int64 { return 1000 })
	at := first.Add(200 * time.Millisecond)
	c.feedback(at, fb[0])
	require.False(t, c.feedbackLate(first.Add(wait+time.Millisecond), wait))
	require.False(t, c.feedbackLate(at.Add(wait), wait))
	require.True(t, c.feedbackLate(at.Add(wait+time.Millisecond), wait), "the feedback stopped")
}

// TestProbeTap: below the TWCC header extension, the tap notes the
// padding packets of the cluster in flight (not media, not audio) and
// hands it the subscriber's TWCC feedback; media passes untouched.
func TestProbeTap(t *testing.T) {
	reg := prometheus.NewRegistry()
	bytes := prometheus.NewCounter(prometheus.CounterOpts{Name: "padding"})
	reg.MustRegister(bytes)
	tap := &probeTap{bytes: bytes}
	require.False(t, tap.twcc.Load())
	var written []rtp.Header
	sink := interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
		written = append(written, h.Clone())
		return h.MarshalSize() + len(payload), nil
	})
	ext := []interceptor.RTPHeaderExtension{{URI: transportCCURI, ID: 5}}
	video := tap.BindLocalStream(&interceptor.StreamInfo{SSRC: 1111, MimeType: "video/VP8", RTPHeaderExtensions: ext}, sink)
	audio := tap.BindLocalStream(&interceptor.StreamInfo{SSRC: 3333, MimeType: "audio/opus", RTPHeaderExtensions: ext}, sink)
	noTWCC := tap.BindLocalStream(&interceptor.StreamInfo{SSRC: 5555, MimeType: "video/VP8"}, sink)
	require.True(t, tap.twcc.Load(), "a video stream with TWCC: probes can be measured")

	// What the TWCC header extension interceptor hands down.
	var twseq uint16 = 65534
	packet := func(padding bool) *rtp.Header {
		h := &rtp.Header{Version: 2, SSRC: 1111, SequenceNumber: 7}
		if padding {
			h.Padding, h.PaddingSize = true, forward.PaddingSize
		}
		require.NoError(t, h.SetExtension(5, []byte{byte(twseq >> 8), byte(twseq)}))
		twseq++
		return h
	}
	c := newProbeCluster()
	start := time.Now()
	c.reset(start)
	_, err := video.Write(packet(true), nil, nil) // 65534, no cluster in flight yet
	require.NoError(t, err)
	tap.active.Store(c)
	_, err = video.Write(packet(false), []byte{1, 2, 3}, nil) // 65535, media
	require.NoError(t, err)
	for range 3 { // 0, 1, 2
		_, err = video.Write(packet(true), nil, nil)
		require.NoError(t, err)
	}
	_, err = audio.Write(packet(true), nil, nil) // 3, not video
	require.NoError(t, err)
	_, err = noTWCC.Write(&rtp.Header{Version: 2, Padding: true, PaddingSize: forward.PaddingSize}, nil, nil)
	require.NoError(t, err)
	require.Len(t, written, 7, "everything passes")
	n, _ := c.count()
	require.Equal(t, 3, n)
	require.Equal(t, float64(4*probePacketBytes), counterValue(t, reg, "padding"), "padding bytes, with the one before the cluster")

	// The feedback (as a compound, the way the CC interceptor parses it).
	fb := feedbackFor(t, 65534, 4, func(seq uint16) int64 { return 1_000_000 + int64(seq) })
	raw, err := rtcp.Marshal([]rtcp.Packet{fb[0]})
	require.NoError(t, err)
	reader := tap.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return copy(b, raw), a, nil
	}))
	_, _, err = reader.Read(make([]byte, 1500), nil)
	require.NoError(t, err)
	require.True(t, c.signal().complete)
	require.Equal(t, 3, c.result().received)

	tap.active.Store(nil)
	_, _, err = reader.Read(make([]byte, 1500), nil)
	require.NoError(t, err, "no cluster in flight: feedback passes")
}
