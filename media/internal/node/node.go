// Package node assembles a media node: it binds the media ports and the
// HTTP listener, builds the rooms (the SFU) on them, keeps the grant keys
// and the backend registration up to date, serves signalling, control,
// health and metrics, and drains gracefully on shutdown.
package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/nodeapi"
	"github.com/hcw-home/hcw/media/internal/config"
	"github.com/hcw-home/hcw/media/internal/control"
	"github.com/hcw-home/hcw/media/internal/registry"
)

// Rooms is what the node needs of its SFU.
type Rooms interface {
	// SignalHandler serves GET /n/{node}/signal (the WebSocket upgrade).
	SignalHandler() http.Handler
	RemoveParticipant(room, participant string) bool
	EndRoom(room string) bool
	Rooms() []nodeapi.Room
	Load() nodeapi.Load
	// SetDraining(true) makes the SFU refuse new rooms; calls in progress
	// continue.
	SetDraining(bool)
	// Close ends every call and releases the SFU's resources.
	Close()
}

// RoomsParams is what the node hands the SFU constructor.
type RoomsParams struct {
	Logger *slog.Logger
	NodeID string
	// Verifier checks grants; its keys follow the backend's JWKS.
	Verifier *grant.Verifier
	// RefreshKeys is for a grant that failed with grant.ErrUnknownKey: it
	// refetches the JWKS (at most once per 10 s) and reports whether that
	// worked, so the caller may verify once more.
	RefreshKeys func(context.Context) bool
	UDPConn     net.PacketConn
	// TCPListener is the ICE-TCP listener, nil when ICE-TCP is disabled.
	TCPListener net.Listener
	PublicIPs   []string
	Capacity    int
	GracePeriod time.Duration
	// ProbeMaxBitrate caps downlink probing (bits/s); 0 is off.
	ProbeMaxBitrate int64
	Registerer      prometheus.Registerer
	Now             func() time.Time
}

// Params are what New needs.
type Params struct {
	Config *config.Config
	Logger *slog.Logger
	// Version is reported in heartbeats.
	Version string
	// NewRooms builds the SFU on the node's sockets.
	NewRooms func(RoomsParams) (Rooms, error)
	// Client talks to the backend; nil means a plain client (every request
	// has its own timeout).
	Client *http.Client
	// DrainPoll is how often a draining node checks whether its last
	// participant has left (default 1 s).
	DrainPoll time.Duration
}

// Node is a running media node.
type Node struct {
	cfg *config.Config
	log *slog.Logger
	udp net.PacketConn
	// udpReadBuffer is the UDP socket's receive buffer in effect (logged).
	udpReadBuffer int
	tcp           net.Listener
	httpLn        net.Listener
	http          *http.Server
	rooms         Rooms
	keys          *registry.Keys
	heartbeat     *registry.Heartbeat
	drainPoll     time.Duration

	draining atomic.Bool

	// bg runs the key fetcher and the heartbeat; Shutdown ends it last so
	// the backend hears "draining" until the node is gone.
	bg        context.Context
	stopBg    context.CancelFunc
	bgDone    sync.WaitGroup
	serveErr  chan error
	closeOnce sync.Once
}

