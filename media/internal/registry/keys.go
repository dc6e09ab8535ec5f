package registry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/hcw-home/hcw/contract/grant"
)

// Defaults of KeysParams.
const (
	DefaultKeysRefresh     = 5 * time.Minute
	DefaultKeysMissRefresh = 10 * time.Second
	DefaultKeysTimeout     = 10 * time.Second
	DefaultKeysMinBackoff  = 250 * time.Millisecond
	DefaultKeysMaxBackoff  = 30 * time.Second
)

// maxJWKSBytes bounds the JWKS document read (a handful of keys is < 1 KB).
const maxJWKSBytes = 256 << 10

// KeysParams are what NewKeys needs.
type KeysParams struct {
	Logger *slog.Logger
	// Client fetches the JWKS; nil means a plain client. Each request is
	// bounded by Timeout.
	Client *http.Client
	// URL is the backend's JWKS (public: no secret is sent to it).
	URL string
	// Verifier gets the keys on every successful fetch.
	Verifier *grant.Verifier
	// Refresh is the steady refresh period (default 5 minutes);
	// MissRefresh the least time between two refreshes caused by grants
	// signed with an unknown key (default 10 s), so a stream of forged
	// kids cannot turn the node into a load generator against the backend.
	Refresh     time.Duration
	MissRefresh time.Duration
	Timeout     time.Duration
	// MinBackoff and MaxBackoff bound the retry delay after a failed
	// fetch (doubling, with jitter).
	MinBackoff, MaxBackoff time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Keys keeps a grant.Verifier's keys in step with the backend's JWKS: it
// fetches at start (retrying until it succeeds: the node is not ready
// without keys), every Refresh, and on demand when a grant names a key it
// does not know. A bad or unreachable JWKS never removes the keys it had.
type Keys struct {
	p      KeysParams
	log    *slog.Logger
	demand chan struct{}
	loaded chan struct{}

	mu       sync.Mutex
	lastMiss time.Time
	begun    uint64 // attempts started
	finished uint64 // attempts finished
	lastOK   bool
	attempt  chan struct{} // closed when the running (or next) attempt ends
	failing  bool
}

// NewKeys checks p and returns Keys; Run starts fetching.
func NewKeys(p KeysParams) (*Keys, error) {
	switch {
	case p.URL == "":
		return nil, ErrNoJWKSURL
	case p.Verifier == nil:
		return nil, ErrNoVerifier
	}
	if p.Client == nil {
		p.Client = &http.Client{}
	}
	p.Refresh = orDuration(p.Refresh, DefaultKeysRefresh)
	p.MissRefresh = orDuration(p.MissRefresh, DefaultKeysMissRefresh)
	p.Timeout = orDuration(p.Timeout, DefaultKeysTimeout)
	p.MinBackoff = orDuration(p.MinBackoff, DefaultKeysMinBackoff)
	p.MaxBackoff = max(orDuration(p.MaxBackoff, DefaultKeysMaxBackoff), p.MinBackoff)
	if p.Now == nil {
		p.Now = time.Now
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Keys{
		p:       p,
		log:     log.With("component", "grant-keys"),
		demand:  make(chan struct{}, 1),
		loaded:  make(chan struct{}),
		attempt: make(chan struct{}),
	}, nil
}

// Verifier is the verifier whose keys Keys maintains.
func (k *Keys) Verifier() *grant.Verifier { return k.p.Verifier }

// Loaded is closed once keys have been fetched for the first time.
func (k *Keys) Loaded() <-chan struct{} { return k.loaded }

// Ready reports whether keys have been fetched at least once.
func (k *Keys) Ready() bool {
	select {
	case <-k.loaded:
		return true
	default:
		return false
	}
}

// Run fetches until ctx ends.
func (k *Keys) Run(ctx context.Context) {
	var failures int
	wait := time.NewTimer(0)
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
		case <-k.demand:
			wait.Stop()
		}
		if err := k.fetchOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			wait.Reset(backoff(failures, k.p.MinBackoff, k.p.MaxBackoff))
			continue
		}
		failures = 0
		wait.Reset(k.p.Refresh)
	}
}

// RefreshOnMiss is for a caller whose grant failed with
// grant.ErrUnknownKey: unless a miss already caused a refresh within
// MissRefresh, it has the JWKS fetched now and waits (bounded by ctx) for
// a fetch that started after the call. It reports whether such a fetch
// succeeded, so the caller knows whether verifying again is worth it.
func (k *Keys) RefreshOnMiss(ctx context.Context) bool {
	k.mu.Lock()
	now := k.p.Now()
	if !k.lastMiss.IsZero() && now.Sub(k.lastMiss) < k.p.MissRefresh {
		k.mu.Unlock()
		return false
	}
	k.lastMiss = now
	want := k.begun + 1
	k.mu.Unlock()

	select {
	case k.demand <- struct{}{}:
	default:
	}
	for {
		k.mu.Lock()
		if k.finished >= want {
			ok := k.lastOK
			k.mu.Unlock()
			return ok
		}
		done := k.attempt
		k.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return false
		}
	}
}

// fetchOnce runs one attempt and records its outcome for RefreshOnMiss.
func (k *Keys) fetchOnce(ctx context.Context) error {
	k.mu.Lock()
	k.begun++
	seq := k.begun
	k.mu.Unlock()

	n, err := k.fetch(ctx)

	k.mu.Lock()
	defer k.mu.Unlock()
	k.finished, k.lastOK = seq, err == nil
	close(k.attempt)
	k.attempt = make(chan struct{})
	if ctx.Err() != nil {
		return err
	}
	switch {
	case err != nil && !k.failing:
		k.failing = true
		if k.Ready() {
			k.log.Warn("grant keys refresh failing; keeping the keys already loaded", "url", k.p.URL, "error", err)
		} else {
			k.log.Warn("grant keys not loaded yet; retrying (the node is not ready until they are)", "url", k.p.URL, "error", err)
		}
	case err != nil:
		k.log.Debug("grant keys fetch still failing", "error", err)
	case k.failing || !k.Ready():
		k.failing = false
		k.log.Info("grant keys loaded", "keys", n)
	default:
		k.log.Debug("grant keys refreshed", "keys", n)
	}
	if err == nil && !k.Ready() {
		close(k.loaded)
	}
	return err
}

// fetch gets, parses and installs the JWKS, returning the number of keys.
func (k *Keys) fetch(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, k.p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.p.URL, nil)
	if err != nil {
		return 0, fmt.Errorf("fetch grant keys: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.p.Client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("fetch grant keys: %w", err)
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("fetch grant keys: %s answered %s", k.p.URL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return 0, fmt.Errorf("fetch grant keys: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return 0, fmt.Errorf("fetch grant keys: document larger than %d bytes", maxJWKSBytes)
	}
	keys, err := grant.ParseJWKS(body)
	if err != nil {
		return 0, fmt.Errorf("fetch grant keys: %w", err)
	}
	k.p.Verifier.SetKeys(keys...)
	return len(keys), nil
}

// backoff is the delay before retry number n (1-based): doubling from
// lo, capped at hi, with up to 20% jitter so a fleet of nodes restarted
// together does not retry in lock step.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

func orDuration(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}
