package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// API key format: "hcw_" + 8-character prefix + "_" + 32 random bytes in
// unpadded base64url (43 characters).
const (
	apiKeyScheme    = "hcw_"
	apiKeyPrefixLen = 8
	apiKeySecretLen = 32
	apiKeyLen       = len(apiKeyScheme) + apiKeyPrefixLen + 1 + 43
	prefixAlphabet  = "abcdefghijklmnopqrstuvwxyz0123456789"
)

// apiKeyTouchEvery bounds writes of last_used_at: one per key per minute,
// however busy the key.
const apiKeyTouchEvery = time.Minute

const apiKeyColumns = `id::text AS id, user_id::text AS user_id, name, prefix, role, created_at, last_used_at, revoked_at`

const (
	sqlAPIKeyInsert = `
INSERT INTO api_keys (id, user_id, name, prefix, key_hash, role, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING ` + apiKeyColumns

	sqlAPIKeyByPrefix = `SELECT ` + apiKeyColumns + `, key_hash FROM api_keys WHERE prefix = $1`

	sqlAPIKeyByIDForUpdate = `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE id = $1 FOR UPDATE`

	sqlAPIKeysOfUser = `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE user_id = $1 ORDER BY created_at, id`

	sqlAPIKeyRevoke = `UPDATE api_keys SET revoked_at = $2 WHERE id = $1`

	// sqlAPIKeyTouch writes last_used_at only if the stored value is older
	// than a minute, so a busy key does not write on every request.
	sqlAPIKeyTouch = `
UPDATE api_keys SET last_used_at = $2
WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $3)`
)

// APIKey describes a key; the secret itself is never stored.
type APIKey struct {
	ID         string     `db:"id"`
	UserID     string     `db:"user_id"`
	Name       string     `db:"name"`
	Prefix     string     `db:"prefix"` // shown in lists to tell keys apart
	Role       Role       `db:"role"`   // the key's scope
	CreatedAt  time.Time  `db:"created_at"`
	LastUsedAt *time.Time `db:"last_used_at"`
	RevokedAt  *time.Time `db:"revoked_at"`
}

type apiKeyRow struct {
	APIKey
	KeyHash []byte `db:"key_hash"`
}

// CreateAPIKey makes a key for the user, scoped to role, and records
// api_key.created. The returned secret is the full key: it is shown once
// and cannot be recovered. role must be the user's own role, unless the
// user is an administrator, whose keys may have any role. The user must be
// active.
func (s *Store) CreateAPIKey(ctx context.Context, actor Actor, userID, name string, role Role) (APIKey, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > MaxKeyNameLen || !utf8.ValidString(name) ||
		strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return APIKey{}, "", invalid("name", "1 to 100 characters, no control characters")
	}
	if !role.Valid() {
		return APIKey{}, "", invalid("role", "unknown role")
	}
	u, err := s.ByID(ctx, userID)
	if err != nil {
		return APIKey{}, "", fmt.Errorf("create API key: %w", err)
	}
	switch {
	case u.Status == StatusDisabled:
		return APIKey{}, "", fmt.Errorf("create API key: %w", ErrDisabled)
	case u.Status == StatusPendingApproval:
		return APIKey{}, "", fmt.Errorf("create API key: %w", ErrPendingApproval)
	case role != u.Role && u.Role != RoleAdmin:
		return APIKey{}, "", invalid("role", "must be the user's role")
	}
	prefix := randomPrefix()
	secret := make([]byte, apiKeySecretLen)
	rand.Read(secret)
	full := apiKeyScheme + prefix + "_" + base64.RawURLEncoding.EncodeToString(secret)
	sum := sha256.Sum256([]byte(full))
	var k APIKey
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, sqlAPIKeyInsert, newUUID(), userID, name, prefix, sum[:], role, s.now())
		var err error
		if k, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[APIKey]); err != nil {
			return err
		}
		return s.record(ctx, tx, actor, ActionAPIKeyCreated, "api_key", k.ID)
	})
	if err != nil {
		return APIKey{}, "", fmt.Errorf("create API key: %w", err)
	}
	return k, full, nil
}

func randomPrefix() string {
	b := make([]byte, apiKeyPrefixLen)
	for i := range b {
		b[i] = prefixAlphabet[randIntn(len(prefixAlphabet))]
	}
	return string(b)
}

