package account

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTokens(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	ip := netip.MustParseAddr("2001:db8::1")
	u := f.create(t, "new@example.org", RoleDoctor, StatusActive)

	tok, exp, err := f.store.IssueToken(ctx, admin, u.ID, PurposeSetup, 0)
	require.NoError(t, err)
	assert.Len(t, tok, 43)
	assert.True(t, exp.Equal(f.clock.Now().Add(DefaultSetupTTL)))
	assert.Equal(t, auditRow{"user", admin.ID, "user_token.issued", "user", u.ID, "success"}, f.lastAudit(t))
	var raw string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT t::text FROM user_tokens t`).Scan(&raw))
	assert.NotContains(t, raw, tok)

	_, err = f.store.ConsumeToken(ctx, tok, PurposeReset, "tulip-harbour-84", ip)
	require.ErrorIs(t, err, ErrTokenPurpose)
	_, err = f.store.ConsumeToken(ctx, tok, PurposeSetup, "password1", ip)
	require.ErrorIs(t, err, ErrPasswordCommon)
	_, err = f.store.ConsumeToken(ctx, "AAAA", PurposeSetup, "tulip-harbour-84", ip)
	require.ErrorIs(t, err, ErrTokenInvalid)

	got, err := f.store.ConsumeToken(ctx, tok, PurposeSetup, "tulip-harbour-84", ip)
	require.NoError(t, err, "a refused password left the token usable")
	assert.Equal(t, u.ID, got.ID)
	assert.Equal(t, auditRow{"user", u.ID, "password.changed", "user", u.ID, "success"}, f.lastAudit(t))
	_, err = f.store.Authenticate(ctx, "new@example.org", "tulip-harbour-84")
	require.NoError(t, err)

	_, err = f.store.ConsumeToken(ctx, tok, PurposeSetup, "another-fine-pass", ip)
	require.ErrorIs(t, err, ErrTokenUsed)

	// Expiry, on the injected clock.
	reset, exp, err := f.store.IssueToken(ctx, admin, u.ID, PurposeReset, 0)
	require.NoError(t, err)
	assert.True(t, exp.Equal(f.clock.Now().Add(DefaultResetTTL)))
	f.clock.Add(DefaultResetTTL)
	_, err = f.store.ConsumeToken(ctx, reset, PurposeReset, "another-fine-pass", ip)
	require.ErrorIs(t, err, ErrTokenExpired)

	// A newer token supersedes the older unused one.
	old, _, err := f.store.IssueToken(ctx, admin, u.ID, PurposeReset, time.Hour)
	require.NoError(t, err)
	newer, _, err := f.store.IssueToken(ctx, admin, u.ID, PurposeReset, time.Hour)
	require.NoError(t, err)
	_, err = f.store.ConsumeToken(ctx, old, PurposeReset, "another-fine-pass", ip)
	require.ErrorIs(t, err, ErrTokenInvalid)
	_, err = f.store.ConsumeToken(ctx, newer, PurposeReset, "another-fine-pass", ip)
	require.NoError(t, err)
	_, err = f.store.Authenticate(ctx, "new@example.org", "another-fine-pass")
	require.NoError(t, err)

	// Bad input and disabled accounts.
	_, _, err = f.store.IssueToken(ctx, admin, u.ID, "login", 0)
	require.ErrorIs(t, err, ErrInvalidInput)
	_, _, err = f.store.IssueToken(ctx, admin, u.ID, PurposeReset, -time.Second)
	require.ErrorIs(t, err, ErrInvalidInput)
	_, _, err = f.store.IssueToken(ctx, admin, newUUID(), PurposeReset, 0)
	require.ErrorIs(t, err, ErrNotFound)
	pending, _, err := f.store.IssueToken(ctx, admin, u.ID, PurposeReset, 0)
	require.NoError(t, err)
	_, err = f.store.SetStatus(ctx, admin, u.ID, StatusDisabled)
	require.NoError(t, err)
	_, err = f.store.ConsumeToken(ctx, pending, PurposeReset, "yet-another-pass", ip)
	require.ErrorIs(t, err, ErrDisabled)
	_, _, err = f.store.IssueToken(ctx, admin, u.ID, PurposeReset, 0)
	require.ErrorIs(t, err, ErrDisabled)
}
