package sfu

import (
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hcw-home/hcw/media/internal/sfu/forward"
)

// Probing padding. A probe is a short cluster of padding-only RTP packets
// on one of a subscriber's video streams (forward.DownTrack.QueuePadding:
// between frames, in the stream's own numbering, which a receiver fills in
// and decodes on). Not on the RTX stream, as libwebrtc does: a receiver
// (libwebrtc's RemoteEstimatorProxy, pion's TWCC recorder) addresses its
// TWCC feedback to the SSRC of the last packet it got, and pion (v4.2)
// reads no RTCP addressed to a local RTX SSRC ("Incoming unhandled RTCP
// ssrc"), so most feedback on a probe there would be lost.
//
// The padding goes through the whole interceptor chain, so each packet
// gets a transport-wide sequence number and GCC sees it. The probe tap,
// registered just below the TWCC header extension interceptor, notes each
// padding packet's number and send time for the cluster in flight, and
// passes it the subscriber's TWCC feedback: when each arrived, if at all.
const (
	// probePacketBytes is a padding packet's size as the node counts
	// media (RTP header with the transport-wide sequence number, no SRTP
	// tag).
	probePacketBytes = 12 + 8 + forward.PaddingSize
	// maxProbePackets bounds one cluster (and its measurement buffer).
	maxProbePackets = 1024
)

// probeTap is an interceptor (one per "sub" connection, so the factory is
// its own interceptor) registered right before the TWCC header extension
// interceptor, so that it sees each packet with its transport-wide
// sequence number.
type probeTap struct {
	interceptor.NoOp
	active atomic.Pointer[probeCluster]
	bytes  prometheus.Counter // padding sent
	// twcc: a video stream was bound with the transport-wide sequence
	// number, so probes on it can be measured (without, no probing).
	twcc atomic.Bool
}

// NewInterceptor implements interceptor.Factory.
func (pt *probeTap) NewInterceptor(string) (interceptor.Interceptor, error) { return pt, nil }

// BindLocalStream implements interceptor.Interceptor: it notes the
// padding packets (padding only, of forward.PaddingSize: media never is,
// and a retransmission drops its padding).
func (pt *probeTap) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	var twccID uint8
	for _, e := range info.RTPHeaderExtensions {
		if e.URI == transportCCURI {
			twccID = uint8(e.ID)
		}
	}
	if twccID == 0 || !strings.HasPrefix(strings.ToLower(info.MimeType), "video/") {
		return w
	}
	pt.twcc.Store(true)
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.Padding && len(payload) == 0 && h.PaddingSize == forward.PaddingSize {
			if ext := h.GetExtension(twccID); len(ext) >= 2 {
				size := h.MarshalSize() + int(h.PaddingSize)
				if c := pt.active.Load(); c != nil {
					c.sent(time.Now(), binary.BigEndian.Uint16(ext), size)
				}
				pt.bytes.Add(float64(size))
			}
		}
		return w.Write(h, payload, a)
	})
}

// BindRTCPReader implements interceptor.Interceptor: the subscriber's
// TWCC feedback goes to the cluster in flight.
func (pt *probeTap) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attr, err := r.Read(b, a)
		if err != nil {
			return n, attr, err
		}
		c := pt.active.Load()
		if c == nil {
			return n, attr, nil
		}
		if attr == nil {
			attr = make(interceptor.Attributes)
		}
		// Parsed once for the whole chain (the CC interceptor asks too).
		pkts, perr := attr.GetRTCPPackets(b[:n])
		if perr != nil {
			return n, attr, nil // the interceptors that need it complain
		}
		now := time.Now()
		for _, pkt := range pkts {
			if fb, ok := pkt.(*rtcp.TransportLayerCC); ok {
				c.feedback(now, fb)
			}
		}
		return n, attr, nil
	})
}

// transportCCURI is the transport-wide CC header extension.
const transportCCURI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

// Packet states in a cluster.
const (
	probePending uint8 = iota
	probeReceived
	probeLost
)

