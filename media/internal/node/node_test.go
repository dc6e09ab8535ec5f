package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
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
	"github.com/hcw-home/hcw/contract/nodeapi"
	"github.com/hcw-home/hcw/media/internal/config"
)

const secret = "0123456789abcdef-secret"

// fakeRooms stands in for the SFU.
type fakeRooms struct {
	participants atomic.Int32
	draining     atomic.Bool
	closed       atomic.Int32
	params       RoomsParams
}

func (f *fakeRooms) SignalHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "signal %s", r.PathValue("id"))
	})
}
func (f *fakeRooms) RemoveParticipant(room, participant string) bool { return room == "c1" }
func (f *fakeRooms) EndRoom(room string) bool                        { return room == "c1" }
func (f *fakeRooms) Rooms() []nodeapi.Room {
	return []nodeapi.Room{{ID: "c1", Participants: []string{"p1"}}}
}
func (f *fakeRooms) Load() nodeapi.Load {
	return nodeapi.Load{Rooms: 1, Participants: int(f.participants.Load())}
}
func (f *fakeRooms) SetDraining(d bool) { f.draining.Store(d) }
func (f *fakeRooms) Close()             { f.closed.Add(1) }

// backend is a fake backend: the JWKS (503 until keys are set) and the
// node registry.
type backend struct {
	mu         sync.Mutex
	jwks       []byte
	heartbeats []nodeapi.Heartbeat
	deletes    int
	auth       []string
}

func newBackend(t *testing.T) (*backend, *httptest.Server) {
	b := &backend{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+nodeapi.PathJWKS, func(w http.ResponseWriter, _ *http.Request) {
		b.mu.Lock()
		body := b.jwks
		b.mu.Unlock()
		if body == nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(body)
	})
	mux.HandleFunc("PUT "+nodeapi.PathNode, func(w http.ResponseWriter, r *http.Request) {
		var hb nodeapi.Heartbeat
		_ = json.NewDecoder(r.Body).Decode(&hb)
		b.mu.Lock()
		b.heartbeats = append(b.heartbeats, hb)
		b.auth = append(b.auth, r.Header.Get("Authorization"))
		b.mu.Unlock()
		_ = json.NewEncoder(w).Encode(nodeapi.HeartbeatReply{SignalURL: "wss://media.example.org/n/" + r.PathValue("id") + "/signal"})
	})
	mux.HandleFunc("DELETE "+nodeapi.PathNode, func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.deletes++
		b.auth = append(b.auth, r.Header.Get("Authorization"))
		b.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return b, srv
}

func (b *backend) serveKeys(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	body, err := json.Marshal(grant.NewJWKS(pub))
	require.NoError(t, err)
	b.mu.Lock()
	b.jwks = body
	b.mu.Unlock()
}

func (b *backend) state() (hbs []nodeapi.Heartbeat, deletes int, auth []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]nodeapi.Heartbeat(nil), b.heartbeats...), b.deletes, append([]string(nil), b.auth...)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testConfig(backendURL string) *config.Config {
	return &config.Config{
		NodeID: "media-1", HTTPListen: "127.0.0.1:0", UDPPort: 0, TCPPort: 0,
		Upstream: "media-1:7880", Capacity: 10, GracePeriod: time.Second, DrainTimeout: time.Hour,
		BackendURL: backendURL, JWKSURL: backendURL + nodeapi.PathJWKS, NodeSecret: secret,
	}
}

type running struct {
	n      *Node
	rooms  *fakeRooms
	stop   context.CancelFunc
	runErr chan error
}

