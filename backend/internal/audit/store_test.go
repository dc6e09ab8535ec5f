package audit_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/database"
	"github.com/hcw-home/hcw/backend/internal/database/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// newStore gives the test its own migrated database. The pool connects as
// the container's user, which owns the tables like the service role does.
func newStore(t *testing.T) (*audit.Store, *pgxpool.Pool) {
	t.Helper()
	pool := dbtest.NewPool(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	require.NoError(t, database.Migrate(t.Context(), pool, database.Migrations(), logger))
	return audit.NewStore(pool), pool
}

func event(i int) audit.Event {
	return audit.Event{
		ActorType: audit.ActorUser, ActorID: "u-" + strings.Repeat("x", i%3),
		Action: audit.ActionSignInSuccess, ObjectType: "session", ObjectID: "s1",
		ConsultationID: "c-42", ClientIP: netip.MustParseAddr("192.0.2.7"),
		Outcome: audit.OutcomeSuccess,
	}
}

func appendN(t *testing.T, s *audit.Store, n int) {
	t.Helper()
	for i := range n {
		require.NoError(t, s.Append(t.Context(), event(i)))
	}
}

func verify(t *testing.T, s *audit.Store) audit.Result {
	t.Helper()
	res, err := s.Verify(t.Context())
	require.NoError(t, err)
	return res
}

// asSuperuser runs sql with the user triggers switched off, as an attacker
// with DDL rights could.
func asSuperuser(t *testing.T, pool *pgxpool.Pool, sql string) {
	t.Helper()
	err := pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(t.Context(), `ALTER TABLE audit_events DISABLE TRIGGER USER`); err != nil {
			return err
		}
		if _, err := tx.Exec(t.Context(), sql); err != nil {
			return err
		}
		_, err := tx.Exec(t.Context(), `ALTER TABLE audit_events ENABLE TRIGGER USER`)
		return err
	})
	require.NoError(t, err)
}

func TestEmptyChainIsIntact(t *testing.T) {
	s, _ := newStore(t)
	assert.Equal(t, audit.Result{Intact: true}, verify(t, s))
}

func TestAppendThenVerify(t *testing.T) {
	s, pool := newStore(t)
	ctx := t.Context()
	at := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	events := []audit.Event{
		{At: at, ActorType: audit.ActorSystem, Action: audit.ActionAuditVerified, Outcome: audit.OutcomeSuccess},
		{ActorType: audit.ActorAPIKey, ActorID: "key_abc", Action: audit.ActionAPIKeyCreated, Outcome: audit.OutcomeSuccess,
			ClientIP: netip.MustParseAddr("2001:db8::1")},
		{ActorType: audit.ActorParticipant, ActorID: "p1", Action: "consultation.joined", ConsultationID: "c1",
			Outcome: audit.OutcomeDenied, ClientIP: netip.MustParseAddr("::ffff:198.51.100.2")},
		{ActorType: audit.ActorUser, ActorID: "alice@example.org", Action: audit.ActionSignInFailure, Outcome: audit.OutcomeFailure,
			ClientIP: netip.MustParseAddr("fe80::1%eth0")},
	}
	for _, e := range events {
		require.NoError(t, s.Append(ctx, e))
	}
	assert.Equal(t, audit.Result{Intact: true, Rows: 4}, verify(t, s))

	var stored time.Time
	var ip, actorID *string
	require.NoError(t, pool.QueryRow(ctx, `SELECT at FROM audit_events WHERE seq = 1`).Scan(&stored))
	assert.True(t, stored.Equal(at.Truncate(time.Microsecond)), "stored %v", stored)
	require.NoError(t, pool.QueryRow(ctx, `SELECT client_ip::text, actor_id FROM audit_events WHERE seq = 3`).Scan(&ip, &actorID))
	assert.Equal(t, "198.51.100.2/32", *ip, "IPv4-mapped addresses are stored as IPv4")
	require.NoError(t, pool.QueryRow(ctx, `SELECT client_ip::text, actor_id FROM audit_events WHERE seq = 1`).Scan(&ip, &actorID))
	assert.Nil(t, ip)
	assert.Nil(t, actorID, "empty strings are stored as NULL")

	var prev []byte
	require.NoError(t, pool.QueryRow(ctx, `SELECT prev_hash FROM audit_events WHERE seq = 1`).Scan(&prev))
	assert.Equal(t, make([]byte, 32), prev, "the chain starts from the zero hash")
}

