// Package dbtest gives each test its own fresh PostgreSQL database.
//
// The server comes from HCW_TEST_DATABASE_URL when set (any role allowed to
// CREATE DATABASE), otherwise from a container started once per test binary
// with testcontainers-go, image HCW_POSTGRES_IMAGE (default
// postgres:17-alpine). Packages using it call dbtest.Main from TestMain so the
// container is removed when the tests end.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for the wait strategy
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Environment variables read by the helper.
const (
	EnvURL   = "HCW_TEST_DATABASE_URL"
	EnvImage = "HCW_POSTGRES_IMAGE"
	// DefaultImage is used when EnvImage is unset.
	DefaultImage = "postgres:17-alpine"
)

var (
	once      sync.Once
	serverURL string
	serverErr error
	container *tcpostgres.PostgresContainer
)

// Main runs the package's tests and then removes the container, if one was
// started. Call it from TestMain: os.Exit(dbtest.Main(m)) is done for you.
func Main(m *testing.M) {
	code := m.Run()
	if container != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := testcontainers.TerminateContainer(container, testcontainers.StopContext(ctx), testcontainers.StopTimeout(time.Second)); err != nil {
			fmt.Fprintf(os.Stderr, "dbtest: terminate container: %v\n", err)
		}
		cancel()
	}
	os.Exit(code)
}

// server returns the admin URL of the shared server, starting it on first use.
func server(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			serverURL = u
			return
		}
		serverURL, serverErr = startContainer()
	})
	if serverErr != nil {
		msg := fmt.Sprintf("dbtest: no PostgreSQL: set %s or make Docker available: %v", EnvURL, serverErr)
		if testing.Short() {
			t.Skip(msg)
		}
		t.Fatal(msg)
	}
	return serverURL
}

func startContainer() (_ string, err error) {
	image := os.Getenv(EnvImage)
	if image == "" {
		image = DefaultImage
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	defer func() {
		// testcontainers may panic when no Docker host can be found.
		if r := recover(); r != nil {
			err = fmt.Errorf("start container: %v", r)
		}
	}()

	const user, password, db = "postgres", "postgres", "postgres"
	// The module's default of waiting for a log line twice depends on the
	// official image's entrypoint; a real SQL round trip over the mapped port
	// works for any image, and the init-time server listens on the Unix
	// socket only, so it cannot satisfy it too early.
	dsn := func(host string, port network.Port) string {
		return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable&connect_timeout=5",
			user, password, net.JoinHostPort(host, port.Port()), db)
	}
	c, err := tcpostgres.Run(ctx, image,
		tcpostgres.WithUsername(user),
		tcpostgres.WithPassword(password),
		tcpostgres.WithDatabase(db),
		testcontainers.WithWaitStrategyAndDeadline(2*time.Minute,
			wait.ForListeningPort("5432/tcp").SkipInternalCheck().WithStartupTimeout(2*time.Minute),
			wait.ForSQL("5432/tcp", "pgx", dsn).WithStartupTimeout(2*time.Minute).WithPollInterval(250*time.Millisecond),
		),
	)
	if c != nil {
		container = c
	}
	if err != nil {
		return "", fmt.Errorf("start %s: %w", image, err)
	}
	u, err := c.ConnectionString(ctx, "sslmode=disable")
	if err != nil {
		return "", fmt.Errorf("connection string: %w", err)
	}
	return u, nil
}

// NewConfig creates a database for this test only and returns a pool
// configuration pointing at it. The database is dropped at cleanup.
func NewConfig(t testing.TB) *pgxpool.Config {
	t.Helper()
	admin := server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	buf := make([]byte, 8)
	_, _ = rand.Read(buf)
	name := "test_" + hex.EncodeToString(buf)

	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("dbtest: connect to server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("dbtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("dbtest: connect to drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("dbtest: drop %s: %v", name, err)
		}
	})

	cfg, err := pgxpool.ParseConfig(admin)
	if err != nil {
		t.Fatalf("dbtest: parse server URL: %v", err)
	}
	cfg.ConnConfig.Database = name
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	return cfg
}

// NewPool is NewConfig plus a connected pool, closed at cleanup (before the
// database is dropped).
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg := NewConfig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("dbtest: open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("dbtest: ping: %v", err)
	}
	return pool
}
