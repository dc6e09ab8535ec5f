package realtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/realtime"
)

var appHosts = []string{"doctor.example.org", "patient.example.org", "admin.example.org"}

type fixture struct {
	srv  *httptest.Server
	hub  *realtime.Hub
	port string
}

func newFixture(t *testing.T, p realtime.Params) *fixture {
	return newFixtureTrusting(t, p, "10.255.255.1/32")
}

func newFixtureTrusting(t *testing.T, p realtime.Params, edge string) *fixture {
	t.Helper()
	hub := realtime.NewHub()
	p.Hub = hub
	p.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	p.AppHosts = appHosts
	p.WriteError = httpapi.WriteError
	h, _ := httpapi.NewHandler(httpapi.Params{
		Logger:   p.Logger,
		Edge:     clientinfo.NewEdge(clientinfo.EdgeParams{Prefixes: []netip.Prefix{netip.MustParsePrefix(edge)}, Logger: p.Logger}),
		Realtime: realtime.NewHandler(p),
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	return &fixture{srv: srv, hub: hub, port: u.Port()}
}

// dial connects as a browser page on host:port would: Host and Origin say
// the app host while the TCP connection goes to the test server.
func (f *fixture) dial(t *testing.T, host, origin string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.srv.URL, "http")+"/ws", &websocket.DialOptions{Host: host, HTTPHeader: h})
	if c != nil {
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, resp, err
}

func read(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	typ, b, err := c.Read(ctx)
	require.NoError(t, err)
	require.Equal(t, websocket.MessageText, typ)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

func send(t *testing.T, c *websocket.Conn, s string) {
	t.Helper()
	require.NoError(t, c.Write(t.Context(), websocket.MessageText, []byte(s)))
}

func TestHelloPingPongUnknown(t *testing.T) {
	f := newFixture(t, realtime.Params{})
	host := "doctor.example.org:" + f.port
	c, _, err := f.dial(t, host, "https://"+host)
	require.NoError(t, err)

	hello := read(t, c)
	assert.Equal(t, "hello", hello["type"])
	assert.Equal(t, map[string]any{"server": "HCW@Home", "version": "dev"}, hello["data"])

	send(t, c, `{"type":"ping","id":"42"}`)
	assert.Equal(t, map[string]any{"type": "pong", "id": "42"}, read(t, c))

	send(t, c, `{"type":"teleport","id":"7"}`)
	assert.Equal(t, map[string]any{"type": "error", "id": "7", "data": map[string]any{"code": "unknown_type"}}, read(t, c))

	send(t, c, `not json`)
	assert.Equal(t, "invalid_message", read(t, c)["data"].(map[string]any)["code"])

	require.Eventually(t, func() bool { return f.hub.Len() == 1 }, 2*time.Second, 10*time.Millisecond)
	require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
	require.Eventually(t, func() bool { return f.hub.Len() == 0 }, 2*time.Second, 10*time.Millisecond)
}

func TestOriginRefusedBeforeUpgrade(t *testing.T) {
	f := newFixture(t, realtime.Params{})
	host := "doctor.example.org:" + f.port
	for name, origin := range map[string]string{
		"foreign":        "https://evil.example",
		"missing":        "",
		"http scheme":    "http://" + host,
		"different port": "https://doctor.example.org:1",
	} {
		t.Run(name, func(t *testing.T) {
			c, resp, err := f.dial(t, host, origin)
			require.Error(t, err)
			require.Nil(t, c)
			require.NotNil(t, resp)
			assert.Equal(t, http.StatusForbidden, resp.StatusCode)
			assert.Empty(t, resp.Header.Get("Upgrade"))
			var body struct {
				Error struct{ Code string } `json:"error"`
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			assert.Equal(t, "origin_refused", body.Error.Code)
		})
	}
	assert.Equal(t, 0, f.hub.Len())
}

func TestOversizeMessageCloses1009(t *testing.T) {
	f := newFixture(t, realtime.Params{})
	host := "patient.example.org:" + f.port
	c, _, err := f.dial(t, host, "https://"+host)
	require.NoError(t, err)
	read(t, c) // hello

	big := `{"type":"ping","id":"` + strings.Repeat("x", 100<<10) + `"}`
	_ = c.Write(t.Context(), websocket.MessageText, []byte(big))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, _, err = c.Read(ctx)
	require.Error(t, err)
	assert.Equal(t, websocket.StatusMessageTooBig, websocket.CloseStatus(err))
}

func TestShutdownClosesWithGoingAway(t *testing.T) {
	f := newFixture(t, realtime.Params{})
	var conns []*websocket.Conn
	for _, h := range appHosts {
		host := h + ":" + f.port
		c, _, err := f.dial(t, host, "https://"+host)
		require.NoError(t, err)
		read(t, c) // hello
		conns = append(conns, c)
	}
	require.Eventually(t, func() bool { return f.hub.Len() == 3 }, 2*time.Second, 10*time.Millisecond)

	// Clients keep reading, as browsers do, so the close handshake completes.
	results := make(chan error, len(conns))
	for _, c := range conns {
		go func() {
			_, _, err := c.Read(context.Background())
			results <- err
		}()
	}
	done := make(chan struct{})
	go func() { f.hub.Shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("hub shutdown did not finish")
	}
	for range conns {
		err := <-results
		assert.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(err))
	}
	assert.Equal(t, 0, f.hub.Len())

	// After shutdown a new socket is accepted and closed at once.
	host := "doctor.example.org:" + f.port
	c, _, err := f.dial(t, host, "https://"+host)
	require.NoError(t, err)
	_, _, err = c.Read(t.Context())
	assert.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(err))
}

func TestDeadPeerIsDropped(t *testing.T) {
	f := newFixture(t, realtime.Params{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
	host := "admin.example.org:" + f.port
	c, _, err := f.dial(t, host, "https://"+host)
	require.NoError(t, err)
	// This client never reads, so it never answers pings: the server must
	// give up on it.
	_ = c
	require.Eventually(t, func() bool { return f.hub.Len() == 1 }, 2*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return f.hub.Len() == 0 }, 5*time.Second, 20*time.Millisecond)
}

func TestEdgeForwardedHostIsTheEffectiveHost(t *testing.T) {
	// Behind the edge, Host is the internal name; the Origin must match the
	// X-Forwarded-Host the edge sets. The test server's peer is 127.0.0.1,
	// which this fixture does not trust, so the header must be ignored.
	f := newFixture(t, realtime.Params{})
	h := http.Header{}
	h.Set("Origin", "https://doctor.example.org")
	h.Set("X-Forwarded-Host", "doctor.example.org")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.srv.URL, "http")+"/ws",
		&websocket.DialOptions{Host: "backend:8080", HTTPHeader: h})
	require.Error(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "spoofed X-Forwarded-Host from an untrusted peer")
}

