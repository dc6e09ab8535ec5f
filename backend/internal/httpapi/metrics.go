package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the backend's Prometheus metrics, served on an internal port
// (never through the edge).
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// SignInFailures counts refused sign-in attempts by reason.
	SignInFailures *prometheus.CounterVec
}

// NewMetrics creates the registry with the Go and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hcw", Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests by operation (OpenAPI operationId, or \"other\"), method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "hcw", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "HTTP request latency by operation.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		SignInFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hcw", Subsystem: "signin", Name: "failures_total",
			Help: "Refused sign-in attempts by reason.",
		}, []string{"reason"}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.SignInFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// RegisterPool exports the database pool's statistics.
func (m *Metrics) RegisterPool(pool *pgxpool.Pool) {
	m.reg.MustRegister(&poolCollector{pool: pool})
}

// instrument records one operation's requests.
func (m *Metrics) instrument(route string, next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		m.requests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

var (
	poolAcquired = prometheus.NewDesc("hcw_db_pool_acquired_conns", "Connections in use.", nil, nil)
	poolIdle     = prometheus.NewDesc("hcw_db_pool_idle_conns", "Idle connections.", nil, nil)
	poolTotal    = prometheus.NewDesc("hcw_db_pool_total_conns", "Open connections.", nil, nil)
	poolMax      = prometheus.NewDesc("hcw_db_pool_max_conns", "Pool size limit.", nil, nil)
	poolWaits    = prometheus.NewDesc("hcw_db_pool_empty_acquire_total", "Acquires that had to wait for a connection.", nil, nil)
	poolWaitTime = prometheus.NewDesc("hcw_db_pool_acquire_wait_seconds_total", "Time spent waiting for connections.", nil, nil)
)

type poolCollector struct{ pool *pgxpool.Pool }

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolAcquired, poolIdle, poolTotal, poolMax, poolWaits, poolWaitTime} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(poolAcquired, prometheus.GaugeValue, float64(s.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(s.IdleConns()))
	ch <- prometheus.MustNewConstMetric(poolTotal, prometheus.GaugeValue, float64(s.TotalConns()))
	ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolWaitTime, prometheus.CounterValue, s.AcquireDuration().Seconds())
}