// probePacket is one padding packet of a cluster.
type probePacket struct {
	sent    int64 // µs since the cluster began
	arrival int64 // µs, the subscriber's clock (TWCC reference time)
	size    int32
	rel     uint16 // its transport-wide sequence number - the first's
	status  uint8
}

// probeCluster measures one probe: what was sent, when (node clock), and
// what the subscriber's TWCC feedback says arrived, when (its clock). The
// writer appends, the RTCP readers report; both under mu. Reused from one
// probe to the next (no allocation once its buffer exists).
type probeCluster struct {
	mu       sync.Mutex
	start    time.Time
	pkts     []probePacket
	firstSeq uint16
	received int
	lost     int
	minOWD   int64     // µs, the smallest one-way delay (plus the clock offset) seen
	recent   [16]int64 // the last one-way delays reported
	nRecent  int
	lastFB   time.Time // when feedback last reported one of the cluster's packets
}

func newProbeCluster() *probeCluster {
	return &probeCluster{pkts: make([]probePacket, 0, maxProbePackets)}
}

// reset starts a new measurement.
func (c *probeCluster) reset(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.start = now
	c.pkts = c.pkts[:0]
	c.received, c.lost, c.nRecent = 0, 0, 0
	c.minOWD = 0
	c.lastFB = time.Time{}
}

// count is how many packets the cluster holds, and whether it is full.
func (c *probeCluster) count() (n int, full bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pkts), len(c.pkts) == cap(c.pkts)
}

// sent records a packet with transport-wide sequence number seq, sent at
// at, of size bytes.
func (c *probeCluster) sent(at time.Time, seq uint16, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pkts) == cap(c.pkts) {
		return
	}
	if len(c.pkts) == 0 {
		c.firstSeq = seq
	} else if rel := seq - c.firstSeq; rel <= c.pkts[len(c.pkts)-1].rel {
		// Not newer than the last: a retransmitted padding packet (the
		// NACK responder resends padding as it is when RTX is not
		// negotiated, from another goroutine). The packets stay in
		// order for feedback's binary search.
		return
	}
	c.pkts = append(c.pkts, probePacket{sent: at.Sub(c.start).Microseconds(), size: int32(size), rel: seq - c.firstSeq})
}

// feedback applies one TWCC feedback packet to the cluster's packets.
func (c *probeCluster) feedback(now time.Time, fb *rtcp.TransportLayerCC) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pkts) == 0 {
		return
	}
	last := c.pkts[len(c.pkts)-1].rel
	at := int64(fb.ReferenceTime) * 64000 // µs
	seq := fb.BaseSequenceNumber
	left := int(fb.PacketStatusCount)
	delta := 0
	status := func(symbol uint16) bool {
		received := symbol == rtcp.TypeTCCPacketReceivedSmallDelta || symbol == rtcp.TypeTCCPacketReceivedLargeDelta
		if received {
			if delta >= len(fb.RecvDeltas) {
				return false // malformed: fewer deltas than received packets
			}
			at += fb.RecvDeltas[delta].Delta
			delta++
		}
		rel := seq - c.firstSeq
		seq++
		left--
		if rel > last {
			return left > 0 // before the cluster or after its last packet so far
		}
		i, found := slices.BinarySearchFunc(c.pkts, rel, func(p probePacket, rel uint16) int { return int(p.rel) - int(rel) })
		if !found || c.pkts[i].status != probePending {
			return left > 0
		}
		c.lastFB = now
		p := &c.pkts[i]
		switch {
		case received:
			p.status, p.arrival = probeReceived, at
			c.received++
			owd := at - p.sent
			if c.received == 1 || owd < c.minOWD {
				c.minOWD = owd
			}
			c.recent[c.nRecent%len(c.recent)] = owd
			c.nRecent++
		case symbol == rtcp.TypeTCCPacketNotReceived:
			p.status = probeLost
			c.lost++
		}
		return left > 0
	}
	for _, chunk := range fb.PacketChunks {
		if left <= 0 {
			return
		}
		switch ch := chunk.(type) {
		case *rtcp.RunLengthChunk:
			for range min(int(ch.RunLength), left) {
				if !status(ch.PacketStatusSymbol) {
					return
				}
			}
		case *rtcp.StatusVectorChunk:
			for _, sym := range ch.SymbolList {
				if !status(sym) {
					return
				}
			}
		}
	}
}

