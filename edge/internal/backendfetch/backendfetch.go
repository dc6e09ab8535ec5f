// Package backendfetch holds what the edge's modules share to read small
// documents from the backend (the media grant keys, the media node
// registry) and to answer with the edge's JSON error shape: a bounded GET,
// a latch that logs an outage when it starts and when it ends rather than
// on every attempt, and a throttle for the early fetches that unknown names
// in requests cause, so made-up names cannot flood the backend.
package backendfetch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Getter GETs one document of at most MaxBytes from URL.
type Getter struct {
	URL      string
	Client   *http.Client
	MaxBytes int64
	// Authorize, when set, adds credentials to each request.
	Authorize func(*http.Request)
}

// Get returns the body of a 200 answer. Any other status, a transport
// error or a body over MaxBytes is an error naming what failed; a longer
// body is an error rather than silently cut, since a cut JSON document
// could still parse.
func (g *Getter) Get(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.URL, nil)
	if err != nil {
		return nil, err
	}
	if g.Authorize != nil {
		g.Authorize(req)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := g.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, g.MaxBytes+1))
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	case int64(len(body)) > g.MaxBytes:
		return nil, fmt.Errorf("document larger than %d bytes", g.MaxBytes)
	}
	return body, nil
}

// Latch records whether a source is failing, so an outage is logged once
// when it starts and once when it ends.
type Latch struct{ failing atomic.Bool }

// Fail records a failure and reports whether it starts an outage.
func (l *Latch) Fail() bool { return !l.failing.Swap(true) }

// Recover records a success and reports whether it ends an outage.
func (l *Latch) Recover() bool { return l.failing.Swap(false) }

// Throttle runs a function at most once per Interval; callers arriving
// while it runs wait for it, so they see its result.
type Throttle struct {
	Interval time.Duration

	mu   sync.Mutex
	last time.Time
}

// Do runs f unless it ran less than Interval ago, and reports whether it
// ran. retry, when not nil, is called under the lock first: if it reports
// true (another caller's run already produced what this one needs), f is
// not run.
func (t *Throttle) Do(retry func() bool, f func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if retry != nil && retry() {
		return false
	}
	if now := time.Now(); now.Sub(t.last) >= t.Interval {
		t.last = now
		f()
		return true
	}
	return false
}

// WriteCode answers with the edge's JSON error shape, {"code": code}, not
// cached. A failed write is not returned: Caddy would log it with the
// request's headers, which may carry a grant.
func WriteCode(w http.ResponseWriter, status int, code string) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Code string `json:"code"`
	}{code})
	return nil
}