// randIntn returns a uniform random int in [0, n) for small n, rejecting
// bytes that would bias the modulo.
func randIntn(n int) int {
	limit := 256 - 256%n
	var b [1]byte
	for {
		rand.Read(b[:])
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

// parseAPIKey returns the prefix of a well-formed key.
func parseAPIKey(key string) (string, bool) {
	if len(key) != apiKeyLen || !strings.HasPrefix(key, apiKeyScheme) || key[len(apiKeyScheme)+apiKeyPrefixLen] != '_' {
		return "", false
	}
	prefix := key[len(apiKeyScheme) : len(apiKeyScheme)+apiKeyPrefixLen]
	for _, c := range []byte(prefix) {
		if !strings.ContainsRune(prefixAlphabet, rune(c)) {
			return "", false
		}
	}
	secret, err := base64.RawURLEncoding.Strict().DecodeString(key[len(apiKeyScheme)+apiKeyPrefixLen+1:])
	if err != nil || len(secret) != apiKeySecretLen {
		return "", false
	}
	return prefix, true
}

// AuthenticateAPIKey returns the key's user and the key. A malformed,
// unknown or non-matching key gives ErrInvalidAPIKey, a revoked one
// ErrAPIKeyRevoked, a key of a disabled or pending user ErrDisabled or
// ErrPendingApproval. The hash comparison is constant-time. last_used_at is
// updated at most once a minute.
func (s *Store) AuthenticateAPIKey(ctx context.Context, key string) (User, APIKey, error) {
	prefix, ok := parseAPIKey(key)
	if !ok {
		return User{}, APIKey{}, ErrInvalidAPIKey
	}
	sum := sha256.Sum256([]byte(key))
	rows, _ := s.pool.Query(ctx, sqlAPIKeyByPrefix, prefix)
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[apiKeyRow])
	if err = mapErr(err); errors.Is(err, ErrNotFound) {
		r.KeyHash = make([]byte, sha256.Size) // compare anyway: same work either way
	} else if err != nil {
		return User{}, APIKey{}, fmt.Errorf("authenticate API key: %w", err)
	}
	if subtle.ConstantTimeCompare(sum[:], r.KeyHash) != 1 || r.ID == "" {
		return User{}, APIKey{}, ErrInvalidAPIKey
	}
	if r.RevokedAt != nil {
		return User{}, APIKey{}, ErrAPIKeyRevoked
	}
	u, err := s.ByID(ctx, r.UserID)
	if err != nil {
		return User{}, APIKey{}, fmt.Errorf("authenticate API key: %w", err)
	}
	switch u.Status {
	case StatusDisabled:
		return User{}, APIKey{}, ErrDisabled
	case StatusPendingApproval:
		return User{}, APIKey{}, ErrPendingApproval
	}
	now := s.now()
	if r.LastUsedAt == nil || !r.LastUsedAt.After(now.Add(-apiKeyTouchEvery)) {
		// The condition is repeated in SQL, so concurrent requests write once.
		tag, err := s.pool.Exec(ctx, sqlAPIKeyTouch, r.ID, now, now.Add(-apiKeyTouchEvery))
		if err != nil {
			return User{}, APIKey{}, fmt.Errorf("authenticate API key: %w", err)
		}
		if tag.RowsAffected() == 1 {
			t := now
			r.LastUsedAt = &t
		}
	}
	return u, r.APIKey, nil
}

// APIKeys lists the user's keys, revoked ones included, oldest first.
func (s *Store) APIKeys(ctx context.Context, userID string) ([]APIKey, error) {
	if !validID(userID) {
		return nil, fmt.Errorf("list API keys: %w", ErrNotFound)
	}
	rows, _ := s.pool.Query(ctx, sqlAPIKeysOfUser, userID)
	keys, err := pgx.CollectRows(rows, pgx.RowToStructByName[APIKey])
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", mapErr(err))
	}
	return keys, nil
}

// RevokeAPIKey revokes the key and records api_key.revoked. Revoking a
// revoked key fails with ErrAPIKeyRevoked.
func (s *Store) RevokeAPIKey(ctx context.Context, actor Actor, keyID string) error {
	if !validID(keyID) {
		return fmt.Errorf("revoke API key: %w", ErrNotFound)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, sqlAPIKeyByIDForUpdate, keyID)
		k, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[APIKey])
		if err != nil {
			return err
		}
		if k.RevokedAt != nil {
			return ErrAPIKeyRevoked
		}
		if _, err := tx.Exec(ctx, sqlAPIKeyRevoke, keyID, s.now()); err != nil {
			return err
		}
		return s.record(ctx, tx, actor, ActionAPIKeyRevoked, "api_key", keyID)
	})
	if err != nil {
		return fmt.Errorf("revoke API key: %w", err)
	}
	return nil
}