// feedbackLate reports whether the cluster's packets have been going out
// for longer than wait (from the first one) with no feedback on any of
// them for wait: the feedback is held up in a queue, or lost. Either way
// the probe cannot be judged while it runs, and it may be filling a
// queue.
func (c *probeCluster) feedbackLate(now time.Time, wait time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pkts) == 0 || now.Sub(c.start) < time.Duration(c.pkts[0].sent)*time.Microsecond+wait {
		return false
	}
	return c.lastFB.IsZero() || now.Sub(c.lastFB) > wait
}

// probeSignal is what a cluster in flight says so far.
type probeSignal struct {
	congestion string // why the link looks congested, "" when it does not
	complete   bool   // every packet sent so far is reported
}

// Congestion during a probe: more loss than this among the reported
// packets, or every one of the last 16 packets reported later than the
// earliest by more than that (a queue is building: the link does not
// carry the probe; one late packet, or a few read late by a busy
// receiver, are not a queue).
const (
	probeMaxLoss      = 0.1
	probeMaxDelayRise = 40 * time.Millisecond
)

// signal reads the cluster in flight.
func (c *probeCluster) signal() probeSignal {
	c.mu.Lock()
	defer c.mu.Unlock()
	reported := c.received + c.lost
	s := probeSignal{complete: len(c.pkts) > 0 && reported == len(c.pkts)}
	if reported >= 10 && float64(c.lost) > probeMaxLoss*float64(reported) {
		s.congestion = "loss"
	}
	if c.nRecent >= len(c.recent) && time.Duration(slices.Min(c.recent[:])-c.minOWD)*time.Microsecond > probeMaxDelayRise {
		s.congestion = "delay rising"
	}
	return s
}

// probeResult is a finished cluster's measure.
type probeResult struct {
	packets, received int
	sendRate          int64 // bits/s at which the padding left
	recvRate          int64 // bits/s at which it arrived
	delayRise         time.Duration
}

// result measures the cluster: the rates are libwebrtc's (the bytes of
// all packets but the last sent over the send interval, of all but the
// first received over the arrival interval); the delay rise compares the
// first and last quarter of the packets received.
func (c *probeCluster) result() probeResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := probeResult{packets: len(c.pkts), received: c.received}
	n := len(c.pkts)
	if n < 2 {
		return r
	}
	var sent int64
	for _, p := range c.pkts[:n-1] {
		sent += int64(p.size)
	}
	if d := c.pkts[n-1].sent - c.pkts[0].sent; d > 0 {
		r.sendRate = sent * 8 * 1e6 / d
	}
	if c.received < 2 {
		return r
	}
	var first, last, firstSize, bytes int64
	seen := 0
	for _, p := range c.pkts {
		if p.status != probeReceived {
			continue
		}
		if seen == 0 || p.arrival < first {
			first, firstSize = p.arrival, int64(p.size)
		}
		if seen == 0 || p.arrival > last {
			last = p.arrival
		}
		bytes += int64(p.size)
		seen++
	}
	if last > first {
		r.recvRate = (bytes - firstSize) * 8 * 1e6 / (last - first)
	}
	q := max(c.received/4, 1)
	var head, tail int64
	h, t := 0, 0
	for _, p := range c.pkts {
		if p.status == probeReceived && h < q {
			head += p.arrival - p.sent
			h++
		}
	}
	for i := n - 1; i >= 0 && t < q; i-- {
		if p := c.pkts[i]; p.status == probeReceived {
			tail += p.arrival - p.sent
			t++
		}
	}
	r.delayRise = time.Duration(tail/int64(t)-head/int64(h)) * time.Microsecond
	return r
}
