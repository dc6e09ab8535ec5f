package signin

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hcw-home/hcw/backend/internal/throttle"
)

// throttleKey is one key with its threshold.
type throttleKey = throttle.Key

func (s *Service) signInKeys(email string, c Client) []throttleKey {
	keys := []throttleKey{{Name: accountKey(email), Threshold: s.p.AccountThreshold}}
	if k := ipKey(c.IP); k != "" {
		keys = append(keys, throttleKey{Name: k, Threshold: s.p.IPThreshold})
	}
	return keys
}

func (s *Service) factorKeys(userID string, c Client) []throttleKey {
	keys := []throttleKey{{Name: factorKey(userID), Threshold: s.p.AccountThreshold}}
	if k := ipKey(c.IP); k != "" {
		keys = append(keys, throttleKey{Name: k, Threshold: s.p.IPThreshold})
	}
	return keys
}

// checkThrottle returns a *ThrottledError if any key must still wait.
func (s *Service) checkThrottle(ctx context.Context, keys []throttleKey) error {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.Name
	}
	wait, err := s.throttle.Wait(ctx, s.p.Pool, s.now(), names...)
	if err != nil {
		return fmt.Errorf("sign-in: %w", err)
	}
	if wait > 0 {
		return &ThrottledError{RetryAfter: wait}
	}
	return nil
}

// recordFailure counts a failure on every key and sets its next allowed
// time.
func (s *Service) recordFailure(ctx context.Context, keys []throttleKey) error {
	err := pgx.BeginFunc(ctx, s.p.Pool, func(tx pgx.Tx) error {
		return s.throttle.Fail(ctx, tx, s.now(), keys...)
	})
	return wrap("record sign-in failure", err)
}

func (s *Service) resetThrottle(ctx context.Context, key string) error {
	return wrap("sign-in", s.throttle.Reset(ctx, s.p.Pool, key))
}
