package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net/netip"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/account"
	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/database"
	"github.com/hcw-home/hcw/backend/internal/database/dbtest"
	"github.com/hcw-home/hcw/backend/internal/sealed"
)

func TestAdminCreate(t *testing.T) {
	pool := dbtest.NewPool(t)
	ctx := t.Context()
	require.NoError(t, database.Migrate(ctx, pool, database.Migrations(), slog.New(slog.NewTextHandler(io.Discard, nil))))
	secret := make([]byte, sealed.KeySize)
	rand.Read(secret)
	key, err := sealed.ParseKey(base64.RawURLEncoding.EncodeToString(secret))
	require.NoError(t, err)
	keys, err := sealed.NewKeyring(key)
	require.NoError(t, err)
	store := account.NewStore(account.Params{Pool: pool, Keys: keys, Audit: audit.NewStore(pool)})

	p := adminCreateParams{Email: "Root@Example.org", FirstName: "Admin", LastName: "Admin", Language: "en", AdminHost: "admin.example.org"}
	var out bytes.Buffer
	before := time.Now()
	require.NoError(t, adminCreate(ctx, store, p, &out))

	m := regexp.MustCompile(`^setup link: https://admin\.example\.org/setup#([A-Za-z0-9_-]{43})\nexpires: (\S+) \(in 72h0m0s\)\n$`).FindStringSubmatch(out.String())
	require.NotNil(t, m, out.String())
	exp, err := time.Parse(time.RFC3339, m[2])
	require.NoError(t, err)
	assert.WithinDuration(t, before.Add(account.DefaultSetupTTL), exp, time.Minute)

	u, err := store.ByEmail(ctx, "root@example.org")
	require.NoError(t, err)
	assert.Equal(t, account.RoleAdmin, u.Role)
	assert.Equal(t, account.StatusActive, u.Status)

	// The printed token is the setup token.
	_, err = store.ConsumeToken(ctx, m[1], account.PurposeSetup, "tulip-harbour-84", netip.Addr{})
	require.NoError(t, err)
	_, err = store.Authenticate(ctx, "root@example.org", "tulip-harbour-84")
	require.NoError(t, err)

	var actor, action string
	require.NoError(t, pool.QueryRow(ctx, `SELECT actor_type, action FROM audit_events ORDER BY seq LIMIT 1`).Scan(&actor, &action))
	assert.Equal(t, []string{audit.ActorSystem, account.ActionUserCreated}, []string{actor, action})

	// A second run with the same address refuses with one clear line.
	out.Reset()
	p.Email = "ROOT@example.org"
	err = adminCreate(ctx, store, p, &out)
	require.Error(t, err)
	assert.Equal(t, "an account with this email address already exists", err.Error())
	assert.Empty(t, out.String())

	p.Email = "not an address"
	require.ErrorIs(t, adminCreate(ctx, store, p, &out), account.ErrInvalidInput)
}
