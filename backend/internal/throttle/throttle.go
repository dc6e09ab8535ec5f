// Package throttle slows down guessing: failed attempts are counted per key
// (an account, an address, a factor) in a database table shared by every
// replica, and from a key's threshold on each failure makes the key wait
// twice as long as the last, up to a ceiling. Sign-in and invite
// redemption each have their table, of the same shape.
package throttle

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Table is a throttle table: key text primary key, failures int,
// last_failure_at and next_allowed_at timestamptz. Only the tables named
// here exist, so a Table is safe to put into SQL.
type Table string

// The throttle tables (migrations 0004 and 0006).
const (
	SignIn       Table = "signin_throttle"
	InviteRedeem Table = "invite_redeem_throttle"
)

// Key is one thing being counted, with the number of failures it may have
// before it waits.
type Key struct {
	Name      string
	Threshold int
}

// Querier runs queries: a pool, a connection or a transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Throttle counts failures in one table.
type Throttle struct {
	// Window: a key whose last failure is older than this counts anew.
	Window time.Duration
	// MaxBackoff caps the wait.
	MaxBackoff time.Duration

	check, fail, setNext, reset, purge string
}

// New returns the throttle of table t.
func New(t Table, window, maxBackoff time.Duration) *Throttle {
	if t != SignIn && t != InviteRedeem {
		panic(fmt.Sprintf("throttle: unknown table %q", t))
	}
	return &Throttle{
		Window:     window,
		MaxBackoff: maxBackoff,
		check:      `SELECT max(next_allowed_at) FROM ` + string(t) + ` WHERE key = ANY($1)`,
		fail: `
INSERT INTO ` + string(t) + ` AS t (key, failures, last_failure_at, next_allowed_at)
VALUES ($1, 1, $2, $2)
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN t.last_failure_at <= $3 THEN 1 ELSE t.failures + 1 END,
    last_failure_at = $2
RETURNING failures`,
		setNext: `UPDATE ` + string(t) + ` SET next_allowed_at = $2 WHERE key = $1`,
		reset:   `DELETE FROM ` + string(t) + ` WHERE key = $1`,
		purge:   `DELETE FROM ` + string(t) + ` WHERE last_failure_at <= $1 AND next_allowed_at <= $2`,
	}
}

// Wait returns how long the caller must still wait because of any of the
// named keys, rounded up to whole seconds (for Retry-After); 0 when none.
func (t *Throttle) Wait(ctx context.Context, q Querier, now time.Time, names ...string) (time.Duration, error) {
	var next *time.Time
	if err := q.QueryRow(ctx, t.check, names).Scan(&next); err != nil {
		return 0, fmt.Errorf("check throttle: %w", err)
	}
	if next == nil {
		return 0, nil
	}
	if wait := next.Sub(now); wait > 0 {
		return RoundUp(wait), nil
	}
	return 0, nil
}

// Fail counts a failure on every key and sets when each may try again.
// Run it in the transaction that records the failure elsewhere (audit).
func (t *Throttle) Fail(ctx context.Context, tx pgx.Tx, now time.Time, keys ...Key) error {
	for _, k := range keys {
		var failures int
		if err := tx.QueryRow(ctx, t.fail, k.Name, now, now.Add(-t.Window)).Scan(&failures); err != nil {
			return fmt.Errorf("count failure: %w", err)
		}
		if _, err := tx.Exec(ctx, t.setNext, k.Name, now.Add(Backoff(failures, k.Threshold, t.MaxBackoff))); err != nil {
			return fmt.Errorf("count failure: %w", err)
		}
	}
	return nil
}

// Reset forgets a key's failures (after a success).
func (t *Throttle) Reset(ctx context.Context, q Querier, name string) error {
	if _, err := q.Exec(ctx, t.reset, name); err != nil {
		return fmt.Errorf("reset throttle: %w", err)
	}
	return nil
}

// Purge deletes keys that neither wait nor count any more.
func (t *Throttle) Purge(ctx context.Context, q Querier, now time.Time) (int64, error) {
	tag, err := q.Exec(ctx, t.purge, now.Add(-t.Window), now)
	if err != nil {
		return 0, fmt.Errorf("purge throttle: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Backoff is the wait after the failures-th failure: none below
// threshold, then 2^(failures-threshold) seconds, capped at max.
func Backoff(failures, threshold int, max time.Duration) time.Duration {
	if failures < threshold {
		return 0
	}
	exp := failures - threshold
	if exp > 30 {
		return max
	}
	return min(time.Duration(1<<exp)*time.Second, max)
}

// RoundUp rounds a wait up to whole seconds, at least one.
func RoundUp(d time.Duration) time.Duration {
	r := d.Truncate(time.Second)
	if r < d {
		r += time.Second
	}
	return max(r, time.Second)
}
