package sfu

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hcw-home/hcw/media/internal/sfu/forward"
)

type metrics struct {
	packetsIn, bytesIn   prometheus.Counter
	packetsOut, bytesOut prometheus.Counter
	dropped              prometheus.Counter
	nacks, plis          prometheus.Counter
	layerSwitches        prometheus.Counter
	loss                 *prometheus.HistogramVec
	rtt                  prometheus.Histogram
	iceRestarts          *prometheus.CounterVec
	negotiationTimeouts  prometheus.Counter
	probes               *prometheus.CounterVec
	probeBytes           prometheus.Counter
}

func newMetrics(s *SFU, reg prometheus.Registerer) (*metrics, error) {
	packets := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "hcw", Subsystem: "media", Name: "packets_total",
		Help: "RTP packets received from publishers (in) and forwarded to subscribers (out).",
	}, []string{"direction"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "hcw", Subsystem: "media", Name: "bytes_total",
		Help: "RTP bytes received from publishers (in) and forwarded to subscribers (out).",
	}, []string{"direction"})
	m := &metrics{
		packetsIn:  packets.WithLabelValues("in"),
		packetsOut: packets.WithLabelValues("out"),
		bytesIn:    bytes.WithLabelValues("in"),
		bytesOut:   bytes.WithLabelValues("out"),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hcw", Subsystem: "media", Name: "packets_dropped_total",
			Help: "Packets dropped by the forwarder (a subscriber's queue full, a write error).",
		}),
		nacks: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hcw", Subsystem: "media", Name: "nacks_total",
			Help: "Packets NACKed by subscribers (a packet NACKed again counts again).",
		}),
		loss: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "hcw", Subsystem: "media", Name: "loss_ratio",
			Help:    "Packet loss per participant and quality interval, from RTCP receiver reports: up (what it publishes, reported by the node) and down (what the node sends it, reported by the participant).",
			Buckets: []float64{0.005, 0.01, 0.02, 0.05, 0.08, 0.1, 0.2, 0.5},
		}, []string{"direction"}),
		iceRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hcw", Subsystem: "media", Name: "ice_restarts_total",
			Help: "ICE restarts: of pub connections by their client, of sub connections by the node after ICE was lost.",
		}, []string{"target"}),
		negotiationTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hcw", Subsystem: "media", Name: "negotiation_timeouts_total",
			Help: "Sessions ended because a sub offer was not answered in time.",
		}),
		rtt: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "hcw", Subsystem: "media", Name: "rtt_seconds",
			Help:    "Round trip between the node and a participant per quality interval, from RTCP receiver reports.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.35, 0.5, 1},
		}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hcw", Subsystem: "media", Name: "probes_total",
			Help: "Bandwidth probes (padding sent to a subscriber so its estimate can reach the layers it wants): started, and how they ended: succeeded, aborted (congestion while probing) or failed (the padding did not arrive as sent).",
		}, []string{"event"}),
		probeBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hcw", Subsystem: "media", Name: "probe_padding_bytes_total",
			Help: "Bytes of probe padding sent to subscribers (RTP, before SRTP).",
		}),
		plis: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hcw", Subsystem: "media", Name: "plis_total",
			Help: "Key frame requests (PLI) sent to publishers.",
		}),
		layerSwitches: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hcw", Subsystem: "media", Name: "layer_switches_total",
			Help: "Simulcast layer switches made for subscribers.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	gauge := func(name, help string, f func(l loadCounts) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "hcw", Subsystem: "media", Name: name, Help: help},
			func() float64 { return float64(f(s.counts())) })
	}
	for _, c := range []prometheus.Collector{
		packets, bytes, m.dropped, m.nacks, m.plis, m.layerSwitches, m.loss, m.rtt, m.iceRestarts, m.negotiationTimeouts, m.probes, m.probeBytes,
		gauge("rooms", "Rooms on this node.", func(l loadCounts) int { return l.rooms }),
		gauge("participants", "Participants on this node, reconnecting ones included.", func(l loadCounts) int { return l.participants }),
		gauge("tracks", "Published tracks receiving media.", func(l loadCounts) int { return l.tracks }),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// sumCounter feeds a Prometheus counter and a plain total (for Load).
type sumCounter struct {
	c     prometheus.Counter
	total *atomic.Int64
}

func (s sumCounter) Add(v float64) {
	s.c.Add(v)
	s.total.Add(int64(v))
}

func (m *metrics) forward(bytesOut *atomic.Int64) *forward.Metrics {
	return &forward.Metrics{
		PacketsIn: m.packetsIn, BytesIn: m.bytesIn,
		PacketsOut: m.packetsOut, BytesOut: sumCounter{c: m.bytesOut, total: bytesOut},
		Dropped: m.dropped, LayerSwitches: m.layerSwitches, KeyframeRequests: m.plis,
	}
}