// New binds the node's ports and builds its parts. It fails when a port is
// taken, naming it.
func New(p Params) (_ *Node, err error) {
	if p.NewRooms == nil {
		return nil, ErrNoRooms
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	cfg := p.Config
	n := &Node{cfg: cfg, log: p.Logger, drainPoll: p.DrainPoll, serveErr: make(chan error, 1)}
	if n.drainPoll <= 0 {
		n.drainPoll = time.Second
	}
	defer func() {
		if err != nil {
			n.closeSockets()
		}
	}()
	if n.udp, err = net.ListenPacket("udp", fmt.Sprintf(":%d", cfg.UDPPort)); err != nil {
		return nil, fmt.Errorf("bind media UDP port %d: %w", cfg.UDPPort, err)
	}
	n.udpReadBuffer = growUDPBuffers(n.udp)
	if cfg.TCPPort != 0 {
		if n.tcp, err = net.Listen("tcp", fmt.Sprintf(":%d", cfg.TCPPort)); err != nil {
			return nil, fmt.Errorf("bind ICE-TCP port %d: %w", cfg.TCPPort, err)
		}
	}
	if n.httpLn, err = net.Listen("tcp", cfg.HTTPListen); err != nil {
		return nil, fmt.Errorf("bind HTTP %s: %w", cfg.HTTPListen, err)
	}

	if n.keys, err = registry.NewKeys(registry.KeysParams{
		Logger: p.Logger, Client: p.Client, URL: cfg.JWKSURL, Verifier: grant.NewVerifier(),
	}); err != nil {
		return nil, err
	}

	metrics := prometheus.NewRegistry()
	metrics.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hcw_media_node_draining", Help: "1 while the node drains (refuses new rooms).",
		}, func() float64 { return boolFloat(n.draining.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hcw_media_node_grant_keys_loaded", Help: "1 once the grant keys have been fetched from the backend.",
		}, func() float64 { return boolFloat(n.keys.Ready()) }),
	)

	var tcp net.Listener // stays a nil interface when ICE-TCP is off
	if n.tcp != nil {
		tcp = n.tcp
	}
	publicIPs := make([]string, len(cfg.PublicIPs))
	for i, a := range cfg.PublicIPs {
		publicIPs[i] = a.String()
	}
	if n.rooms, err = p.NewRooms(RoomsParams{
		Logger:          p.Logger,
		NodeID:          cfg.NodeID,
		Verifier:        n.keys.Verifier(),
		RefreshKeys:     n.keys.RefreshOnMiss,
		UDPConn:         n.udp,
		TCPListener:     tcp,
		PublicIPs:       publicIPs,
		Capacity:        cfg.Capacity,
		GracePeriod:     cfg.GracePeriod,
		ProbeMaxBitrate: cfg.ProbeMaxBitrate,
		Registerer:      metrics,
		Now:             time.Now,
	}); err != nil {
		return nil, fmt.Errorf("start SFU: %w", err)
	}

	if n.heartbeat, err = registry.NewHeartbeat(registry.HeartbeatParams{
		Logger:     p.Logger,
		Client:     p.Client,
		BackendURL: cfg.BackendURL,
		NodeID:     cfg.NodeID,
		Secret:     cfg.NodeSecret,
		Upstream:   cfg.Upstream,
		Capacity:   cfg.Capacity,
		Version:    p.Version,
		Load:       n.rooms.Load,
		Draining:   n.draining.Load,
	}); err != nil {
		n.rooms.Close()
		return nil, err
	}

	n.http = &http.Server{
		Handler: n.routes(metrics),
		// No ReadTimeout or WriteTimeout: the signalling WebSocket lives as
		// long as the call. The header timeout bounds slow clients; the
		// socket's own ping keeps or ends it after that.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// A grant rides in Sec-WebSocket-Protocol (up to grant.MaxTokenLen).
		MaxHeaderBytes: 32 << 10,
		ErrorLog:       slog.NewLogLogger(p.Logger.Handler(), slog.LevelWarn),
	}
	n.bg, n.stopBg = context.WithCancel(context.Background())
	return n, nil
}

// routes is everything the node serves; nothing else answers.
func (n *Node) routes(metrics *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, status{Status: "ok"})
	})
	mux.HandleFunc("GET /readyz", n.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{Registry: metrics}))
	ctl := control.New(control.Params{Logger: n.log, Secret: n.cfg.NodeSecret, Rooms: n.rooms})
	for _, p := range control.Patterns {
		mux.Handle(p, ctl)
	}
	signal := n.rooms.SignalHandler()
	mux.HandleFunc("GET /n/{id}/signal", func(w http.ResponseWriter, r *http.Request) {
		// The edge routes /n/<id>/ by id; a request for another node here
		// is a routing mistake, and its grant would fail anyway.
		if r.PathValue("id") != n.cfg.NodeID {
			writeJSON(w, http.StatusNotFound, status{Status: "not_found", Reason: "not this node"})
			return
		}
		signal.ServeHTTP(w, r)
	})
	return mux
}

type status struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

