package database

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrStarting means the pool is not open or the migrations have not run yet.
var ErrStarting = errors.New("starting: database not migrated yet")

// Readiness answers "can this process serve traffic?" for /readyz: the
// database responds and every embedded migration is recorded.
type Readiness struct {
	pool atomic.Pointer[pgxpool.Pool]
	want []Migration
}

// NewReadiness returns a check that fails with ErrStarting until SetPool.
func NewReadiness(want []Migration) *Readiness {
	return &Readiness{want: want}
}

// SetPool marks start-up as done; call it after Migrate succeeded.
func (r *Readiness) SetPool(p *pgxpool.Pool) { r.pool.Store(p) }

// Check returns nil, ErrStarting, ErrUnavailable or ErrMigrationsPending.
// The error text is short and secret-free: it becomes the public reason.
func (r *Readiness) Check(ctx context.Context) error {
	pool := r.pool.Load()
	if pool == nil {
		return ErrStarting
	}
	switch err := CheckReady(ctx, pool, r.want); {
	case errors.Is(err, ErrMigrationsPending):
		return ErrMigrationsPending
	case err != nil:
		return ErrUnavailable
	}
	return nil
}
