package medianode_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/database"
	"github.com/hcw-home/hcw/backend/internal/database/dbtest"
	"github.com/hcw-home/hcw/backend/internal/medianode"
	"github.com/hcw-home/hcw/contract/nodeapi"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const secret = "a-node-secret-for-tests"

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newService(t *testing.T) (*medianode.Service, *pgxpool.Pool, *clock) {
	t.Helper()
	pool := dbtest.NewPool(t)
	require.NoError(t, database.Migrate(t.Context(), pool, database.Migrations(), slog.New(slog.NewTextHandler(io.Discard, nil))))
	c := &clock{t: time.Now().UTC().Truncate(time.Second)}
	s := medianode.New(medianode.Params{Pool: pool, Secret: secret, MediaHost: "media.example.org", Now: c.now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PollInterval: 50 * time.Millisecond})
	return s, pool, c
}

func heartbeat(upstream string, capacity, participants int) nodeapi.Heartbeat {
	return nodeapi.Heartbeat{Upstream: upstream, Capacity: capacity, Load: nodeapi.Load{Participants: participants}, Version: "1.0"}
}

func TestHeartbeatValidation(t *testing.T) {
	ok := heartbeat("media:7880", 100, 0)
	for name, tc := range map[string]struct {
		id    string
		mut   func(*nodeapi.Heartbeat)
		field string
	}{
		"bad id":              {id: "Media_1", field: "id"},
		"id too long":         {id: strings.Repeat("a", 33), field: "id"},
		"no upstream":         {mut: func(h *nodeapi.Heartbeat) { h.Upstream = "" }, field: "upstream"},
		"upstream no port":    {mut: func(h *nodeapi.Heartbeat) { h.Upstream = "media" }, field: "upstream"},
		"upstream with path":  {mut: func(h *nodeapi.Heartbeat) { h.Upstream = "media:7880/x" }, field: "upstream"},
		"upstream with URL":   {mut: func(h *nodeapi.Heartbeat) { h.Upstream = "http://media:7880" }, field: "upstream"},
		"upstream port zero":  {mut: func(h *nodeapi.Heartbeat) { h.Upstream = "media:0" }, field: "upstream"},
		"upstream port big":   {mut: func(h *nodeapi.Heartbeat) { h.Upstream = "media:70000" }, field: "upstream"},
		"upstream user":       {mut: func(h *nodeapi.Heartbeat) { h.Upstream = "u@media:7880" }, field: "upstream"},
		"capacity zero":       {mut: func(h *nodeapi.Heartbeat) { h.Capacity = 0 }, field: "capacity"},
		"capacity too big":    {mut: func(h *nodeapi.Heartbeat) { h.Capacity = 100001 }, field: "capacity"},
		"negative load":       {mut: func(h *nodeapi.Heartbeat) { h.Load.Participants = -1 }, field: "load.participants"},
		"negative bitrate":    {mut: func(h *nodeapi.Heartbeat) { h.Load.Bitrate = -1 }, field: "load.bitrate"},
		"version too long":    {mut: func(h *nodeapi.Heartbeat) { h.Version = strings.Repeat("v", 65) }, field: "version"},
		"version not printed": {mut: func(h *nodeapi.Heartbeat) { h.Version = "1.0\n" }, field: "version"},
	} {
		t.Run(name, func(t *testing.T) {
			hb := ok
			if tc.mut != nil {
				tc.mut(&hb)
			}
			id := "media-1"
			if tc.id != "" {
				id = tc.id
			}
			if tc.field == "id" {
				assert.False(t, nodeapi.ValidID(id))
				return
			}
			err := medianode.ValidateHeartbeat(hb)
			var fe *medianode.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.field, fe.Field)
		})
	}
	for _, u := range []string{"media:7880", "10.0.0.5:7880", "[fd00::5]:7880", "media-2.internal:1"} {
		h := ok
		h.Upstream = u
		assert.NoError(t, medianode.ValidateHeartbeat(h), u)
	}
}

