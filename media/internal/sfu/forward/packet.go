// Package forward is the SFU's packet plane: it reads RTP from a published
// track's layers, hands each packet to the down-tracks that want it, picks
// and switches simulcast layers at key frames and rewrites sequence numbers,
// timestamps and VP8 picture numbering so each subscriber sees one
// continuous stream. It knows nothing of rooms, participants or signalling.
package forward

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// MaxPacketSize is the largest RTP packet read from a publisher (above
// pion's default receive MTU of 1460).
const MaxPacketSize = 1500

// Kind is a track's media kind.
type Kind uint8

// Kinds.
const (
	Audio Kind = iota + 1
	Video
)

// MaxLayers is the most simulcast layers a track has (q, h, f).
const MaxLayers = 3

// Packet is one RTP packet on its way from a publisher to subscribers. It
// is pooled and reference counted: each down-track queue holds one
// reference and releases it once written.
type Packet struct {
	Header   rtp.Header
	Payload  []byte
	Layer    int8
	Gen      uint32 // the layer's source generation (bumps when republished)
	Keyframe bool   // first packet of a key frame
	Arrival  int64  // monotonic ns

	refs atomic.Int32
	buf  [MaxPacketSize]byte
}

var packetPool = sync.Pool{New: func() any { return new(Packet) }}

func getPacket() *Packet { return packetPool.Get().(*Packet) }

func (p *Packet) release() {
	if p.refs.Add(-1) == 0 {
		packetPool.Put(p)
	}
}

// parse reads the header of the n bytes in buf and sets Payload without
// padding. It reports false for a packet too short to be RTP.
func (p *Packet) parse(n int) bool {
	hs, err := p.Header.Unmarshal(p.buf[:n])
	if err != nil || hs > n {
		return false
	}
	end := n
	if p.Header.Padding {
		pad := int(p.buf[n-1])
		if pad == 0 || hs+pad > n {
			return false
		}
		end -= pad
	}
	p.Payload = p.buf[hs:end]
	return true
}

var epoch = time.Now()

// nanotime is monotonic nanoseconds since the package started.
func nanotime() int64 { return int64(time.Since(epoch)) }

// Counter is the part of a Prometheus counter the packet plane uses.
type Counter interface{ Add(float64) }

type nopCounter struct{}

func (nopCounter) Add(float64) {}

// Metrics are the packet plane's counters; nil fields count nothing.
type Metrics struct {
	PacketsIn, BytesIn   Counter
	PacketsOut, BytesOut Counter
	Dropped              Counter // queue full, write errors
	LayerSwitches        Counter
	KeyframeRequests     Counter
}

func (m *Metrics) fill() *Metrics {
	out := Metrics{}
	if m != nil {
		out = *m
	}
	for _, c := range []*Counter{&out.PacketsIn, &out.BytesIn, &out.PacketsOut, &out.BytesOut, &out.Dropped, &out.LayerSwitches, &out.KeyframeRequests} {
		if *c == nil {
			*c = nopCounter{}
		}
	}
	return &out
}