func TestAppendTxRollsBackWithCaller(t *testing.T) {
	s, pool := newStore(t)
	ctx := t.Context()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, s.AppendTx(ctx, tx, event(0)))
	require.NoError(t, tx.Rollback(ctx))
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return s.AppendTx(ctx, tx, event(1)) }))
	assert.Equal(t, audit.Result{Intact: true, Rows: 1}, verify(t, s))
}

func TestVerifyFindsTampering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sql    string
		broken int64
	}{
		{"action edited", `UPDATE audit_events SET action = 'sign_in.failure' WHERE seq = 3`, 3},
		{"time edited", `UPDATE audit_events SET at = at + interval '1 microsecond' WHERE seq = 4`, 4},
		{"client address edited", `UPDATE audit_events SET client_ip = '192.0.2.8' WHERE seq = 2`, 2},
		{"client address widened", `UPDATE audit_events SET client_ip = '192.0.2.7/24' WHERE seq = 2`, 2},
		{"object id edited", `UPDATE audit_events SET object_id = 'other' WHERE seq = 5`, 5},
		{"hash replaced", `UPDATE audit_events SET hash = sha256(hash) WHERE seq = 3`, 3},
		{"middle row deleted", `DELETE FROM audit_events WHERE seq = 3`, 4},
		{"first row deleted", `DELETE FROM audit_events WHERE seq = 1`, 2},
		{"actors swapped", `UPDATE audit_events a SET actor_id = b.actor_id FROM audit_events b WHERE a.seq IN (1, 2) AND b.seq = 3 - a.seq`, 1},
		{"bogus anchor", `INSERT INTO audit_anchor (seq, hash) VALUES (2, sha256('x'))`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, pool := newStore(t)
			appendN(t, s, 6)
			require.True(t, verify(t, s).Intact)
			asSuperuser(t, pool, tc.sql)
			res := verify(t, s)
			assert.False(t, res.Intact)
			assert.Equal(t, tc.broken, res.FirstBrokenSeq)
			assert.NotEmpty(t, res.Reason)
			t.Log(res.Reason)
		})
	}
}

func requireRefused(t *testing.T, err error, want string) {
	t.Helper()
	require.Error(t, err)
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "got %v", err)
	assert.Equal(t, "42501", pgErr.Code)
	assert.Contains(t, pgErr.Message, want)
}

// The service role owns the tables; the triggers bind owners too.
func TestAppendOnly(t *testing.T) {
	s, pool := newStore(t)
	ctx := t.Context()
	appendN(t, s, 3)
	for _, tc := range []struct{ name, sql, want string }{
		{"update", `UPDATE audit_events SET action = 'x' WHERE seq = 2`, "append-only: UPDATE refused"},
		{"update nothing", `UPDATE audit_events SET action = 'x' WHERE false`, "append-only: UPDATE refused"},
		{"delete", `DELETE FROM audit_events WHERE seq = 2`, "DELETE refused outside a retention purge"},
		{"delete all", `DELETE FROM audit_events`, "DELETE refused outside a retention purge"},
		{"truncate", `TRUNCATE audit_events`, "append-only: TRUNCATE refused"},
		{"anchor update", `UPDATE audit_anchor SET seq = 1`, "audit_anchor is append-only"},
		{"anchor delete", `DELETE FROM audit_anchor`, "audit_anchor is append-only"},
		{"anchor truncate", `TRUNCATE audit_anchor`, "audit_anchor is append-only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pool.Exec(ctx, tc.sql)
			requireRefused(t, err, tc.want)
		})
	}
	assert.Equal(t, audit.Result{Intact: true, Rows: 3}, verify(t, s))
}

