package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/contract/nodeapi"
)

const secret = "0123456789abcdef-secret"

// request is what the fake backend saw.
type request struct {
	method, path, auth string
	body               nodeapi.Heartbeat
	at                 time.Time
}

// fakeBackend records node API requests and answers with status().
type fakeBackend struct {
	mu     sync.Mutex
	reqs   []request
	status atomic.Int32
	hang   atomic.Bool
}

func newFakeBackend(t *testing.T) (*fakeBackend, *httptest.Server) {
	b := &fakeBackend{}
	b.status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rq := request{method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization"), at: time.Now()}
		if r.Method == http.MethodPut {
			_ = json.NewDecoder(r.Body).Decode(&rq.body)
		}
		b.mu.Lock()
		b.reqs = append(b.reqs, rq)
		b.mu.Unlock()
		if b.hang.Load() {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(int(b.status.Load()))
		if r.Method == http.MethodPut {
			_ = json.NewEncoder(w).Encode(nodeapi.HeartbeatReply{SignalURL: "wss://media.example.org/n/media-1/signal"})
		}
	}))
	t.Cleanup(srv.Close)
	return b, srv
}

func (b *fakeBackend) requests() []request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]request(nil), b.reqs...)
}

// eventually polls cond until it holds or the deadline passes.
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

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func startHeartbeat(t *testing.T, p HeartbeatParams) (*Heartbeat, context.CancelFunc, <-chan struct{}) {
	t.Helper()
	h, err := NewHeartbeat(p)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h, cancel, done
}

func TestHeartbeatBodyAuthAndInterval(t *testing.T) {
	b, srv := newFakeBackend(t)
	const interval = 40 * time.Millisecond
	load := nodeapi.Load{Rooms: 2, Participants: 5, Tracks: 9, Bitrate: 1_000_000}
	h, _, _ := startHeartbeat(t, HeartbeatParams{
		BackendURL: srv.URL, NodeID: "media-1", Secret: secret,
		Upstream: "media-1:7880", Capacity: 200, Version: "test",
		Load: func() nodeapi.Load { return load }, Draining: func() bool { return false },
		Interval: interval,
	})
	start := time.Now()
	eventually(t, "four heartbeats", func() bool { return len(b.requests()) >= 4 })
	reqs := b.requests()
	// Four beats, the first at once: at least three intervals passed.
	assert.GreaterOrEqual(t, reqs[3].at.Sub(start), 3*interval-10*time.Millisecond)
	for _, r := range reqs[:4] {
		assert.Equal(t, http.MethodPut, r.method)
		assert.Equal(t, "/internal/v1/media/nodes/media-1", r.path)
		assert.Equal(t, "Bearer "+secret, r.auth)
		assert.Equal(t, nodeapi.Heartbeat{Upstream: "media-1:7880", Capacity: 200, Load: load, Version: "test"}, r.body)
	}
	assert.Equal(t, "wss://media.example.org/n/media-1/signal", h.SignalURL())
}

func TestHeartbeatDeletesOnStop(t *testing.T) {
	b, srv := newFakeBackend(t)
	_, cancel, done := startHeartbeat(t, HeartbeatParams{
		BackendURL: srv.URL, NodeID: "media-1", Secret: secret,
		Load: func() nodeapi.Load { return nodeapi.Load{} }, Draining: func() bool { return true },
		Interval: time.Hour,
	})
	eventually(t, "the first heartbeat", func() bool { return len(b.requests()) >= 1 })
	assert.True(t, b.requests()[0].body.Draining)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	reqs := b.requests()
	last := reqs[len(reqs)-1]
	assert.Equal(t, http.MethodDelete, last.method)
	assert.Equal(t, "/internal/v1/media/nodes/media-1", last.path)
	assert.Equal(t, "Bearer "+secret, last.auth)
}

func TestHeartbeatKickSendsAtOnce(t *testing.T) {
	b, srv := newFakeBackend(t)
	var draining atomic.Bool
	h, _, _ := startHeartbeat(t, HeartbeatParams{
		BackendURL: srv.URL, NodeID: "media-1", Secret: secret,
		Load: func() nodeapi.Load { return nodeapi.Load{} }, Draining: draining.Load,
		Interval: time.Hour,
	})
	eventually(t, "the first heartbeat", func() bool { return len(b.requests()) >= 1 })
	draining.Store(true)
	h.Kick()
	eventually(t, "a heartbeat saying draining", func() bool {
		reqs := b.requests()
		return len(reqs) >= 2 && reqs[1].body.Draining
	})
}

func TestHeartbeatLogsStateChangesOnly(t *testing.T) {
	b, srv := newFakeBackend(t)
	b.status.Store(http.StatusInternalServerError)
	var logs logBuffer
	startHeartbeat(t, HeartbeatParams{
		Logger:     logs.logger(),
		BackendURL: srv.URL, NodeID: "media-1", Secret: secret,
		Load: func() nodeapi.Load { return nodeapi.Load{} }, Draining: func() bool { return false },
		Interval: 10 * time.Millisecond,
	})
	eventually(t, "five failed heartbeats", func() bool { return len(b.requests()) >= 5 })
	b.status.Store(http.StatusOK)
	eventually(t, "the recovery line", func() bool { return strings.Contains(logs.String(), "heartbeat to backend restored") })
	n := len(b.requests())
	b.status.Store(http.StatusUnauthorized)
	eventually(t, "five more failed heartbeats", func() bool { return len(b.requests()) >= n+5 })

	out := logs.String()
	assert.Equal(t, 2, strings.Count(out, "heartbeat to backend failing"), out)
	assert.Equal(t, 1, strings.Count(out, "heartbeat to backend restored"), out)
	assert.Contains(t, out, "500 Internal Server Error")
	assert.Contains(t, out, "401 Unauthorized")
	assert.NotContains(t, out, secret)
}

func TestHeartbeatTimesOutAHangingBackend(t *testing.T) {
	b, srv := newFakeBackend(t)
	b.hang.Store(true)
	startHeartbeat(t, HeartbeatParams{
		BackendURL: srv.URL, NodeID: "media-1", Secret: secret,
		Load: func() nodeapi.Load { return nodeapi.Load{} }, Draining: func() bool { return false },
		Interval: 10 * time.Millisecond, Timeout: 20 * time.Millisecond,
	})
	// A beat that never ended would leave exactly one request.
	eventually(t, "beats after a hanging one", func() bool { return len(b.requests()) >= 3 })
}

func TestNewHeartbeatRefusesBadParams(t *testing.T) {
	ok := HeartbeatParams{
		BackendURL: "http://backend:8080", NodeID: "media-1", Secret: secret,
		Load: func() nodeapi.Load { return nodeapi.Load{} }, Draining: func() bool { return false },
	}
	for name, tc := range map[string]struct {
		edit func(*HeartbeatParams)
		want error
	}{
		"backend": {func(p *HeartbeatParams) { p.BackendURL = "" }, ErrNoBackend},
		"secret":  {func(p *HeartbeatParams) { p.Secret = "" }, ErrNoSecret},
		"node id": {func(p *HeartbeatParams) { p.NodeID = "Bad/ID" }, ErrBadNodeID},
		"load":    {func(p *HeartbeatParams) { p.Load = nil }, ErrNoLoad},
	} {
		t.Run(name, func(t *testing.T) {
			p := ok
			tc.edit(&p)
			_, err := NewHeartbeat(p)
			assert.ErrorIs(t, err, tc.want)
		})
	}
}
