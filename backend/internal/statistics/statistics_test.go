package statistics_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/database"
	"github.com/hcw-home/hcw/backend/internal/database/dbtest"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/statistics"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const (
	queueA = "0a000000-0000-4000-8000-000000000001"
	queueB = "0b000000-0000-4000-8000-000000000002"
)

func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := dbtest.NewPool(t)
	require.NoError(t, database.Migrate(t.Context(), pool, database.Migrations(), slog.New(slog.DiscardHandler)))
	for id, name := range map[string]string{queueA: "Alpha", queueB: "Beta"} {
		_, err := pool.Exec(t.Context(), `INSERT INTO queues (id, name, created_at, updated_at) VALUES ($1, $2, now(), now())`, id, name)
		require.NoError(t, err)
	}
	return pool
}

type stat struct {
	queue    string
	reason   string
	closedAt string
	waited   *int
	duration *int
	calls    int
	good     int
	ok       int
	bad      int
}

func n(v int) *int { return &v }

var seq int

func insert(t *testing.T, pool *pgxpool.Pool, s stat) {
	t.Helper()
	seq++
	closed, err := time.Parse(time.RFC3339, s.closedAt)
	require.NoError(t, err)
	var queue *string
	if s.queue != "" {
		queue = &s.queue
	}
	id := fmt.Sprintf("00000000-0000-4000-9000-%012d", seq)
	_, err = pool.Exec(t.Context(), `INSERT INTO consultation_stats (id, queue_id, close_reason, created_at, closed_at,
		waited_seconds, duration_seconds, participant_count, calls_count, feedback_good, feedback_ok, feedback_bad)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10, $11)`,
		id, queue, s.reason, closed.Add(-time.Hour), closed, s.waited, s.duration, s.calls, s.good, s.ok, s.bad)
	require.NoError(t, err)
}

func f(v float64) *float64 { return &v }

func seed(t *testing.T, pool *pgxpool.Pool) {
	// 2026-03-01, queue A: waits 10..100 (10 rows), 8 completed, 2
	// cancelled (never accepted: no duration).
	for i := 1; i <= 10; i++ {
		s := stat{queue: queueA, reason: "completed", closedAt: "2026-03-01T10:00:00Z", waited: n(i * 10), duration: n(600), calls: 1}
		if i > 8 {
			s.reason, s.duration, s.calls = "cancelled", nil, 0
		}
		if i == 1 {
			s.good, s.ok, s.bad = 2, 1, 0
		}
		if i == 2 {
			s.bad = 1
		}
		insert(t, pool, s)
	}
	// 2026-03-01 23:30 UTC is still the 1st; queue B.
	insert(t, pool, stat{queue: queueB, reason: "completed", closedAt: "2026-03-01T23:30:00Z", waited: n(30), duration: n(300), calls: 2, ok: 1})
	// 2026-03-02, a deleted queue, no waiting time.
	insert(t, pool, stat{reason: "cancelled", closedAt: "2026-03-02T00:00:00Z"})
	// Outside the range.
	insert(t, pool, stat{queue: queueA, reason: "completed", closedAt: "2026-02-28T23:59:59Z", waited: n(5), duration: n(5)})
	insert(t, pool, stat{queue: queueA, reason: "completed", closedAt: "2026-03-04T00:00:00Z", waited: n(5), duration: n(5)})
}

func TestReportAggregates(t *testing.T) {
	pool := newPool(t)
	seed(t, pool)
	store := statistics.NewStore(pool)
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }

	rep, err := store.Report(t.Context(), statistics.Filter{From: day("2026-03-01"), To: day("2026-03-03")})
	require.NoError(t, err)
	require.Len(t, rep.Rows, 3)
	a, b, gone := rep.Rows[0], rep.Rows[1], rep.Rows[2]
	assert.Equal(t, "2026-03-01", a.Day)
	assert.Equal(t, queueA, *a.QueueID)
	assert.Equal(t, "Alpha", a.QueueName)
	assert.Equal(t, statistics.Figures{Closed: 10, Completed: 8, Cancelled: 2,
		AvgWaitSeconds: f(55), P90WaitSeconds: f(91), AvgConsultationSeconds: f(600), Calls: 8,
		FeedbackGood: 2, FeedbackOK: 1, FeedbackBad: 1}, a.Figures)
	assert.Equal(t, "2026-03-01", b.Day)
	assert.Equal(t, "Beta", b.QueueName)
	assert.Equal(t, statistics.Figures{Closed: 1, Completed: 1, AvgWaitSeconds: f(30), P90WaitSeconds: f(30),
		AvgConsultationSeconds: f(300), Calls: 2, FeedbackOK: 1}, b.Figures)
	assert.Equal(t, "2026-03-02", gone.Day)
	assert.Nil(t, gone.QueueID)
	assert.Equal(t, statistics.Figures{Closed: 1, Cancelled: 1}, gone.Figures)
	// Waits 10..100 and 30: mean 580/11, p90 interpolated over 11 values.
	assert.Equal(t, statistics.Figures{Closed: 12, Completed: 9, Cancelled: 3,
		AvgWaitSeconds: f(52.7), P90WaitSeconds: f(90), AvgConsultationSeconds: f(566.7), Calls: 10,
		FeedbackGood: 2, FeedbackOK: 2, FeedbackBad: 1}, rep.Totals)

	rep, err = store.Report(t.Context(), statistics.Filter{From: day("2026-03-01"), To: day("2026-03-03"), QueueID: queueB})
	require.NoError(t, err)
	require.Len(t, rep.Rows, 1)
	assert.Equal(t, 1, rep.Totals.Closed)

	rep, err = store.Report(t.Context(), statistics.Filter{From: day("2025-01-01"), To: day("2025-01-31")})
	require.NoError(t, err)
	assert.Empty(t, rep.Rows)
	assert.Equal(t, statistics.Figures{}, rep.Totals)
}

