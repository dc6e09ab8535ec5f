package registry

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/contract/grant"
)

func newKey(t *testing.T) ed25519.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return pub
}

// fakeJWKS serves whatever body and status it was last given.
type fakeJWKS struct {
	mu     sync.Mutex
	status int
	body   []byte
	hits   atomic.Int32
}

func newFakeJWKS(t *testing.T) (*fakeJWKS, *httptest.Server) {
	f := &fakeJWKS{status: http.StatusServiceUnavailable}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		assert.Empty(t, r.Header.Get("Authorization"), "the JWKS is public: no secret goes there")
		f.mu.Lock()
		status, body := f.status, f.body
		f.mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeJWKS) serve(status int, body []byte) {
	f.mu.Lock()
	f.status, f.body = status, body
	f.mu.Unlock()
}

func (f *fakeJWKS) serveKeys(t *testing.T, keys ...ed25519.PublicKey) {
	b, err := json.Marshal(grant.NewJWKS(keys...))
	require.NoError(t, err)
	f.serve(http.StatusOK, b)
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func startKeys(t *testing.T, p KeysParams) *Keys {
	t.Helper()
	if p.Verifier == nil {
		p.Verifier = grant.NewVerifier()
	}
	k, err := NewKeys(p)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { k.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return k
}

func TestKeysRetryUntilLoaded(t *testing.T) {
	f, srv := newFakeJWKS(t)
	var logs logBuffer
	k := startKeys(t, KeysParams{Logger: logs.logger(), URL: srv.URL, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	eventually(t, "three failed fetches", func() bool { return f.hits.Load() >= 3 })
	assert.False(t, k.Ready(), "not ready without keys")

	key := newKey(t)
	f.serveKeys(t, key)
	select {
	case <-k.Loaded():
	case <-time.After(5 * time.Second):
		t.Fatal("keys never loaded")
	}
	assert.True(t, k.Ready())
	assert.True(t, k.Verifier().HasKey(grant.KeyID(key)))
	out := logs.String()
	assert.Equal(t, 1, strings.Count(out, "grant keys not loaded yet"), out)
	assert.Equal(t, 1, strings.Count(out, "grant keys loaded"), out)
}

func TestKeysRefreshPeriodically(t *testing.T) {
	f, srv := newFakeJWKS(t)
	old, next := newKey(t), newKey(t)
	f.serveKeys(t, old)
	k := startKeys(t, KeysParams{URL: srv.URL, Refresh: 20 * time.Millisecond})
	eventually(t, "the first key", func() bool { return k.Verifier().HasKey(grant.KeyID(old)) })

	f.serveKeys(t, next)
	eventually(t, "the rotated key", func() bool { return k.Verifier().HasKey(grant.KeyID(next)) })
	assert.False(t, k.Verifier().HasKey(grant.KeyID(old)), "a key the backend dropped is dropped")
}

func TestKeysBadJWKSKeepsOldKeys(t *testing.T) {
	good := newKey(t)
	other := newKey(t)
	mismatched, err := json.Marshal(grant.JWKS{Keys: []grant.JWK{{
		Kty: "OKP", Crv: "Ed25519", Alg: "EdDSA",
		X:   grant.NewJWKS(other).Keys[0].X,
		Kid: grant.KeyID(good), // a kid that does not match its key
	}}})
	require.NoError(t, err)

	for name, bad := range map[string]struct {
		status int
		body   []byte
	}{
		"not json":     {http.StatusOK, []byte("<html>")},
		"no keys":      {http.StatusOK, []byte(`{"keys":[]}`)},
		"only rsa":     {http.StatusOK, []byte(`{"keys":[{"kty":"RSA","n":"x","e":"AQAB"}]}`)},
		"kid mismatch": {http.StatusOK, mismatched},
		"server error": {http.StatusInternalServerError, []byte(`{"keys":[]}`)},
		"oversize":     {http.StatusOK, []byte(`{"keys":[],"pad":"` + strings.Repeat("x", maxJWKSBytes) + `"}`)},
		"not found":    {http.StatusNotFound, nil},
	} {
		t.Run(name, func(t *testing.T) {
			f, srv := newFakeJWKS(t)
			f.serveKeys(t, good)
			k := startKeys(t, KeysParams{URL: srv.URL, Refresh: 5 * time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
			eventually(t, "the good key", func() bool { return k.Verifier().HasKey(grant.KeyID(good)) })

			f.serve(bad.status, bad.body)
			n := f.hits.Load()
			eventually(t, "three bad fetches", func() bool { return f.hits.Load() >= n+3 })
			assert.True(t, k.Verifier().HasKey(grant.KeyID(good)), "old keys kept")
			assert.False(t, k.Verifier().HasKey(grant.KeyID(other)))
			assert.True(t, k.Ready())
		})
	}
}

func TestKeysRefreshOnMissIsRateLimited(t *testing.T) {
	f, srv := newFakeJWKS(t)
	old, next := newKey(t), newKey(t)
	f.serveKeys(t, old)
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	k := startKeys(t, KeysParams{URL: srv.URL, Refresh: time.Hour, Now: clock.Now})
	<-k.Loaded()
	require.Equal(t, int32(1), f.hits.Load())

	// A grant signed with a new key: the miss fetches at once.
	f.serveKeys(t, next)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.True(t, k.RefreshOnMiss(ctx))
	assert.True(t, k.Verifier().HasKey(grant.KeyID(next)))
	assert.Equal(t, int32(2), f.hits.Load())

	// A stream of unknown kids within 10 s causes no more fetches.
	for range 20 {
		assert.False(t, k.RefreshOnMiss(ctx))
	}
	clock.Add(9 * time.Second)
	assert.False(t, k.RefreshOnMiss(ctx))
	assert.Equal(t, int32(2), f.hits.Load())

	// After 10 s the next miss may fetch again; a failed fetch says so.
	clock.Add(time.Second)
	f.serve(http.StatusBadGateway, nil)
	assert.False(t, k.RefreshOnMiss(ctx))
	assert.Equal(t, int32(3), f.hits.Load())
	assert.True(t, k.Verifier().HasKey(grant.KeyID(next)), "old keys kept")
}

func TestKeysRefreshOnMissGivesUpWithItsContext(t *testing.T) {
	f, srv := newFakeJWKS(t)
	// Not running: nothing will ever fetch.
	k, err := NewKeys(KeysParams{URL: srv.URL, Verifier: grant.NewVerifier()})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.False(t, k.RefreshOnMiss(ctx))
	assert.Equal(t, int32(0), f.hits.Load())
}

func TestNewKeysRefusesBadParams(t *testing.T) {
	_, err := NewKeys(KeysParams{Verifier: grant.NewVerifier()})
	assert.ErrorIs(t, err, ErrNoJWKSURL)
	_, err = NewKeys(KeysParams{URL: "http://backend/jwks"})
	assert.ErrorIs(t, err, ErrNoVerifier)
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	lo, hi := 100*time.Millisecond, time.Second
	for n, want := range map[int]time.Duration{1: lo, 2: 2 * lo, 3: 4 * lo, 10: hi, 1000: hi} {
		d := backoff(n, lo, hi)
		assert.LessOrEqual(t, d, want, "retry %d", n)
		assert.GreaterOrEqual(t, d, want*8/10, "retry %d", n)
	}
}