// Even with the purge switch on, a DELETE must be an anchored prefix of old
// rows; anything else is rolled back by the trigger.
func TestPurgeSwitchAloneIsNotEnough(t *testing.T) {
	s, pool := newStore(t)
	ctx := t.Context()
	old := time.Now().Add(-400 * 24 * time.Hour)
	for range 3 {
		e := event(0)
		e.At = old
		require.NoError(t, s.Append(ctx, e))
	}
	require.NoError(t, s.Append(ctx, event(0))) // seq 4, now
	purge := func(sqls ...string) error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT set_config('hcw.audit_purge', 'on', true)`); err != nil {
				return err
			}
			for _, q := range sqls {
				if _, err := tx.Exec(ctx, q); err != nil {
					return err
				}
			}
			return nil
		})
	}
	anchor2 := `INSERT INTO audit_anchor (seq, hash) SELECT seq, hash FROM audit_events WHERE seq = 2`
	requireRefused(t, purge(`DELETE FROM audit_events WHERE seq = 2`), "not a prefix")
	requireRefused(t, purge(anchor2, `DELETE FROM audit_events WHERE seq = 2`), "not a prefix")
	requireRefused(t, purge(`DELETE FROM audit_events WHERE seq <= 2`), "no anchor for seq 2")
	requireRefused(t, purge(`INSERT INTO audit_anchor (seq, hash) VALUES (2, sha256('x'))`,
		`DELETE FROM audit_events WHERE seq <= 2`), "no anchor for seq 2")
	requireRefused(t, purge(`INSERT INTO audit_anchor (seq, hash) SELECT seq, hash FROM audit_events WHERE seq = 4`,
		`DELETE FROM audit_events`), "younger than 30 days")
	assert.Equal(t, audit.Result{Intact: true, Rows: 4}, verify(t, s))

	// The switch is transaction-local: it does not outlive the purge.
	require.NoError(t, purge(anchor2, `DELETE FROM audit_events WHERE seq <= 2`))
	_, err := pool.Exec(ctx, `DELETE FROM audit_events WHERE seq = 3`)
	requireRefused(t, err, "outside a retention purge")
	assert.Equal(t, audit.Result{Intact: true, Rows: 2}, verify(t, s))
}

func TestPurge(t *testing.T) {
	s, pool := newStore(t)
	ctx := t.Context()
	day := 24 * time.Hour
	now := time.Now()
	// A younger row (seq 4) shields the older one behind it (seq 5).
	for _, age := range []time.Duration{400 * day, 400 * day, 400 * day, 100 * day, 400 * day, 0} {
		e := event(0)
		e.At = now.Add(-age)
		require.NoError(t, s.Append(ctx, e))
	}

	n, err := s.Purge(ctx, now.Add(-365*day))
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
	var anchorSeq int64
	var anchorHash, hash3 []byte
	require.NoError(t, pool.QueryRow(ctx, `SELECT seq, hash FROM audit_anchor`).Scan(&anchorSeq, &anchorHash))
	require.NoError(t, pool.QueryRow(ctx, `SELECT prev_hash FROM audit_events WHERE seq = 4`).Scan(&hash3))
	assert.Equal(t, int64(3), anchorSeq)
	assert.Equal(t, hash3, anchorHash, "the anchor holds the last purged row's hash")
	assert.Equal(t, audit.Result{Intact: true, Rows: 3}, verify(t, s))

	n, err = s.Purge(ctx, now.Add(-365*day))
	require.NoError(t, err)
	assert.Zero(t, n, "seq 4 is younger than the horizon, so seq 5 stays too")

	n, err = s.Purge(ctx, now.Add(-50*day))
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
	require.NoError(t, s.Append(ctx, event(1)))
	assert.Equal(t, audit.Result{Intact: true, Rows: 2}, verify(t, s))

	_, err = s.Purge(ctx, now.Add(-29*day))
	require.ErrorIs(t, err, audit.ErrHorizonTooRecent)
}

func TestPurgeEverythingThenAppend(t *testing.T) {
	s, pool := newStore(t)
	ctx := t.Context()
	for range 2 {
		e := event(0)
		e.At = time.Now().Add(-400 * 24 * time.Hour)
		require.NoError(t, s.Append(ctx, e))
	}
	n, err := s.Purge(ctx, time.Now().Add(-365*24*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
	assert.Equal(t, audit.Result{Intact: true}, verify(t, s))

	require.NoError(t, s.Append(ctx, event(0)))
	var seq int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT seq FROM audit_events`).Scan(&seq))
	assert.Equal(t, int64(3), seq, "the chain continues from the anchor")
	assert.Equal(t, audit.Result{Intact: true, Rows: 1}, verify(t, s))
}

