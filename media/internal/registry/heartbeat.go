// Package registry is the node's side of its relationship with the backend:
// the heartbeat that keeps the node in the backend's registry (and tells it
// the node's load and whether it is draining), and the grant keys the node
// fetches from the backend's JWKS to check media grants.
package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hcw-home/hcw/contract/nodeapi"
)

// maxReplyBytes bounds what the node reads of a backend reply.
const maxReplyBytes = 64 << 10

// HeartbeatParams are what NewHeartbeat needs.
type HeartbeatParams struct {
	Logger *slog.Logger
	// Client sends the requests; nil means a plain client. Each request is
	// bounded by Timeout whatever the client's own settings.
	Client *http.Client
	// BackendURL is the backend's base URL, without a trailing slash.
	BackendURL string
	NodeID     string
	Secret     string
	// Upstream, Capacity and Version are reported as they are.
	Upstream string
	Capacity int
	Version  string
	// Load and Draining are read at each beat.
	Load     func() nodeapi.Load
	Draining func() bool
	// Interval defaults to nodeapi.HeartbeatInterval and Timeout (per
	// request) to the same.
	Interval time.Duration
	Timeout  time.Duration
}

// Heartbeat PUTs the node's state to the backend at a steady interval and
// DELETEs the node when it stops.
type Heartbeat struct {
	p    HeartbeatParams
	log  *slog.Logger
	url  string
	kick chan struct{}

	mu        sync.Mutex
	signalURL string
	// failing and failures track the state the log reports changes of: one
	// line when the backend becomes unreachable and one when it is back,
	// not one every two seconds.
	failing    bool
	failures   int
	failingAt  time.Time
	registered bool
}

// NewHeartbeat checks p and returns a Heartbeat; Run starts it.
func NewHeartbeat(p HeartbeatParams) (*Heartbeat, error) {
	switch {
	case p.BackendURL == "":
		return nil, ErrNoBackend
	case p.Secret == "":
		return nil, ErrNoSecret
	case !nodeapi.ValidID(p.NodeID):
		return nil, ErrBadNodeID
	case p.Load == nil || p.Draining == nil:
		return nil, ErrNoLoad
	}
	if p.Client == nil {
		p.Client = &http.Client{}
	}
	if p.Interval <= 0 {
		p.Interval = nodeapi.HeartbeatInterval
	}
	if p.Timeout <= 0 {
		p.Timeout = p.Interval
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Heartbeat{
		p:    p,
		log:  log.With("component", "heartbeat"),
		url:  strings.TrimSuffix(p.BackendURL, "/") + strings.Replace(nodeapi.PathNode, "{id}", url.PathEscape(p.NodeID), 1),
		kick: make(chan struct{}, 1),
	}, nil
}

// Run beats at once, then every Interval until ctx ends; then it removes
// the node from the registry (bounded by Timeout) and returns.
func (h *Heartbeat) Run(ctx context.Context) {
	t := time.NewTicker(h.p.Interval)
	defer t.Stop()
	for {
		h.beat(ctx)
		select {
		case <-ctx.Done():
			h.deregister()
			return
		case <-t.C:
		case <-h.kick:
		}
	}
}

// Kick sends the next heartbeat now rather than at the next tick, so the
// backend learns of a change (draining) without waiting.
func (h *Heartbeat) Kick() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// SignalURL is the public signalling URL the backend last reported for
// this node ("" before the first successful beat).
func (h *Heartbeat) SignalURL() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.signalURL
}

func (h *Heartbeat) beat(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	hb := nodeapi.Heartbeat{
		Upstream: h.p.Upstream,
		Capacity: h.p.Capacity,
		Load:     h.p.Load(),
		Draining: h.p.Draining(),
		Version:  h.p.Version,
	}
	reply, err := h.put(ctx, hb)
	if ctx.Err() != nil {
		// Shutting down: the failure is ours, not the backend's.
		return
	}
	h.record(reply, err)
}

func (h *Heartbeat) put(ctx context.Context, hb nodeapi.Heartbeat) (nodeapi.HeartbeatReply, error) {
	var reply nodeapi.HeartbeatReply
	body, err := json.Marshal(hb)
	if err != nil {
		return reply, fmt.Errorf("encode heartbeat: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, h.p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, h.url, bytes.NewReader(body))
	if err != nil {
		return reply, fmt.Errorf("heartbeat: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	nodeapi.Authorize(req, h.p.Secret)
	resp, err := h.p.Client.Do(req)
	if err != nil {
		return reply, fmt.Errorf("heartbeat: %w", err)
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return reply, fmt.Errorf("heartbeat: backend answered %s", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxReplyBytes)).Decode(&reply); err != nil {
		return reply, fmt.Errorf("heartbeat: decode reply: %w", err)
	}
	return reply, nil
}

func (h *Heartbeat) record(reply nodeapi.HeartbeatReply, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.failures++
		if !h.failing {
			h.failing, h.failingAt = true, time.Now()
			h.log.Warn("heartbeat to backend failing; the backend will stop sending calls here", "error", err)
		} else {
			h.log.Debug("heartbeat to backend still failing", "error", err, "failures", h.failures)
		}
		return
	}
	switch {
	case h.failing:
		h.log.Info("heartbeat to backend restored", "failures", h.failures, "down_for", time.Since(h.failingAt).Round(time.Second).String())
	case !h.registered:
		h.log.Info("registered with backend", "signal_url", reply.SignalURL)
	}
	if h.registered && reply.SignalURL != h.signalURL {
		h.log.Info("backend changed this node's signal URL", "signal_url", reply.SignalURL)
	}
	h.failing, h.failures, h.registered = false, 0, true
	h.signalURL = reply.SignalURL
}

// deregister tells the backend the node is gone, so it stops routing here
// at once instead of after nodeapi.NodeTimeout.
func (h *Heartbeat) deregister() {
	ctx, cancel := context.WithTimeout(context.Background(), h.p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, h.url, nil)
	if err != nil {
		h.log.Warn("deregister from backend", "error", err)
		return
	}
	nodeapi.Authorize(req, h.p.Secret)
	resp, err := h.p.Client.Do(req)
	if err != nil {
		h.log.Warn("deregister from backend; it will drop this node after its timeout", "error", err)
		return
	}
	drainClose(resp.Body)
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusNotFound {
		h.log.Warn("deregister from backend; it will drop this node after its timeout", "status", resp.Status)
		return
	}
	h.log.Info("deregistered from backend")
}

// drainClose reads a little of body before closing it so the connection
// can be reused.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxReplyBytes))
	_ = body.Close()
}
