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
			Help: "Packets NACKed by subscribers.",
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
		packets, bytes, m.dropped, m.nacks, m.plis, m.layerSwitches,
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
