package sfu

import (
	"math"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/hcw-home/hcw/contract/signal"
)

// qualityInterval is how often each participant's connection quality is
// worked out (and announced when its level changed).
const qualityInterval = 2 * time.Second

// Quality levels: the worse of the loss and the round trip decides.
const (
	excellentLoss = 0.02
	goodLoss      = 0.08
	excellentRTT  = 150 * time.Millisecond
	goodRTT       = 350 * time.Millisecond
)

// qualityLevel grades a connection by its loss (fraction) and round trip
// (0 when unknown).
func qualityLevel(loss float64, rtt time.Duration) string {
	switch {
	case loss < excellentLoss && rtt < excellentRTT:
		return signal.QualityExcellent
	case loss < goodLoss && rtt < goodRTT:
		return signal.QualityGood
	default:
		return signal.QualityPoor
	}
}

// linkStats keeps what RTCP receiver reports say of one participant's
// connection: the node's reports on what it publishes (uplink loss) and its
// reports on what the node sends it (downlink loss and the round trip,
// from the node's sender reports they echo). It has its own lock; taken
// under SFU.mu, never the reverse.
type linkStats struct {
	mu   sync.Mutex
	up   map[uint32]lossSample // by the reported SSRC
	down map[uint32]lossSample
	rtt  []time.Duration // since the last take
}

type lossSample struct {
	loss float64
	at   time.Time
}

func newLinkStats() *linkStats {
	return &linkStats{up: make(map[uint32]lossSample), down: make(map[uint32]lossSample)}
}

// observeUp records the node's receiver reports on the participant's
// published streams.
func (l *linkStats) observeUp(now time.Time, reports []rtcp.ReceptionReport) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range reports {
		l.up[r.SSRC] = lossSample{loss: float64(r.FractionLost) / 256, at: now}
	}
}

// observeDown records the participant's report block on the stream ssrc
// the node sends it.
func (l *linkStats) observeDown(now time.Time, ssrc uint32, reports []rtcp.ReceptionReport) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range reports {
		if r.SSRC != ssrc {
			continue // another sender's block; it gets its own copy
		}
		l.down[r.SSRC] = lossSample{loss: float64(r.FractionLost) / 256, at: now}
		if rtt, ok := roundTrip(now, r); ok && len(l.rtt) < 64 {
			l.rtt = append(l.rtt, rtt)
		}
	}
}

// downLoss is the worst loss the participant reported, within window, on
// a stream the node sends it; -1 when none. It forgets nothing (take
// does).
func (l *linkStats) downLoss(now time.Time, window time.Duration) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	worst := -1.0
	for _, s := range l.down {
		if now.Sub(s.at) <= window {
			worst = max(worst, s.loss)
		}
	}
	return worst
}

// linkFigures are a participant's connection over the last interval; a
// loss of -1 means no report in that direction.
type linkFigures struct {
	up, down float64
	rtt      time.Duration // 0 when unknown
}

// fresh reports whether any report arrived.
func (f linkFigures) fresh() bool { return f.up >= 0 || f.down >= 0 || f.rtt > 0 }

// loss is the worse direction's loss.
func (f linkFigures) loss() float64 { return max(f.up, f.down, 0) }

// take returns the worst loss each way among the streams reported within
// window, and the mean round trip since the last take; it forgets reports
// older than the window.
func (l *linkStats) take(now time.Time, window time.Duration) linkFigures {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := linkFigures{up: -1, down: -1}
	worst := func(m map[uint32]lossSample) float64 {
		w := -1.0
		for ssrc, s := range m {
			if now.Sub(s.at) > window {
				delete(m, ssrc)
				continue
			}
			w = max(w, s.loss)
		}
		return w
	}
	f.up, f.down = worst(l.up), worst(l.down)
	if len(l.rtt) > 0 {
		var sum time.Duration
		for _, r := range l.rtt {
			sum += r
		}
		f.rtt = sum / time.Duration(len(l.rtt))
		l.rtt = l.rtt[:0]
	}
	return f
}

// roundTrip is RFC 3550's round trip from a report block echoing one of
// the node's sender reports: arrival - LSR - DLSR, in 1/65536 s.
func roundTrip(now time.Time, r rtcp.ReceptionReport) (time.Duration, bool) {
	if r.LastSenderReport == 0 {
		return 0, false
	}
	d := ntpShort(now) - r.LastSenderReport - r.Delay
	if d >= 1<<31 { // the clock went back, or a bogus report
		return 0, false
	}
	return time.Duration(d) * time.Second >> 16, true
}

// ntpShort is the middle 32 bits of t's NTP timestamp (RFC 3550 LSR).
func ntpShort(t time.Time) uint32 {
	const ntpEpochOffset = 2208988800 // 1900 to 1970, in seconds
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return uint32(secs<<16 | frac>>16)
}

// reportTap watches the RTCP a "pub" connection sends: the receiver
// reports pion's report interceptor writes about the participant's
// streams. It must come before that interceptor in the registry, so the
// reports are written through it.
type reportTap struct {
	interceptor.NoOp
	link *linkStats
}

// NewInterceptor implements interceptor.Factory (one tap per peer
// connection, so the factory is its own interceptor).
func (t *reportTap) NewInterceptor(string) (interceptor.Interceptor, error) { return t, nil }

// BindRTCPWriter implements interceptor.Interceptor.
func (t *reportTap) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		for _, pkt := range pkts {
			if rr, ok := pkt.(*rtcp.ReceiverReport); ok {
				t.link.observeUp(time.Now(), rr.Reports)
			}
		}
		return w.Write(pkts, a)
	})
}

// connectionLost reports whether either peer connection of the current
// pair went disconnected or failed.
func (p *participant) connectionLost() bool {
	for _, st := range []*atomicState{&p.pubState, &p.subState} {
		switch st.Load() {
		case webrtc.PeerConnectionStateDisconnected, webrtc.PeerConnectionStateFailed:
			return true
		}
	}
	return false
}

// updateQuality grades each participant's connection and tells its room
// when the grade changed.
func (s *SFU) updateQuality() {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rooms {
		for _, p := range r.participants {
			f := p.link.take(now, 2*qualityInterval)
			if f.up >= 0 {
				s.met.loss.WithLabelValues("up").Observe(f.up)
			}
			if f.down >= 0 {
				s.met.loss.WithLabelValues("down").Observe(f.down)
			}
			if f.rtt > 0 {
				s.met.rtt.Observe(f.rtt.Seconds())
			}
			q := signal.Quality{Participant: string(p.id), Loss: math.Round(f.loss()*1000) / 1000, RTTMillis: int(f.rtt.Milliseconds())}
			switch {
			case p.sess == nil || p.connectionLost():
				q.Quality = signal.QualityLost
			case !f.fresh():
				continue // nothing to go by: keep the last grade
			default:
				q.Quality = qualityLevel(f.loss(), f.rtt)
			}
			if q.Quality == p.quality.Quality {
				continue
			}
			p.quality = q
			p.log.Debug("connection quality", "quality", q.Quality, "loss", q.Loss, "rtt_ms", q.RTTMillis)
			r.broadcast(nil, signal.TypeQuality, q)
		}
	}
}
