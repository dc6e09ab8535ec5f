package database_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/database"
	"github.com/hcw-home/hcw/backend/internal/database/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type appliedRow struct {
	Version   int32     `db:"version"`
	Name      string    `db:"name"`
	AppliedAt time.Time `db:"applied_at"`
}

func applied(t *testing.T, pool *pgxpool.Pool) []appliedRow {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[appliedRow])
	require.NoError(t, err)
	return out
}

func TestLoadEmbedded(t *testing.T) {
	ms, err := database.Load(database.Migrations())
	require.NoError(t, err)
	require.NotEmpty(t, ms)
	for i, m := range ms {
		assert.Equal(t, i+1, m.Version, "migrations are numbered without gaps")
	}
}

func TestLoadRejectsBadNames(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"no number":     {"settings.sql": {Data: []byte("SELECT 1")}},
		"upper case":    {"0001_Settings.sql": {Data: []byte("SELECT 1")}},
		"duplicate":     {"0001_a.sql": {Data: []byte("SELECT 1")}, "0001_b.sql": {Data: []byte("SELECT 1")}},
		"version zero":  {"0000_a.sql": {Data: []byte("SELECT 1")}},
		"short version": {"1_a.sql": {Data: []byte("SELECT 1")}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := database.Load(fsys)
			require.ErrorIs(t, err, database.ErrBadMigrationName)
		})
	}
}

func TestMigrateEmbeddedAndReady(t *testing.T) {
	pool := dbtest.NewPool(t)
	ctx := t.Context()
	want, err := database.Load(database.Migrations())
	require.NoError(t, err)

	require.ErrorIs(t, database.CheckReady(ctx, pool, want), database.ErrMigrationsPending)

	require.NoError(t, database.Migrate(ctx, pool, database.Migrations(), discard()))
	require.NoError(t, database.CheckReady(ctx, pool, want))

	got := applied(t, pool)
	require.Len(t, got, len(want))
	for i := range want {
		assert.Equal(t, int32(want[i].Version), got[i].Version)
		assert.Equal(t, want[i].Name, got[i].Name)
	}

	// The settings table is real: keys are unique, values are JSON.
	_, err = pool.Exec(ctx, `INSERT INTO settings (key, value) VALUES ('retention_days', '30')`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO settings (key, value) VALUES ('retention_days', '31')`)
	require.Error(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO settings (key, value) VALUES ('x', 'not json')`)
	require.Error(t, err)
}

func TestMigrateTwiceIsNoop(t *testing.T) {
	pool := dbtest.NewPool(t)
	ctx := t.Context()
	require.NoError(t, database.Migrate(ctx, pool, database.Migrations(), discard()))
	first := applied(t, pool)
	require.NoError(t, database.Migrate(ctx, pool, database.Migrations(), discard()))
	assert.Equal(t, first, applied(t, pool))
}

// Replicas start together: each runs Migrate on its own pool. Without the
// advisory lock two of them would race on CREATE TABLE and one would fail.
func TestMigrateConcurrentReplicas(t *testing.T) {
	cfg := dbtest.NewConfig(t)
	fsys := fstest.MapFS{
		"0001_a.sql": {Data: []byte(`CREATE TABLE a (id int PRIMARY KEY); SELECT pg_sleep(0.2);`)},
		"0002_b.sql": {Data: []byte(`CREATE TABLE b (id int PRIMARY KEY); INSERT INTO a VALUES (1);`)},
		"0003_c.sql": {Data: []byte(`CREATE TABLE c (id int PRIMARY KEY);`)},
	}
	const replicas = 4
	pools := make([]*pgxpool.Pool, replicas)
	for i := range pools {
		p, err := pgxpool.NewWithConfig(t.Context(), cfg.Copy())
		require.NoError(t, err)
		t.Cleanup(p.Close)
		pools[i] = p
	}
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i, p := range pools {
		wg.Go(func() { errs[i] = database.Migrate(t.Context(), p, fsys, discard()) })
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "replica %d", i)
	}
	got := applied(t, pools[0])
	require.Len(t, got, 3)
	var n int
	require.NoError(t, pools[0].QueryRow(t.Context(), `SELECT count(*) FROM a`).Scan(&n))
	assert.Equal(t, 1, n, "0002 ran exactly once")
}

func TestMigrateBrokenRollsBack(t *testing.T) {
	pool := dbtest.NewPool(t)
	ctx := t.Context()
	fsys := fstest.MapFS{
		"0001_good.sql":   {Data: []byte(`CREATE TABLE good (id int);`)},
		"0002_broken.sql": {Data: []byte(`CREATE TABLE half (id int); SELEC nonsense;`)},
		"0003_later.sql":  {Data: []byte(`CREATE TABLE later (id int);`)},
	}
	err := database.Migrate(ctx, pool, fsys, discard())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "0002_broken.sql")

	got := applied(t, pool)
	require.Len(t, got, 1)
	assert.Equal(t, "0001_good.sql", got[0].Name)

	var half, later *string
	require.NoError(t, pool.QueryRow(ctx, `SELECT to_regclass('half')::text, to_regclass('later')::text`).Scan(&half, &later))
	assert.Nil(t, half, "the broken file's first statement was rolled back")
	assert.Nil(t, later, "nothing after the broken file ran")

	// The lock was released: a fixed set applies.
	fsys["0002_broken.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE half (id int);`)}
	require.NoError(t, database.Migrate(ctx, pool, fsys, discard()))
	assert.Len(t, applied(t, pool), 3)
}

func TestOpenGivesUpOnClosedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	cfg, err := pgxpool.ParseConfig("postgres://hcw@" + addr + "/hcw?sslmode=disable&connect_timeout=1")
	require.NoError(t, err)
	start := time.Now()
	_, err = database.Open(context.Background(), database.OpenParams{Config: cfg, Logger: discard(), Wait: time.Second})
	require.Error(t, err)
	assert.True(t, errors.Is(err, database.ErrUnavailable), "got %v", err)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestOpenWaitsForServer(t *testing.T) {
	cfg := dbtest.NewConfig(t)
	pool, err := database.Open(t.Context(), database.OpenParams{Config: cfg, Logger: discard(), Wait: 10 * time.Second})
	require.NoError(t, err)
	pool.Close()
}