func TestRegistryHealthAndRemoval(t *testing.T) {
	s, _, c := newService(t)
	ctx := t.Context()
	reply, err := s.Heartbeat(ctx, "media-1", heartbeat("media-1:7880", 100, 3))
	require.NoError(t, err)
	assert.Equal(t, "wss://media.example.org/n/media-1/signal", reply.SignalURL)
	_, err = s.Heartbeat(ctx, "media-2", heartbeat("media-2:7880", 50, 0))
	require.NoError(t, err)
	_, err = s.Heartbeat(ctx, "Bad_ID", heartbeat("x:1", 1, 0))
	require.ErrorIs(t, err, medianode.ErrInvalidID)

	reg, err := s.Registry(ctx)
	require.NoError(t, err)
	assert.Equal(t, []nodeapi.RegistryNode{
		{ID: "media-1", Upstream: "media-1:7880", Healthy: true},
		{ID: "media-2", Upstream: "media-2:7880", Healthy: true},
	}, reg.Nodes)

	// media-2 keeps beating; media-1 falls silent past the node timeout.
	c.add(nodeapi.NodeTimeout - time.Second)
	_, err = s.Heartbeat(ctx, "media-2", heartbeat("media-2:7880", 50, 1))
	require.NoError(t, err)
	c.add(2 * time.Second)
	reg, err = s.Registry(ctx)
	require.NoError(t, err)
	assert.Equal(t, []nodeapi.RegistryNode{
		{ID: "media-1", Upstream: "media-1:7880", Healthy: false},
		{ID: "media-2", Upstream: "media-2:7880", Healthy: true},
	}, reg.Nodes)

	nodes, err := s.Nodes(ctx)
	require.NoError(t, err)
	require.Len(t, nodes, 2)
	assert.Equal(t, 1, nodes[1].Load.Participants)
	assert.Equal(t, 50, nodes[1].Capacity)
	assert.Equal(t, "1.0", nodes[1].Version)

	// A clean shutdown removes the node; removing it again is no error.
	require.NoError(t, s.Remove(ctx, "media-2"))
	require.NoError(t, s.Remove(ctx, "media-2"))
	reg, err = s.Registry(ctx)
	require.NoError(t, err)
	assert.Equal(t, []nodeapi.RegistryNode{{ID: "media-1", Upstream: "media-1:7880", Healthy: false}}, reg.Nodes)

	// A node silent for a day is purged.
	c.add(medianode.StaleAfter)
	n, err := s.Purge(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	reg, err = s.Registry(ctx)
	require.NoError(t, err)
	assert.Empty(t, reg.Nodes)
}

// place runs Place in its own transaction.
func place(t *testing.T, s *medianode.Service, pool *pgxpool.Pool, current string) (medianode.Node, error) {
	t.Helper()
	var n medianode.Node
	err := pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error {
		var err error
		n, err = s.Place(t.Context(), tx, current)
		return err
	})
	return n, err
}

func TestPlacement(t *testing.T) {
	s, pool, c := newService(t)
	ctx := t.Context()
	_, err := place(t, s, pool, "")
	require.ErrorIs(t, err, medianode.ErrNoNode, "no node at all")

	beat := func(id string, capacity, participants int, draining bool) {
		hb := heartbeat(id+":7880", capacity, participants)
		hb.Draining = draining
		_, err := s.Heartbeat(ctx, id, hb)
		require.NoError(t, err)
	}
	beat("busy", 10, 8, false)    // 80 %
	beat("light", 100, 30, false) // 30 %: the least loaded
	beat("idle-draining", 100, 0, false)
	beat("full", 10, 10, false)
	beat("stale", 100, 0, false)
	c.add(nodeapi.NodeTimeout)
	beat("busy", 10, 8, false)
	beat("light", 100, 30, false)
	beat("idle-draining", 100, 0, true)
	beat("full", 10, 10, false)

	n, err := place(t, s, pool, "")
	require.NoError(t, err)
	assert.Equal(t, "light", n.ID, "least loaded; draining, full and stale nodes skipped")
	assert.Equal(t, "wss://media.example.org/n/light/signal", n.SignalURL)

	// Sticky: a call already on a healthy node stays there, even when the
	// node is busier, draining or full.
	for _, cur := range []string{"busy", "idle-draining", "full"} {
		n, err = place(t, s, pool, cur)
		require.NoError(t, err)
		assert.Equal(t, cur, n.ID)
	}
	// A call whose node died or left goes to the least-loaded one.
	for _, cur := range []string{"stale", "gone"} {
		n, err = place(t, s, pool, cur)
		require.NoError(t, err)
		assert.Equal(t, "light", n.ID)
	}
	// Ties break by rooms, then id.
	beat("light-2", 100, 30, false)
	n, err = place(t, s, pool, "")
	require.NoError(t, err)
	assert.Equal(t, "light", n.ID)

	// Nothing healthy with room: ErrNoNode.
	c.add(nodeapi.NodeTimeout)
	beat("full", 10, 10, false)
	beat("idle-draining", 100, 0, true)
	_, err = place(t, s, pool, "")
	require.ErrorIs(t, err, medianode.ErrNoNode)
}

