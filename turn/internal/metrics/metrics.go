// Package metrics holds the TURN server's Prometheus collectors, registered
// on their own registry so tests and the server never share global state.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

const namespace = "hcw_turn"

// Relay directions, as seen from the relay socket: "in" is peer to relay
// (towards the client), "out" is relay to peer (from the client).
const (
	DirectionIn  = "in"
	DirectionOut = "out"
)

// Metrics are the TURN server's collectors.
type Metrics struct {
	// Registry holds every collector below plus Go and process collectors.
	Registry *prometheus.Registry

	Allocations        prometheus.Gauge
	AllocationsTotal   prometheus.Counter
	RelayedBytes       *prometheus.CounterVec
	RelayedPackets     *prometheus.CounterVec
	AuthFailures       *prometheus.CounterVec
	PermissionRefusals *prometheus.CounterVec
	QuotaRefusals      prometheus.Counter
}

// New creates and registers the collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Allocations: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "allocations",
			Help: "Current number of TURN allocations.",
		}),
		AllocationsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "allocations_total",
			Help: "TURN allocations created since start.",
		}),
		RelayedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "relayed_bytes_total",
			Help: "Payload bytes relayed, by direction (in: from peers, out: to peers).",
		}, []string{"direction"}),
		RelayedPackets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "relayed_packets_total",
			Help: "Datagrams relayed, by direction (in: from peers, out: to peers).",
		}, []string{"direction"}),
		AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "auth_failures_total",
			Help: "Refused TURN credentials, by reason.",
		}, []string{"reason"}),
		PermissionRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "permission_refusals_total",
			Help: "Permissions and channel binds refused by the peer policy, by reason.",
		}, []string{"reason"}),
		QuotaRefusals: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "quota_refusals_total",
			Help: "Allocations refused because the user's quota was reached.",
		}),
	}
	m.Registry.MustRegister(
		m.Allocations, m.AllocationsTotal, m.RelayedBytes, m.RelayedPackets,
		m.AuthFailures, m.PermissionRefusals, m.QuotaRefusals,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Pre-create the label sets dashboards expect, so they read 0 rather
	// than "no data" on a quiet server.
	for _, d := range []string{DirectionIn, DirectionOut} {
		m.RelayedBytes.WithLabelValues(d)
		m.RelayedPackets.WithLabelValues(d)
	}
	return m
}
