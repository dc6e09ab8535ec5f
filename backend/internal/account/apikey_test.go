package account

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAPIKeys(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	sch := f.create(t, "sched@example.org", RoleScheduler, StatusActive)

	k, full, err := f.store.CreateAPIKey(ctx, admin, sch.ID, "calendar sync", RoleScheduler)
	require.NoError(t, err)
	assert.Regexp(t, `^hcw_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$`, full)
	assert.Equal(t, full[4:12], k.Prefix)
	assert.Equal(t, auditRow{"user", admin.ID, "api_key.created", "api_key", k.ID, "success"}, f.lastAudit(t))
	var raw string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT t::text FROM api_keys t`).Scan(&raw))
	assert.NotContains(t, raw, full[13:], "only the hash is stored")

	u, got, err := f.store.AuthenticateAPIKey(ctx, full)
	require.NoError(t, err)
	assert.Equal(t, sch.ID, u.ID)
	assert.Equal(t, k.ID, got.ID)
	assert.Equal(t, RoleScheduler, got.Role)
	require.NotNil(t, got.LastUsedAt)
	assert.True(t, got.LastUsedAt.Equal(f.clock.Now()))

	lastUsed := func() time.Time {
		var at time.Time
		require.NoError(t, f.pool.QueryRow(ctx, `SELECT last_used_at FROM api_keys WHERE id = $1`, k.ID).Scan(&at))
		return at
	}
	first := lastUsed()
	f.clock.Add(59 * time.Second)
	_, _, err = f.store.AuthenticateAPIKey(ctx, full)
	require.NoError(t, err)
	assert.True(t, first.Equal(lastUsed()), "not written again within a minute")
	f.clock.Add(2 * time.Second)
	_, _, err = f.store.AuthenticateAPIKey(ctx, full)
	require.NoError(t, err)
	assert.True(t, lastUsed().Equal(f.clock.Now()), "written after a minute")

	// Wrong keys.
	last := full[len(full)-1]
	flipped := full[:len(full)-1] + map[bool]string{true: "A", false: "B"}[last != 'A']
	for name, key := range map[string]string{
		"one character changed": flipped,
		"unknown prefix":        "hcw_zzzzzzzz" + full[12:],
		"no scheme":             strings.TrimPrefix(full, "hcw_"),
		"empty":                 "",
		"truncated":             full[:len(full)-1],
		"upper-case prefix":     "hcw_" + strings.ToUpper(full[4:12]) + full[12:],
	} {
		_, _, err := f.store.AuthenticateAPIKey(ctx, key)
		require.ErrorIs(t, err, ErrInvalidAPIKey, name)
	}

	keys, err := f.store.APIKeys(ctx, sch.ID)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	assert.Equal(t, k.ID, keys[0].ID)

	// Disabled user: the key stops working, and comes back with the user.
	_, err = f.store.SetStatus(ctx, admin, sch.ID, StatusDisabled)
	require.NoError(t, err)
	_, _, err = f.store.AuthenticateAPIKey(ctx, full)
	require.ErrorIs(t, err, ErrDisabled)
	_, _, err = f.store.CreateAPIKey(ctx, admin, sch.ID, "another", RoleScheduler)
	require.ErrorIs(t, err, ErrDisabled)
	_, err = f.store.SetStatus(ctx, admin, sch.ID, StatusActive)
	require.NoError(t, err)

	require.NoError(t, f.store.RevokeAPIKey(ctx, admin, k.ID))
	assert.Equal(t, auditRow{"user", admin.ID, "api_key.revoked", "api_key", k.ID, "success"}, f.lastAudit(t))
	_, _, err = f.store.AuthenticateAPIKey(ctx, full)
	require.ErrorIs(t, err, ErrAPIKeyRevoked)
	require.ErrorIs(t, f.store.RevokeAPIKey(ctx, admin, k.ID), ErrAPIKeyRevoked)
	require.ErrorIs(t, f.store.RevokeAPIKey(ctx, admin, newUUID()), ErrNotFound)
}

func TestAPIKeyScope(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	doc := f.create(t, "doc@example.org", RoleDoctor, StatusActive)
	_, _, err := f.store.CreateAPIKey(ctx, admin, doc.ID, "escalate", RoleAdmin)
	require.ErrorIs(t, err, ErrInvalidInput, "a key cannot have more than its user's role")
	_, _, err = f.store.CreateAPIKey(ctx, admin, doc.ID, "", RoleDoctor)
	require.ErrorIs(t, err, ErrInvalidInput)
	_, _, err = f.store.CreateAPIKey(ctx, admin, newUUID(), "x", RoleDoctor)
	require.ErrorIs(t, err, ErrNotFound)
	adm := f.create(t, "adm@example.org", RoleAdmin, StatusActive)
	k, _, err := f.store.CreateAPIKey(ctx, admin, adm.ID, "narrow", RoleScheduler)
	require.NoError(t, err, "an admin may hold a narrower key")
	assert.Equal(t, RoleScheduler, k.Role)
}