func start(t *testing.T, cfg *config.Config) *running {
	t.Helper()
	rooms := &fakeRooms{}
	n, err := New(Params{
		Config: cfg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewRooms: func(p RoomsParams) (Rooms, error) {
			rooms.params = p
			return rooms, nil
		},
		DrainPoll: 5 * time.Millisecond,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{n: n, rooms: rooms, stop: cancel, runErr: make(chan error, 1)}
	go func() { r.runErr <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		closed, c := context.WithCancel(context.Background())
		c()
		_ = n.Shutdown(closed)
	})
	return r
}

func (r *running) get(t *testing.T, path string, header ...string) (int, string) {
	t.Helper()
	return r.do(t, http.MethodGet, path, header...)
}

func (r *running) do(t *testing.T, method, path string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+r.n.HTTPAddr().String()+path, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestNodeServesWhatItShould(t *testing.T) {
	b, srv := newBackend(t)
	r := start(t, testConfig(srv.URL))

	code, _ := r.get(t, "/healthz")
	assert.Equal(t, http.StatusOK, code)
	code, body := r.get(t, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "not ready before the grant keys")
	assert.Contains(t, body, "grant keys not loaded")
	hbs, _, _ := b.state()
	assert.Empty(t, hbs, "not registered before the grant keys")

	b.serveKeys(t)
	eventually(t, "readiness", func() bool { code, _ := r.get(t, "/readyz"); return code == http.StatusOK })
	eventually(t, "a heartbeat", func() bool { hbs, _, _ := b.state(); return len(hbs) > 0 })
	hbs, _, auth := b.state()
	assert.Equal(t, nodeapi.Heartbeat{Upstream: "media-1:7880", Capacity: 10, Load: nodeapi.Load{Rooms: 1}}, hbs[0])
	assert.Equal(t, "Bearer "+secret, auth[0])

	// The SFU got the node's parts.
	p := r.rooms.params
	assert.Equal(t, "media-1", p.NodeID)
	assert.NotNil(t, p.Verifier)
	assert.NotNil(t, p.RefreshKeys)
	assert.NotNil(t, p.UDPConn)
	assert.Nil(t, p.TCPListener, "TCP port 0 disables ICE-TCP")
	assert.Equal(t, 10, p.Capacity)
	assert.NotNil(t, p.Registerer)

	code, body = r.get(t, "/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "go_goroutines")
	assert.Contains(t, body, "hcw_media_node_grant_keys_loaded 1")
	assert.Contains(t, body, "hcw_media_node_draining 0")

	code, body = r.get(t, "/n/media-1/signal")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "signal media-1", body)
	code, _ = r.get(t, "/n/media-2/signal")
	assert.Equal(t, http.StatusNotFound, code, "another node's signalling")
	code, _ = r.do(t, http.MethodPost, "/n/media-1/signal")
	assert.Equal(t, http.StatusMethodNotAllowed, code)

	code, _ = r.get(t, "/control/v1/rooms")
	assert.Equal(t, http.StatusUnauthorized, code)
	code, body = r.get(t, "/control/v1/rooms", "Authorization", "Bearer "+secret)
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"rooms":[{"id":"c1","participants":["p1"]}]}`, body)
	code, body = r.do(t, http.MethodPost, "/control/v1/rooms/c1/participants/p1/remove", "Authorization", "Bearer "+secret)
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"removed":true}`, body)

	for _, path := range []string{"/", "/debug/pprof/", "/n/media-1/other", "/internal/v1/media/nodes", "/api/v1/media/jwks"} {
		code, _ = r.get(t, path)
		assert.Equal(t, http.StatusNotFound, code, path)
	}
}

func TestDrainWaitsForTheLastParticipant(t *testing.T) {
	b, srv := newBackend(t)
	b.serveKeys(t)
	r := start(t, testConfig(srv.URL))
	r.rooms.participants.Store(2)
	eventually(t, "a heartbeat", func() bool { hbs, _, _ := b.state(); return len(hbs) > 0 })

	r.stop() // SIGTERM
	require.NoError(t, <-r.runErr)
	done := make(chan error, 1)
	go func() { done <- r.n.Shutdown(context.Background()) }()

	eventually(t, "the SFU told to drain", r.rooms.draining.Load)
	code, body := r.get(t, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "draining")
	eventually(t, "a heartbeat saying draining", func() bool {
		hbs, _, _ := b.state()
		return hbs[len(hbs)-1].Draining
	})
	// Calls in progress keep their signalling.
	code, _ = r.get(t, "/n/media-1/signal")
	assert.Equal(t, http.StatusOK, code)
	select {
	case <-done:
		t.Fatal("Shutdown returned with participants still in calls")
	case <-time.After(50 * time.Millisecond):
	}
	assert.Zero(t, r.rooms.closed.Load())

	r.rooms.participants.Store(0)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after the last participant left")
	}
	assert.Equal(t, int32(1), r.rooms.closed.Load())
	_, deletes, _ := b.state()
	assert.Equal(t, 1, deletes, "left the backend's registry")
	_, err := net.Dial("tcp", r.n.HTTPAddr().String())
	assert.Error(t, err, "HTTP listener closed")
}