// Two replicas (pools) with four writers each append at once; the chain
// must come out linear, gap-free and intact.
func TestConcurrentAppends(t *testing.T) {
	s1, pool := newStore(t)
	pool2, err := pgxpool.NewWithConfig(t.Context(), pool.Config().Copy())
	require.NoError(t, err)
	t.Cleanup(pool2.Close)
	stores := []*audit.Store{s1, audit.NewStore(pool2)}

	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			for i := range each {
				if err := s.Append(context.Background(), event(w+i)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, audit.Result{Intact: true, Rows: writers * each}, verify(t, s1))
	var maxSeq int64
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT max(seq) FROM audit_events`).Scan(&maxSeq))
	assert.Equal(t, int64(writers*each), maxSeq)
}

func TestInvalidEventsRefused(t *testing.T) {
	s, pool := newStore(t)
	ok := event(0)
	for _, tc := range []struct {
		name string
		edit func(*audit.Event)
	}{
		{"unknown actor type", func(e *audit.Event) { e.ActorType = "admin" }},
		{"user without id", func(e *audit.Event) { e.ActorID = "" }},
		{"unknown outcome", func(e *audit.Event) { e.Outcome = "ok" }},
		{"empty action", func(e *audit.Event) { e.Action = "" }},
		{"upper-case action", func(e *audit.Event) { e.Action = "Sign_in.success" }},
		{"action with text", func(e *audit.Event) { e.Action = "note: patient has fever" }},
		{"action with empty part", func(e *audit.Event) { e.Action = "sign_in..success" }},
		{"long action", func(e *audit.Event) { e.Action = strings.Repeat("a", 65) }},
		{"bad object type", func(e *audit.Event) { e.ObjectType = "Session" }},
		{"free text in an id", func(e *audit.Event) { e.ObjectID = "blood pressure 180/110" }},
		{"long consultation id", func(e *audit.Event) { e.ConsultationID = strings.Repeat("c", 129) }},
		{"control character", func(e *audit.Event) { e.ActorID = "u1\n" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := ok
			tc.edit(&e)
			require.ErrorIs(t, s.Append(t.Context(), e), audit.ErrInvalidEvent)
		})
	}
	var n int
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_events`).Scan(&n))
	assert.Zero(t, n)
	require.NoError(t, s.Append(t.Context(), ok), "the unedited event is valid")
}

// TestAppendTxSeveral: events appended together in one transaction take
// consecutive places in the chain, in order, while other writers append
// concurrently; an invalid one among them stores none.
func TestAppendTxSeveral(t *testing.T) {
	s, pool := newStore(t)
	const writers, each = 6, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
					if w%2 == 0 {
						return s.AppendTx(context.Background(), tx, event(i))
					}
					first, second := event(i), event(i)
					first.ObjectID, second.ObjectID = "first", "second"
					return s.AppendTx(context.Background(), tx, first, second)
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	rows := int64(writers/2*each + writers/2*each*2)
	assert.Equal(t, audit.Result{Intact: true, Rows: rows}, verify(t, s))
	var pairs int
	require.NoError(t, pool.QueryRow(t.Context(), `
		SELECT count(*) FROM audit_events a JOIN audit_events b ON b.seq = a.seq + 1
		WHERE a.object_id = 'first' AND b.object_id = 'second'`).Scan(&pairs))
	assert.Equal(t, writers/2*each, pairs, "a transaction's events are consecutive")

	bad := event(0)
	bad.Outcome = "ok"
	err := pgx.BeginFunc(t.Context(), pool, func(tx pgx.Tx) error { return s.AppendTx(t.Context(), tx, event(1), bad) })
	require.ErrorIs(t, err, audit.ErrInvalidEvent)
	assert.Equal(t, audit.Result{Intact: true, Rows: rows}, verify(t, s))
}
