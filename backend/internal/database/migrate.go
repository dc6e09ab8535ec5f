package database

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var embedded embed.FS

// Migrations returns the migration files compiled into the binary.
func Migrations() fs.FS {
	sub, err := fs.Sub(embedded, "migrations")
	if err != nil {
		panic(err) // the embed pattern above guarantees the directory exists
	}
	return sub
}

// migrationLockKey is the pg_advisory_lock key that serialises migrations
// across replicas starting at the same time ("HCWMIGR" in ASCII).
const migrationLockKey int64 = 0x48_43_57_4d_49_47_52

// undefinedTable is the SQLSTATE for a missing relation.
const undefinedTable = "42P01"

const (
	sqlCreateSchemaMigrations = `
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)`
	sqlAppliedVersions = `SELECT version FROM schema_migrations ORDER BY version`
	sqlRecordMigration = `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`
	sqlLock            = `SELECT pg_advisory_lock($1)`
	sqlUnlock          = `SELECT pg_advisory_unlock($1)`
)

// Migration is one numbered SQL file.
type Migration struct {
	Version int
	Name    string // file name, e.g. 0001_settings.sql
	SQL     string
}

var migrationName = regexp.MustCompile(`^([0-9]{4,})_[a-z0-9_]+\.sql$`)

// Load reads and orders the *.sql files at the root of fsys.
func Load(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("%w: %s (want NNNN_name.sql)", ErrBadMigrationName, e.Name())
		}
		v, err := strconv.Atoi(m[1])
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%w: %s", ErrBadMigrationName, e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("%w: %s and %s share version %d", ErrBadMigrationName, prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	return out, nil
}

// Migrate applies every migration in fsys that is not yet recorded in
// schema_migrations, each in its own transaction, while holding a session
// advisory lock so that concurrent replicas apply each file exactly once.
func Migrate(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, logger *slog.Logger) error {
	migrations, err := Load(fsys)
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: acquire connection: %w", err)
	}
	defer conn.Release()

	if _, err := conn.Exec(ctx, sqlLock, migrationLockKey); err != nil {
		return fmt.Errorf("migrate: take advisory lock: %w", err)
	}
	defer func() {
		// Unlock even if ctx is done; if that fails, drop the session, which
		// releases the lock on the server side.
		unlockCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(unlockCtx, sqlUnlock, migrationLockKey); err != nil {
			_ = conn.Conn().Close(unlockCtx)
		}
	}()

	if _, err := conn.Exec(ctx, sqlCreateSchemaMigrations); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied, err := appliedVersions(ctx, conn.Conn())
	if err != nil {
		return err
	}
	for _, m := range migrations {
		if applied[m.Version] {
			continue
		}
		start := time.Now()
		if err := applyOne(ctx, conn.Conn(), m); err != nil {
			return err
		}
		logger.Info("migration applied", "version", m.Version, "name", m.Name,
			"duration_ms", time.Since(start).Milliseconds())
	}
	return nil
}

func applyOne(ctx context.Context, conn *pgx.Conn, m Migration) error {
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// No arguments: pgx uses the simple protocol, so a file may hold
		// several statements.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, sqlRecordMigration, m.Version, m.Name)
		return err
	})
	if err != nil {
		return fmt.Errorf("apply migration %s: %w", m.Name, err)
	}
	return nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func appliedVersions(ctx context.Context, q querier) (map[int]bool, error) {
	var versions []int32
	rows, err := q.Query(ctx, sqlAppliedVersions)
	if err == nil {
		versions, err = pgx.CollectRows(rows, pgx.RowTo[int32])
	}
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == undefinedTable {
			return map[int]bool{}, nil
		}
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	out := make(map[int]bool, len(versions))
	for _, v := range versions {
		out[int(v)] = true
	}
	return out, nil
}

// CheckReady returns nil when the server answers and every migration in
// want is recorded; otherwise an error wrapping ErrUnavailable or
// ErrMigrationsPending. The caller bounds it with a context deadline.
func CheckReady(ctx context.Context, pool *pgxpool.Pool, want []Migration) error {
	applied, err := appliedVersions(ctx, pool)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	missing := 0
	for _, m := range want {
		if !applied[m.Version] {
			missing++
		}
	}
	if missing > 0 {
		return fmt.Errorf("%w: %d of %d not applied", ErrMigrationsPending, missing, len(want))
	}
	return nil
}