// fakeNode is a media node's control API that records what it was asked.
type fakeNode struct {
	srv      *httptest.Server
	mu       sync.Mutex
	calls    []string
	auth     []string
	failures atomic.Int32 // answer 500 this many times first
}

func newFakeNode(t *testing.T) *fakeNode {
	f := &fakeNode{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.failures.Add(-1) >= 0 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		f.mu.Lock()
		f.calls = append(f.calls, r.Method+" "+r.URL.Path)
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.mu.Unlock()
		if !nodeapi.Authorized(r, secret) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"removed":true}`)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeNode) upstream() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *fakeNode) seen() ([]string, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...), append([]string(nil), f.auth...)
}

// waitCalls polls until the node has seen n calls, at most 5 s.
func (f *fakeNode) waitCalls(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		calls, _ := f.seen()
		if len(calls) >= n {
			return calls
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node saw %d control calls in 5 s, want %d: %v", len(calls), n, calls)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestControlCommandsReachTheNode(t *testing.T) {
	s, pool, _ := newService(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan struct{})
	go func() { s.RunControl(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	node := newFakeNode(t)
	_, err := s.Heartbeat(t.Context(), "media-1", heartbeat(node.upstream(), 100, 0))
	require.NoError(t, err)

	room := "3f1f7d6c-8a51-4b0e-9b0e-0c1d2e3f4a5b"
	start := time.Now()
	require.NoError(t, pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error {
		if err := medianode.RemoveParticipant(t.Context(), tx, "media-1", room, "p-"+room); err != nil {
			return err
		}
		return medianode.EndRoom(t.Context(), tx, "media-1", room)
	}))
	s.Poke()
	calls := node.waitCalls(t, 2)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.ElementsMatch(t, []string{
		"POST /control/v1/rooms/" + room + "/participants/p-" + room + "/remove",
		"POST /control/v1/rooms/" + room + "/end",
	}, calls)
	_, auth := node.seen()
	for _, a := range auth {
		assert.Equal(t, "Bearer "+secret, a)
	}

	// A node that fails twice gets the command on the third attempt.
	node.failures.Store(2)
	require.NoError(t, medianode.EndRoom(t.Context(), pool, "media-1", "room-2"))
	s.Poke()
	calls = node.waitCalls(t, 3)
	assert.Equal(t, "POST /control/v1/rooms/room-2/end", calls[2])

	// A node that is gone needs nothing: the command is settled unsent.
	require.NoError(t, medianode.EndRoom(t.Context(), pool, "gone", "room-3"))
	s.Poke()
	require.Eventually(t, func() bool {
		var outcome *string
		err := pool.QueryRow(t.Context(), `SELECT outcome FROM media_commands WHERE room = 'room-3'`).Scan(&outcome)
		return err == nil && outcome != nil && *outcome == "node_gone"
	}, 5*time.Second, 20*time.Millisecond)

	var sent, pending int
	require.NoError(t, pool.QueryRow(t.Context(),
		`SELECT count(*) FILTER (WHERE outcome = 'sent'), count(*) FILTER (WHERE done_at IS NULL) FROM media_commands`).Scan(&sent, &pending))
	assert.Equal(t, 3, sent)
	assert.Zero(t, pending)
}

func TestControlGivesUpAfterMaxAttempts(t *testing.T) {
	s, pool, _ := newService(t)
	node := newFakeNode(t)
	node.failures.Store(100)
	_, err := s.Heartbeat(t.Context(), "media-1", heartbeat(node.upstream(), 100, 0))
	require.NoError(t, err)
	require.NoError(t, medianode.EndRoom(t.Context(), pool, "media-1", "room-1"))
	require.Eventually(t, func() bool {
		s.SendDue(t.Context())
		var outcome *string
		var attempts int
		err := pool.QueryRow(t.Context(), `SELECT outcome, attempts FROM media_commands`).Scan(&outcome, &attempts)
		return err == nil && outcome != nil && *outcome == "failed" && attempts == medianode.DefaultMaxAttempts
	}, 15*time.Second, 50*time.Millisecond)
}
