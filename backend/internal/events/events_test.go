package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/database/dbtest"
	"github.com/hcw-home/hcw/backend/internal/events"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// recorder is a Sink that keeps what it hears.
type recorder struct {
	mu      sync.Mutex
	events  []events.Event
	resyncs int
	listens int
}

func (r *recorder) Deliver(ev events.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) Resync() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.resyncs++
}

func (r *recorder) onListen() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.listens++
}

func (r *recorder) snapshot() (evs []events.Event, resyncs, listens int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Event(nil), r.events...), r.resyncs, r.listens
}

func (r *recorder) types() []string {
	evs, _, _ := r.snapshot()
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

// replica starts a Listener named name on the test database.
func replica(t *testing.T, pool *pgxpool.Pool, name string) *recorder {
	t.Helper()
	cfg := pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = name
	rec := &recorder{}
	l := events.NewListener(events.ListenerParams{ConnConfig: cfg, Sink: rec, OnListen: rec.onListen,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, func() bool { _, _, n := rec.snapshot(); return n == 1 }, 10*time.Second, 10*time.Millisecond)
	return rec
}

// TestTwoReplicas: an event published on one database reaches the
// listeners of both "replicas"; only committed transactions publish.
func TestTwoReplicas(t *testing.T) {
	pool := dbtest.NewPool(t)
	a, b := replica(t, pool, "hcw-replica-a"), replica(t, pool, "hcw-replica-b")

	err := pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error {
		return events.PublishData(t.Context(), tx, "test.rolled_back", map[string]string{"x": "1"}, "queue:q")
	})
	require.NoError(t, err)
	tx, err := pool.Begin(t.Context())
	require.NoError(t, err)
	require.NoError(t, events.PublishData(t.Context(), tx, "test.never", nil, "queue:q"))
	require.NoError(t, tx.Rollback(t.Context()))
	require.NoError(t, events.PublishData(t.Context(), pool, "test.committed", map[string]int{"n": 2}, "queue:q", "user:u"))

	for name, rec := range map[string]*recorder{"a": a, "b": b} {
		require.Eventually(t, func() bool { return len(rec.types()) == 2 }, 5*time.Second, 10*time.Millisecond, name)
		evs, _, _ := rec.snapshot()
		assert.Equal(t, []string{"test.rolled_back", "test.committed"}, rec.types(), "the rolled-back one never arrives")
		assert.Equal(t, []string{"queue:q", "user:u"}, evs[1].Topics)
		assert.JSONEq(t, `{"n":2}`, string(evs[1].Data))
	}
}

// TestReconnectResyncs kills replica a's listening connection: it comes
// back, tells its sockets to resync, and hears events again; replica b is
// unaffected.
func TestReconnectResyncs(t *testing.T) {
	pool := dbtest.NewPool(t)
	a, b := replica(t, pool, "hcw-replica-a"), replica(t, pool, "hcw-replica-b")

	var killed int
	require.NoError(t, pool.QueryRow(t.Context(),
		`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'hcw-replica-a'`).Scan(&killed))
	require.Equal(t, 1, killed)
	require.Eventually(t, func() bool { _, resyncs, listens := a.snapshot(); return listens == 2 && resyncs == 1 },
		10*time.Second, 10*time.Millisecond, "a reconnects and resyncs")
	require.NoError(t, events.PublishData(t.Context(), pool, "test.after", nil, "queue:q"))
	require.Eventually(t, func() bool { return len(a.types()) == 1 && len(b.types()) == 1 }, 5*time.Second, 10*time.Millisecond)
	_, resyncs, _ := b.snapshot()
	assert.Zero(t, resyncs)
}

func TestPayloadLimit(t *testing.T) {
	pool := dbtest.NewPool(t)
	err := events.PublishData(t.Context(), pool, "test.big", strings.Repeat("x", events.MaxPayload), "queue:q")
	require.ErrorIs(t, err, events.ErrTooLarge)
	ev, err := events.New("t", json.RawMessage(`{}`), "a:b")
	require.NoError(t, err)
	assert.Equal(t, "t", ev.Type)
	kind, id := events.SplitTopic("consultation:123")
	assert.Equal(t, "consultation", kind)
	assert.Equal(t, "123", id)
}

// TestPublishAllInOrder: many events in one statement arrive in the order
// given, on commit only; one too large among them sends none.
func TestPublishAllInOrder(t *testing.T) {
	pool := dbtest.NewPool(t)
	rec := replica(t, pool, "hcw-replica-order")
	var evs []events.Event
	for i := range 50 {
		ev, err := events.New(fmt.Sprintf("test.n%02d", i), map[string]int{"i": i}, "queue:q")
		require.NoError(t, err)
		evs = append(evs, ev)
	}
	big, err := events.New("test.big", strings.Repeat("x", events.MaxPayload), "queue:q")
	require.NoError(t, err)
	require.ErrorIs(t, events.PublishAll(t.Context(), pool, evs[0], big), events.ErrTooLarge)

	err = pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error {
		if err := events.PublishAll(t.Context(), tx, evs[:49]...); err != nil {
			return err
		}
		b := &pgx.Batch{}
		if err := events.Queue(b, evs[49]); err != nil {
			return err
		}
		return tx.SendBatch(t.Context(), b).Close()
	})
	require.NoError(t, err)
	require.NoError(t, events.PublishAll(t.Context(), pool))
	require.Eventually(t, func() bool { return len(rec.types()) == 50 }, 5*time.Second, 10*time.Millisecond)
	for i, typ := range rec.types() {
		assert.Equal(t, fmt.Sprintf("test.n%02d", i), typ)
	}
}