// adminAuth lets every session in as an administrator: the route matrix
// of package staffapi checks who may call the routes.
type adminAuth struct{}

func (adminAuth) Session(context.Context, string) (authz.Principal, bool, error) {
	return authz.Principal{Kind: "user", ID: "0c000000-0000-4000-8000-000000000003", UserID: "0c000000-0000-4000-8000-000000000003", Role: authz.RoleAdmin}, false, nil
}

func (adminAuth) APIKey(context.Context, string) (authz.Principal, error) {
	return authz.Principal{}, httpapi.ErrNoCredentials
}

func newHandler(t *testing.T, pool *pgxpool.Pool, now time.Time) http.Handler {
	logger := slog.New(slog.DiscardHandler)
	api := statistics.NewAPI(statistics.Params{Reports: statistics.NewStore(pool), Audit: audit.NewStore(pool),
		Logger: logger, Now: func() time.Time { return now }})
	h, _ := httpapi.NewHandler(httpapi.Params{Logger: logger, AppHosts: []string{"admin.example.org"}, Auth: adminAuth{},
		Mount: []func(*httpapi.Router){api.Mount}, Edge: clientinfo.NewEdge(clientinfo.EdgeParams{Logger: logger})})
	return h
}

func get(h http.Handler, path string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "https://admin.example.org"+path, nil)
	r.AddCookie(&http.Cookie{Name: httpapi.SessionCookieName, Value: "x"})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestAPI(t *testing.T) {
	pool := newPool(t)
	seed(t, pool)
	h := newHandler(t, pool, time.Date(2026, 3, 30, 15, 0, 0, 0, time.UTC))

	t.Run("default range", func(t *testing.T) {
		w := get(h, "/api/v1/admin/statistics")
		require.Equal(t, 200, w.Code, w.Body.String())
		var rep statistics.Report
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &rep))
		assert.Equal(t, "2026-03-01", rep.From)
		assert.Equal(t, "2026-03-30", rep.To)
		assert.Equal(t, 13, rep.Totals.Closed)
	})

	t.Run("csv", func(t *testing.T) {
		w := get(h, "/api/v1/admin/statistics.csv?from=2026-03-01&to=2026-03-02&queue_id="+queueA)
		require.Equal(t, 200, w.Code, w.Body.String())
		assert.Equal(t, "text/csv; charset=utf-8", w.Header().Get("Content-Type"))
		assert.Equal(t, `attachment; filename="statistics-2026-03-01-2026-03-02.csv"`, w.Header().Get("Content-Disposition"))
		lines, err := csv.NewReader(w.Body).ReadAll()
		require.NoError(t, err)
		require.Len(t, lines, 2)
		assert.Equal(t, statistics.CSVHeader, lines[0])
		assert.Equal(t, []string{"2026-03-01", queueA, "Alpha", "10", "8", "2", "55", "91", "600", "8", "2", "1", "1"}, lines[1])
	})

	t.Run("audited", func(t *testing.T) {
		var count int
		require.NoError(t, pool.QueryRow(t.Context(),
			`SELECT count(*) FROM audit_events WHERE action = 'statistics.read'`).Scan(&count))
		assert.GreaterOrEqual(t, count, 2)
	})

	for _, tc := range []struct{ name, query, field string }{
		{"bad from", "from=2026-13-01", "from"},
		{"bad to", "to=yesterday", "to"},
		{"reversed", "from=2026-03-02&to=2026-03-01", "to"},
		{"too long", "from=2025-01-01&to=2026-01-02", "to"},
		{"bad queue", "queue_id=nope", "queue_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/api/v1/admin/statistics?", "/api/v1/admin/statistics.csv?"} {
				w := get(h, path+tc.query)
				require.Equal(t, 400, w.Code, w.Body.String())
				var e struct{ Error struct{ Code, Field string } }
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e))
				assert.Equal(t, "invalid_request", e.Error.Code)
				assert.Equal(t, tc.field, e.Error.Field)
			}
		})
	}
	// 366 days, both ends included, is the most.
	assert.Equal(t, 200, get(h, "/api/v1/admin/statistics?from=2025-01-01&to=2026-01-01").Code)
}
