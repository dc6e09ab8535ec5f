package clientinfo_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/clientinfo"
)

func edge(t *testing.T, prefixes ...string) *clientinfo.Edge {
	t.Helper()
	var ps []netip.Prefix
	for _, p := range prefixes {
		ps = append(ps, netip.MustParsePrefix(p))
	}
	return clientinfo.NewEdge(clientinfo.EdgeParams{Prefixes: ps, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

func TestFromRequest(t *testing.T) {
	trusted := edge(t, "172.20.0.0/16", "::1/128")
	for _, tc := range []struct {
		name       string
		remote     string
		headers    map[string][]string
		tls        bool
		wantIP     string
		wantScheme string
		wantHost   string
		wantEdge   bool
	}{
		{
			name:   "trusted edge: last X-Forwarded-For entry wins",
			remote: "172.20.0.5:40000",
			headers: map[string][]string{
				"X-Forwarded-For":   {"6.6.6.6, 203.0.113.9"},
				"X-Forwarded-Proto": {"https"},
				"X-Forwarded-Host":  {"doctor.example.org"},
			},
			wantIP: "203.0.113.9", wantScheme: "https", wantHost: "doctor.example.org", wantEdge: true,
		},
		{
			name:   "trusted edge: several header lines, last line last entry",
			remote: "172.20.0.5:40000",
			headers: map[string][]string{
				"X-Forwarded-For": {"1.1.1.1", "2.2.2.2, 198.51.100.7"},
			},
			wantIP: "198.51.100.7", wantScheme: "http", wantHost: "backend:8080", wantEdge: true,
		},
		{
			name:    "trusted edge over IPv6 loopback, no headers",
			remote:  "[::1]:5555",
			headers: nil,
			wantIP:  "::1", wantScheme: "http", wantHost: "backend:8080", wantEdge: true,
		},
		{
			name:   "trusted edge: garbage headers ignored",
			remote: "172.20.0.5:40000",
			headers: map[string][]string{
				"X-Forwarded-For":   {"not-an-ip"},
				"X-Forwarded-Proto": {"gopher"},
				"X-Forwarded-Host":  {"evil.example/path"},
			},
			wantIP: "172.20.0.5", wantScheme: "http", wantHost: "backend:8080", wantEdge: true,
		},
		{
			name:   "untrusted peer: spoofed headers ignored",
			remote: "203.0.113.50:1234",
			headers: map[string][]string{
				"X-Forwarded-For":   {"10.0.0.1"},
				"X-Forwarded-Proto": {"https"},
				"X-Forwarded-Host":  {"admin.example.org"},
			},
			wantIP: "203.0.113.50", wantScheme: "http", wantHost: "backend:8080",
		},
		{
			name:   "untrusted peer over TLS",
			remote: "203.0.113.50:1234",
			tls:    true,
			wantIP: "203.0.113.50", wantScheme: "https", wantHost: "backend:8080",
		},
		{
			name:   "IPv4-mapped peer is unmapped before the check",
			remote: "[::ffff:172.20.0.5]:40000",
			headers: map[string][]string{
				"X-Forwarded-For": {"203.0.113.9"},
			},
			wantIP: "203.0.113.9", wantScheme: "http", wantHost: "backend:8080", wantEdge: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://backend:8080/x", nil)
			r.RemoteAddr = tc.remote
			for k, vs := range tc.headers {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			got := clientinfo.FromRequest(r, trusted)
			assert.Equal(t, tc.wantIP, got.IPString())
			assert.Equal(t, tc.wantScheme, got.Scheme)
			assert.Equal(t, tc.wantHost, got.Host)
			assert.Equal(t, tc.wantEdge, got.ViaEdge)
		})
	}
}

func TestFromRequestNilTrustTrustsNoOne(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:1"
	r.Header.Set("X-Forwarded-For", "9.9.9.9")
	assert.Equal(t, "127.0.0.1", clientinfo.FromRequest(r, nil).IPString())
}

func TestContextRoundTrip(t *testing.T) {
	_, ok := clientinfo.FromContext(context.Background())
	assert.False(t, ok)
	in := clientinfo.Info{IP: netip.MustParseAddr("192.0.2.1"), Scheme: "https", Host: "h"}
	out, ok := clientinfo.FromContext(clientinfo.NewContext(context.Background(), in))
	require.True(t, ok)
	assert.Equal(t, in, out)
}

// fakeDNS answers from a map the test changes between refreshes.
type fakeDNS struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
}

func (f *fakeDNS) set(host string, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var as []netip.Addr
	for _, a := range addrs {
		as = append(as, netip.MustParseAddr(a))
	}
	f.answers[host] = as
}

func (f *fakeDNS) lookup(_ context.Context, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	as, ok := f.answers[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	return append([]netip.Addr(nil), as...), nil
}

func TestEdgeHostNamesResolvedAndKeptOnFailure(t *testing.T) {
	dns := &fakeDNS{answers: map[string][]netip.Addr{}}
	e := clientinfo.NewEdge(clientinfo.EdgeParams{
		HostNames: []string{"edge"},
		Lookup:    dns.lookup,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	a1, a2 := netip.MustParseAddr("172.18.0.3"), netip.MustParseAddr("172.18.0.9")

	e.Refresh(t.Context())
	assert.False(t, e.Contains(a1), "nothing resolved yet")

	dns.set("edge", "172.18.0.3")
	e.Refresh(t.Context())
	assert.True(t, e.Contains(a1))

	// The edge restarted with a new address.
	dns.set("edge", "172.18.0.9")
	e.Refresh(t.Context())
	assert.False(t, e.Contains(a1))
	assert.True(t, e.Contains(a2))

	// DNS fails: the last known address stays trusted.
	dns.mu.Lock()
	delete(dns.answers, "edge")
	dns.mu.Unlock()
	e.Refresh(t.Context())
	assert.True(t, e.Contains(a2))
}

// The edge starts after the backend: its first request must already be
// trusted, without waiting for the periodic refresh, while strangers cannot
// make the backend resolve names more than once per MissRefreshGap.
func TestEdgeMissResolvesAgainAtMostOncePerGap(t *testing.T) {
	dns := &fakeDNS{answers: map[string][]netip.Addr{}}
	var lookups atomic.Int32
	e := clientinfo.NewEdge(clientinfo.EdgeParams{
		HostNames: []string{"edge"},
		Lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
			lookups.Add(1)
			return dns.lookup(ctx, host)
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	e.Refresh(t.Context()) // at start the edge does not exist yet
	require.Equal(t, int32(1), lookups.Load())

	dns.set("edge", "172.18.0.3")
	assert.True(t, e.Contains(netip.MustParseAddr("172.18.0.3")), "the edge's first request")
	require.Equal(t, int32(2), lookups.Load())

	stranger := netip.MustParseAddr("198.51.100.7")
	assert.False(t, e.Contains(stranger))
	assert.False(t, e.Contains(stranger))
	assert.Equal(t, int32(2), lookups.Load(), "misses within the gap resolve nothing")

	require.Eventually(t, func() bool {
		e.Contains(stranger)
		return lookups.Load() == 3
	}, 3*clientinfo.MissRefreshGap, 50*time.Millisecond)
}