func TestEdgeForwardedHostAccepted(t *testing.T) {
	f := newFixtureTrusting(t, realtime.Params{}, "127.0.0.0/8")
	h := http.Header{}
	h.Set("Origin", "https://doctor.example.org")
	h.Set("X-Forwarded-Host", "doctor.example.org")
	h.Set("X-Forwarded-Proto", "https")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.srv.URL, "http")+"/ws",
		&websocket.DialOptions{Host: "backend:8080", HTTPHeader: h})
	require.NoError(t, err)
	t.Cleanup(func() { c.CloseNow() })
	assert.Equal(t, "hello", read(t, c)["type"])
}

// TestAuthenticatedSocketsAndCloseUser: a refused caller gets 401 before
// any upgrade; CloseUser closes that user's sockets with 1008 and leaves
// the others open.
func TestAuthenticatedSocketsAndCloseUser(t *testing.T) {
	f := newFixture(t, realtime.Params{Authenticate: func(r *http.Request) (authz.Principal, error) {
		switch r.Header.Get("X-Test-User") {
		case "alice", "bob":
			return authz.Principal{Kind: "user", UserID: r.Header.Get("X-Test-User")}, nil
		}
		return authz.Principal{}, errors.New("no session")
	}})
	host := "doctor.example.org:" + f.port
	dialAs := func(user string) (*websocket.Conn, *http.Response, error) {
		h := http.Header{"Origin": {"https://" + host}, "X-Test-User": {user}}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.srv.URL, "http")+"/ws", &websocket.DialOptions{Host: host, HTTPHeader: h})
		if c != nil {
			t.Cleanup(func() { c.CloseNow() })
		}
		return c, resp, err
	}
	_, resp, err := dialAs("mallory")
	require.Error(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	alice, _, err := dialAs("alice")
	require.NoError(t, err)
	bob, _, err := dialAs("bob")
	require.NoError(t, err)
	read(t, alice) // hello
	read(t, bob)
	require.Eventually(t, func() bool { return f.hub.Len() == 2 }, 2*time.Second, 10*time.Millisecond)

	go f.hub.CloseUser("alice")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, _, err = alice.Read(ctx)
	assert.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err))
	require.Eventually(t, func() bool { return f.hub.Len() == 1 }, 5*time.Second, 10*time.Millisecond)
	send(t, bob, `{"type":"ping","id":"1"}`)
	assert.Equal(t, "pong", read(t, bob)["type"])
}

// TestInboundRateLimit: a client flooding its socket gets rate_limited
// errors, then is disconnected with 1008; a calm client is unaffected.
func TestInboundRateLimit(t *testing.T) {
	f := newFixture(t, realtime.Params{InboundRate: 5, InboundBurst: 5, MaxRateLimited: 20})
	host := "doctor.example.org:" + f.port
	c, _, err := f.dial(t, host, "https://"+host)
	require.NoError(t, err)
	read(t, c) // hello

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var limited int
	var closeErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				closeErr = err
				return
			}
			if strings.Contains(string(b), `"rate_limited"`) {
				limited++
			}
		}
	}()
	for i := range 200 {
		if err := c.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf(`{"type":"ping","id":"%d"}`, i))); err != nil {
			break
		}
	}
	<-done
	assert.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(closeErr))
	assert.Greater(t, limited, 0)

	calm, _, err := f.dial(t, host, "https://"+host)
	require.NoError(t, err)
	read(t, calm)
	for i := range 3 {
		send(t, calm, fmt.Sprintf(`{"type":"ping","id":"%d"}`, i))
		assert.Equal(t, "pong", read(t, calm)["type"])
	}
}
