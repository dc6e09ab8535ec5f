// Package database owns the PostgreSQL connection pool and the schema
// migrations embedded in the binary.
package database

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Retry schedule for the start-up wait. Compose may start the backend before
// PostgreSQL accepts connections; retrying is cheaper than a restart loop.
const (
	firstRetryDelay = 250 * time.Millisecond
	maxRetryDelay   = 5 * time.Second
	// DefaultStartupWait is how long Open keeps retrying in total.
	DefaultStartupWait = 60 * time.Second
)

// OpenParams configures Open.
type OpenParams struct {
	// Config is the pool configuration (from the config package).
	Config *pgxpool.Config
	// Logger receives one warning per failed attempt.
	Logger *slog.Logger
	// Wait bounds the total time spent retrying; DefaultStartupWait if zero.
	Wait time.Duration
}

// Open creates the pool and waits, with back-off, until the server answers a
// ping. It returns an error wrapping ErrUnavailable when Wait elapses.
func Open(ctx context.Context, p OpenParams) (*pgxpool.Pool, error) {
	wait := p.Wait
	if wait <= 0 {
		wait = DefaultStartupWait
	}
	attemptTimeout := p.Config.ConnConfig.ConnectTimeout
	if attemptTimeout <= 0 {
		attemptTimeout = 5 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, p.Config)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}

	deadline := time.Now().Add(wait)
	delay := firstRetryDelay
	for attempt := 1; ; attempt++ {
		pingCtx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err = pool.Ping(pingCtx)
		cancel()
		if err == nil {
			if attempt > 1 {
				p.Logger.Info("database reachable", "attempt", attempt)
			}
			return pool, nil
		}
		if ctx.Err() != nil || time.Now().Add(delay).After(deadline) {
			pool.Close()
			return nil, fmt.Errorf("%w: gave up after %d attempts: %w", ErrUnavailable, attempt, err)
		}
		p.Logger.Warn("database not reachable yet, retrying",
			"attempt", attempt, "retry_in", delay.String(), "error", err.Error())
		select {
		case <-ctx.Done():
			pool.Close()
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, maxRetryDelay)
	}
}
