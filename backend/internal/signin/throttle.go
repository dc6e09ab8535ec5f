package signin

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	sqlThrottleCheck = `
SELECT max(next_allowed_at) FROM signin_throttle WHERE key = ANY($1)`

	sqlThrottleFail = `
INSERT INTO signin_throttle AS t (key, failures, last_failure_at, next_allowed_at)
VALUES ($1, 1, $2, $2)
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN t.last_failure_at <= $3 THEN 1 ELSE t.failures + 1 END,
    last_failure_at = $2
RETURNING failures`

	sqlThrottleSetNext = `UPDATE signin_throttle SET next_allowed_at = $2 WHERE key = $1`
	sqlThrottleReset   = `DELETE FROM signin_throttle WHERE key = $1`
	sqlPurgeThrottle   = `DELETE FROM signin_throttle WHERE last_failure_at <= $1 AND next_allowed_at <= $2`
)

// throttleKey is one key with its threshold.
type throttleKey struct {
	key       string
	threshold int
}

func (s *Service) signInKeys(email string, c Client) []throttleKey {
	keys := []throttleKey{{accountKey(email), s.p.AccountThreshold}}
	if k := ipKey(c.IP); k != "" {
		keys = append(keys, throttleKey{k, s.p.IPThreshold})
	}
	return keys
}

func (s *Service) factorKeys(userID string, c Client) []throttleKey {
	keys := []throttleKey{{factorKey(userID), s.p.AccountThreshold}}
	if k := ipKey(c.IP); k != "" {
		keys = append(keys, throttleKey{k, s.p.IPThreshold})
	}
	return keys
}

// checkThrottle returns a *ThrottledError if any key must still wait.
func (s *Service) checkThrottle(ctx context.Context, keys []throttleKey) error {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.key
	}
	var next *time.Time
	if err := s.p.Pool.QueryRow(ctx, sqlThrottleCheck, names).Scan(&next); err != nil {
		return fmt.Errorf("check sign-in throttle: %w", err)
	}
	if next == nil {
		return nil
	}
	now := s.now()
	if wait := next.Sub(now); wait > 0 {
		return &ThrottledError{RetryAfter: roundUpSecond(wait)}
	}
	return nil
}

// recordFailure counts a failure on every key and sets its next allowed
// time.
func (s *Service) recordFailure(ctx context.Context, keys []throttleKey) error {
	now := s.now()
	err := pgx.BeginFunc(ctx, s.p.Pool, func(tx pgx.Tx) error {
		for _, k := range keys {
			var failures int
			if err := tx.QueryRow(ctx, sqlThrottleFail, k.key, now, now.Add(-failureWindow)).Scan(&failures); err != nil {
				return err
			}
			next := now.Add(backoff(failures, k.threshold, s.p.MaxBackoff))
			if _, err := tx.Exec(ctx, sqlThrottleSetNext, k.key, next); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap("record sign-in failure", err)
}

func (s *Service) resetThrottle(ctx context.Context, key string) error {
	_, err := s.p.Pool.Exec(ctx, sqlThrottleReset, key)
	return wrap("reset sign-in throttle", err)
}

// backoff is the wait after the failures-th failure: none below threshold,
// then 2^(failures-threshold) seconds, capped at max.
func backoff(failures, threshold int, max time.Duration) time.Duration {
	if failures < threshold {
		return 0
	}
	exp := failures - threshold
	if exp > 30 {
		return max
	}
	d := time.Duration(1<<exp) * time.Second
	if d > max {
		return max
	}
	return d
}

func roundUpSecond(d time.Duration) time.Duration {
	r := d.Truncate(time.Second)
	if r < d {
		r += time.Second
	}
	if r < time.Second {
		r = time.Second
	}
	return r
}