func TestDrainTimeoutEndsRemainingCalls(t *testing.T) {
	b, srv := newBackend(t)
	b.serveKeys(t)
	cfg := testConfig(srv.URL)
	cfg.DrainTimeout = 100 * time.Millisecond
	r := start(t, cfg)
	r.rooms.participants.Store(3)
	r.stop()
	require.NoError(t, <-r.runErr)

	began := time.Now()
	require.NoError(t, r.n.Shutdown(context.Background()))
	assert.GreaterOrEqual(t, time.Since(began), 100*time.Millisecond)
	assert.Equal(t, int32(1), r.rooms.closed.Load(), "remaining calls closed")
}

func TestSecondSignalStopsTheDrainAtOnce(t *testing.T) {
	b, srv := newBackend(t)
	b.serveKeys(t)
	r := start(t, testConfig(srv.URL)) // drain timeout 1 h
	r.rooms.participants.Store(3)
	r.stop()
	require.NoError(t, <-r.runErr)

	second, signal := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.n.Shutdown(second) }()
	eventually(t, "draining", r.n.Draining)
	signal()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("a second signal did not stop the drain")
	}
	assert.Equal(t, int32(1), r.rooms.closed.Load())
}

func TestEmptyNodeStopsWithoutWaiting(t *testing.T) {
	b, srv := newBackend(t)
	b.serveKeys(t)
	r := start(t, testConfig(srv.URL)) // drain timeout 1 h, no participants
	r.stop()
	require.NoError(t, <-r.runErr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, r.n.Shutdown(ctx))
	require.NoError(t, ctx.Err())
	assert.Equal(t, int32(1), r.rooms.closed.Load())
}

func TestNodeHoldsItsPorts(t *testing.T) {
	_, srv := newBackend(t)
	cfg := testConfig(srv.URL)
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg.TCPPort = tcp.Addr().(*net.TCPAddr).Port
	require.NoError(t, tcp.Close())
	r := start(t, cfg)
	require.NotNil(t, r.rooms.params.TCPListener)

	udpPort := r.rooms.params.UDPConn.LocalAddr().(*net.UDPAddr).Port
	for name, c := range map[string]*config.Config{
		"udp": func() *config.Config { c := testConfig(srv.URL); c.UDPPort = udpPort; return c }(),
		"tcp": func() *config.Config { c := testConfig(srv.URL); c.TCPPort = cfg.TCPPort; return c }(),
		"http": func() *config.Config {
			c := testConfig(srv.URL)
			c.HTTPListen = r.n.HTTPAddr().String()
			return c
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			built := false
			_, err := New(Params{Config: c, NewRooms: func(RoomsParams) (Rooms, error) { built = true; return &fakeRooms{}, nil }})
			assert.Error(t, err)
			assert.False(t, built, "no SFU on a port the node could not bind")
		})
	}
}

func TestSFUFailureReleasesThePorts(t *testing.T) {
	_, srv := newBackend(t)
	cfg := testConfig(srv.URL)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg.HTTPListen = l.Addr().String()
	require.NoError(t, l.Close())

	boom := errors.New("boom")
	_, err = New(Params{Config: cfg, NewRooms: func(RoomsParams) (Rooms, error) { return nil, boom }})
	require.ErrorIs(t, err, boom)
	assert.True(t, strings.HasPrefix(err.Error(), "start SFU"))
	// The HTTP port is free again.
	l, err = net.Listen("tcp", cfg.HTTPListen)
	require.NoError(t, err)
	_ = l.Close()
}
