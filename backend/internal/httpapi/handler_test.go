package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/database"
	"github.com/hcw-home/hcw/backend/internal/database/dbtest"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// syncBuffer lets the race detector see the log writes and our reads agree.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		out = append(out, m)
	}
	return out
}

func edgeSet(prefixes ...string) *clientinfo.Edge {
	var ps []netip.Prefix
	for _, p := range prefixes {
		ps = append(ps, netip.MustParsePrefix(p))
	}
	return clientinfo.NewEdge(clientinfo.EdgeParams{Prefixes: ps, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

func newHandler(logs io.Writer, ready httpapi.ReadyFunc) http.Handler {
	h, _ := httpapi.NewHandler(httpapi.Params{
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		Edge:   edgeSet("172.20.0.2/32"),
		Ready:  ready,
	})
	return h
}

func TestAccessLog(t *testing.T) {
	for _, tc := range []struct {
		name                         string
		remote                       string
		wantIP, wantScheme, wantHost string
	}{
		{"trusted edge", "172.20.0.2:51000", "203.0.113.9", "https", "patient.example.org"},
		{"untrusted peer with spoofed headers", "198.51.100.1:51000", "198.51.100.1", "http", "backend:8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			h := newHandler(&logs, nil)
			r := httptest.NewRequest("GET", "http://backend:8080/api/v1/version?token=SECRET-INVITE", nil)
			r.RemoteAddr = tc.remote
			r.Header.Set("X-Forwarded-For", "10.9.9.9, 203.0.113.9")
			r.Header.Set("X-Forwarded-Proto", "https")
			r.Header.Set("X-Forwarded-Host", "patient.example.org")
			r.Header.Set("User-Agent", "test-agent/1")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.Equal(t, http.StatusOK, w.Code)

			lines := logs.lines(t)
			require.Len(t, lines, 1)
			l := lines[0]
			assert.Equal(t, "GET", l["method"])
			assert.Equal(t, "/api/v1/version", l["path"])
			assert.EqualValues(t, 200, l["status"])
			assert.EqualValues(t, w.Body.Len(), l["bytes"])
			assert.Contains(t, l, "duration_ms")
			assert.Equal(t, tc.wantIP, l["client_ip"])
			assert.Equal(t, tc.wantScheme, l["scheme"])
			assert.Equal(t, tc.wantHost, l["host"])
			assert.Equal(t, "test-agent/1", l["user_agent"])
			logs.mu.Lock()
			assert.NotContains(t, logs.buf.String(), "SECRET-INVITE", "query strings never reach the log")
			logs.mu.Unlock()
		})
	}
}

func TestClientInfoReachesHandlers(t *testing.T) {
	var got clientinfo.Info
	h, _ := httpapi.NewHandler(httpapi.Params{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Edge:   edgeSet("172.20.0.2/32"),
		Realtime: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, _ = clientinfo.FromContext(r.Context())
		}),
	})
	r := httptest.NewRequest("GET", "http://backend/ws", nil)
	r.RemoteAddr = "172.20.0.2:1"
	r.Header.Set("X-Forwarded-For", "203.0.113.4")
	h.ServeHTTP(httptest.NewRecorder(), r)
	assert.Equal(t, "203.0.113.4", got.IPString())
}

func TestErrorShapeAndRoutes(t *testing.T) {
	h := newHandler(io.Discard, nil)
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/api/v1/nope", 404, "not_found"},
		{"GET", "/api/", 404, "not_found"},
		// A state-changing request without an Origin never reaches routing.
		{"POST", "/api/v1/version", 403, "origin_refused"},
		{"GET", "/elsewhere", 404, "not_found"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil))
			require.Equal(t, tc.status, w.Code)
			assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
			var body struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
			assert.Equal(t, tc.code, body.Error.Code)
			assert.NotEmpty(t, body.Error.Message)
		})
	}
}

func TestHealthzAndVersion(t *testing.T) {
	h := newHandler(io.Discard, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	assert.Equal(t, 200, w.Code)
	assert.JSONEq(t, `{"status":"ok"}`, w.Body.String())

	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/version", nil))
	assert.Equal(t, 200, w.Code)
	assert.JSONEq(t, `{"name":"HCW@Home","version":"dev","commit":"unknown"}`, w.Body.String())
}

type readyBody struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
}

func getReady(t *testing.T, h http.Handler) (int, readyBody, time.Duration) {
	t.Helper()
	start := time.Now()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	var b readyBody
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &b))
	return w.Code, b, time.Since(start)
}

func migrations(t *testing.T) []database.Migration {
	ms, err := database.Load(database.Migrations())
	require.NoError(t, err)
	return ms
}

func TestReadyzWithDatabase(t *testing.T) {
	pool := dbtest.NewPool(t)
	ready := database.NewReadiness(migrations(t))
	h := newHandler(io.Discard, ready.Check)

	code, body, _ := getReady(t, h)
	assert.Equal(t, 503, code, "before start-up finished")
	assert.Equal(t, "unavailable", body.Status)

	ready.SetPool(pool)
	code, body, _ = getReady(t, h)
	assert.Equal(t, 503, code, "pool set but migrations not applied")
	assert.Equal(t, database.ErrMigrationsPending.Error(), body.Reason)

	require.NoError(t, database.Migrate(t.Context(), pool, database.Migrations(), slog.New(slog.NewTextHandler(io.Discard, nil))))
	code, body, _ = getReady(t, h)
	assert.Equal(t, 200, code)
	assert.Equal(t, "ok", body.Status)
}

func unreachablePool(t *testing.T, addr string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig("postgres://hcw:pw@" + addr + "/hcw?sslmode=disable")
	require.NoError(t, err)
	cfg.ConnConfig.ConnectTimeout = 10 * time.Second // longer than readyz may take
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func TestReadyzFastWhenDatabaseDown(t *testing.T) {
	// A closed port: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := ln.Addr().String()
	require.NoError(t, ln.Close())

	// A black hole: accepts TCP and never speaks, like a paused database.
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { hole.Close() })
	go func() {
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()

	for name, addr := range map[string]string{"closed port": closedAddr, "black hole": hole.Addr().String()} {
		t.Run(name, func(t *testing.T) {
			ready := database.NewReadiness(migrations(t))
			ready.SetPool(unreachablePool(t, addr))
			code, body, took := getReady(t, newHandler(io.Discard, ready.Check))
			assert.Equal(t, 503, code)
			assert.Equal(t, database.ErrUnavailable.Error(), body.Reason)
			assert.Less(t, took, 3*time.Second)
		})
	}
}

func TestReadyzNeverHangs(t *testing.T) {
	stuck := func(context.Context) error { select {} }
	code, _, took := getReady(t, newHandler(io.Discard, stuck))
	assert.Equal(t, 503, code)
	assert.Less(t, took, 3*time.Second)
}

func TestProbe(t *testing.T) {
	var healthy bool
	var mu sync.Mutex
	srv := httptest.NewServer(newHandler(io.Discard, func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if !healthy {
			return httpapi.ErrNotReady
		}
		return nil
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)

	require.NoError(t, httpapi.Probe(t.Context(), u.Port(), false), "liveness")
	require.Error(t, httpapi.Probe(t.Context(), u.Port(), true), "not ready yet")
	mu.Lock()
	healthy = true
	mu.Unlock()
	require.NoError(t, httpapi.Probe(t.Context(), u.Port(), true))

	srv.Close()
	require.Error(t, httpapi.Probe(t.Context(), u.Port(), false), "server gone")
}
