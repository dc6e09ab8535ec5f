package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hcw-home/hcw/backend/internal/audit"
)

// Purpose is what a one-time user token is for.
type Purpose string

// Token purposes.
const (
	PurposeSetup Purpose = "setup" // first password of a new account
	PurposeReset Purpose = "reset" // forgotten password
)

// Default token lifetimes: a setup link may wait over a weekend, a reset
// link is used at once (ASVS 6.4.1 short-lived recovery secrets).
const (
	DefaultSetupTTL = 72 * time.Hour
	DefaultResetTTL = 30 * time.Minute
	MaxTokenTTL     = 30 * 24 * time.Hour
)

const tokenBytes = 32

const (
	sqlTokenDeleteUnused = `DELETE FROM user_tokens WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL`
	sqlTokenInsert       = `
INSERT INTO user_tokens (token_hash, user_id, purpose, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`
	sqlTokenForUpdate = `
SELECT user_id::text AS user_id, purpose, expires_at, used_at FROM user_tokens WHERE token_hash = $1 FOR UPDATE`
	sqlTokenUse = `UPDATE user_tokens SET used_at = $2 WHERE token_hash = $1`
)

type tokenRow struct {
	UserID    string     `db:"user_id"`
	Purpose   Purpose    `db:"purpose"`
	ExpiresAt time.Time  `db:"expires_at"`
	UsedAt    *time.Time `db:"used_at"`
}

// IssueToken makes a one-time token for the user's setup or reset link and
// records user_token.issued. ttl 0 means the purpose's default. Unused
// tokens of the same purpose for the user stop working. The token is 256
// random bits in base64url; only its hash is stored. A disabled account
// gets no token (ErrDisabled).
func (s *Store) IssueToken(ctx context.Context, actor Actor, userID string, purpose Purpose, ttl time.Duration) (token string, expires time.Time, err error) {
	switch purpose {
	case PurposeSetup:
		ttl = cmpOr(ttl, DefaultSetupTTL)
	case PurposeReset:
		ttl = cmpOr(ttl, DefaultResetTTL)
	default:
		return "", time.Time{}, invalid("purpose", "must be setup or reset")
	}
	if ttl < 0 || ttl > MaxTokenTTL {
		return "", time.Time{}, invalid("ttl", "must be positive and at most 30 days")
	}
	if !validID(userID) {
		return "", time.Time{}, fmt.Errorf("issue token: %w", ErrNotFound)
	}
	raw := make([]byte, tokenBytes)
	rand.Read(raw)
	token = base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256(raw)
	now := s.now().UTC().Truncate(time.Microsecond)
	expires = now.Add(ttl)
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		u, err := queryUserRow(ctx, tx, sqlUserByIDForUpdate, userID)
		if err != nil {
			return err
		}
		if u.Status == StatusDisabled {
			return ErrDisabled
		}
		if _, err := tx.Exec(ctx, sqlTokenDeleteUnused, userID, purpose); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlTokenInsert, sum[:], userID, purpose, now, expires); err != nil {
			return err
		}
		return s.record(ctx, tx, actor, ActionTokenIssued, "user", userID)
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue token: %w", err)
	}
	return token, expires, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// ConsumeToken uses a token of purpose to set the user's password, in one
// transaction: policy check, new hash, token marked used, the user's other
// unused tokens of that purpose deleted, password.changed recorded with
// the user as actor from clientIP. An unknown or superseded token gives
// ErrTokenInvalid; ErrTokenPurpose, ErrTokenUsed and ErrTokenExpired say
// what else is wrong. A password the policy refuses leaves the token
// usable. The caller ends the user's sessions afterwards.
func (s *Store) ConsumeToken(ctx context.Context, token string, purpose Purpose, password string, clientIP netip.Addr) (User, error) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) != tokenBytes {
		return User{}, ErrTokenInvalid
	}
	sum := sha256.Sum256(raw)
	var u User
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, sqlTokenForUpdate, sum[:])
		t, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[tokenRow])
		if err = mapErr(err); errors.Is(err, ErrNotFound) {
			return ErrTokenInvalid
		} else if err != nil {
			return err
		}
		now := s.now()
		switch {
		case t.Purpose != purpose:
			return ErrTokenPurpose
		case t.UsedAt != nil:
			return ErrTokenUsed
		case !now.Before(t.ExpiresAt):
			return ErrTokenExpired
		}
		r, err := queryUserRow(ctx, tx, sqlUserByIDForUpdate, t.UserID)
		if err != nil {
			return err
		}
		if r.Status == StatusDisabled {
			return ErrDisabled
		}
		if err := CheckPassword(password, r.Email); err != nil {
			return err
		}
		// Hashing inside the transaction holds the user's row for ~50 ms;
		// acceptable for a one-time link, and it keeps check-and-use atomic.
		if _, err := tx.Exec(ctx, sqlUserSetPassword, t.UserID, s.hash.Hash(password)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlTokenUse, sum[:], now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlTokenDeleteUnused, t.UserID, purpose); err != nil {
			return err
		}
		if u, err = s.queryUser(ctx, tx, sqlUserByID, t.UserID); err != nil {
			return err
		}
		return s.record(ctx, tx, Actor{Type: audit.ActorUser, ID: t.UserID, ClientIP: clientIP},
			ActionPasswordChanged, "user", t.UserID)
	})
	if err != nil {
		return User{}, fmt.Errorf("consume token: %w", err)
	}
	return u, nil
}