func (n *Node) readyz(w http.ResponseWriter, _ *http.Request) {
	switch {
	case n.draining.Load():
		writeJSON(w, http.StatusServiceUnavailable, status{Status: "unavailable", Reason: "draining"})
	case !n.keys.Ready():
		writeJSON(w, http.StatusServiceUnavailable, status{Status: "unavailable", Reason: "grant keys not loaded"})
	default:
		writeJSON(w, http.StatusOK, status{Status: "ok"})
	}
}

// HTTPAddr is the bound address of the HTTP server.
func (n *Node) HTTPAddr() net.Addr { return n.httpLn.Addr() }

// Draining reports whether Shutdown has begun.
func (n *Node) Draining() bool { return n.draining.Load() }

// Run serves until ctx ends (it returns nil) or the HTTP server fails (it
// returns the error). Either way the caller then calls Shutdown.
func (n *Node) Run(ctx context.Context) error {
	n.bgDone.Add(2)
	go func() {
		defer n.bgDone.Done()
		n.keys.Run(n.bg)
	}()
	go func() {
		defer n.bgDone.Done()
		// Register only once grants can be checked: before that the
		// backend must not place calls here.
		select {
		case <-n.keys.Loaded():
		case <-n.bg.Done():
			return
		}
		n.heartbeat.Run(n.bg)
	}()
	go func() {
		if err := n.http.Serve(n.httpLn); !errors.Is(err, http.ErrServerClosed) {
			n.serveErr <- err
		}
	}()
	attrs := []any{"node", n.cfg.NodeID, "http", n.httpLn.Addr().String(), "udp", n.udp.LocalAddr().String(),
		"udp_read_buffer", n.udpReadBuffer, "upstream", n.cfg.Upstream}
	if n.tcp != nil {
		attrs = append(attrs, "tcp", n.tcp.Addr().String())
	}
	n.log.Info("media node listening", attrs...)
	select {
	case err := <-n.serveErr:
		return fmt.Errorf("serve HTTP: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// Shutdown drains the node: readiness turns 503, the SFU refuses new rooms
// and the backend hears "draining" at once. It waits until the last
// participant has left, the drain timeout passes, or ctx ends (a second
// signal), then ends the remaining calls, leaves the backend's registry
// and closes everything.
func (n *Node) Shutdown(ctx context.Context) error {
	n.drain(ctx)
	var err error
	n.closeOnce.Do(func() {
		n.rooms.Close()
		// Hijacked signalling sockets are the SFU's to close; what is left
		// are health, metrics and control requests, which are short.
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if ctx.Err() != nil {
			err = n.http.Close()
		} else {
			err = n.http.Shutdown(shutdownCtx)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		n.stopBg()
		n.bgDone.Wait() // the heartbeat's DELETE is bounded by its timeout
		n.closeSockets()
		n.log.Info("media node stopped")
	})
	return err
}

// drain waits for the node to empty; see Shutdown.
func (n *Node) drain(ctx context.Context) {
	if n.draining.Swap(true) {
		return
	}
	n.rooms.SetDraining(true)
	n.heartbeat.Kick()
	start := time.Now()
	load := n.rooms.Load()
	if load.Participants == 0 {
		n.log.Info("draining: no participants, stopping")
		return
	}
	n.log.Info("draining: refusing new rooms, waiting for calls to end",
		"participants", load.Participants, "rooms", load.Rooms, "timeout", n.cfg.DrainTimeout.String())
	deadline := time.NewTimer(n.cfg.DrainTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(n.drainPoll)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if load = n.rooms.Load(); load.Participants == 0 {
				n.log.Info("draining: last participant left", "after", time.Since(start).Round(time.Second).String())
				return
			}
		case <-deadline.C:
			n.log.Warn("draining: timeout passed, ending the remaining calls", "participants", n.rooms.Load().Participants)
			return
		case <-ctx.Done():
			n.log.Warn("draining: interrupted, ending the remaining calls now", "participants", n.rooms.Load().Participants)
			return
		}
	}
}

// closeSockets closes what New bound. The SFU may have closed the media
// sockets already; a second close is harmless.
func (n *Node) closeSockets() {
	if n.udp != nil {
		_ = n.udp.Close()
	}
	if n.tcp != nil {
		_ = n.tcp.Close()
	}
	if n.httpLn != nil {
		_ = n.httpLn.Close()
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
