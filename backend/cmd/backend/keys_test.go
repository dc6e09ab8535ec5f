package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/account"
	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/database"
	"github.com/hcw-home/hcw/backend/internal/database/dbtest"
	"github.com/hcw-home/hcw/backend/internal/sealed"
)

func randomKey(t *testing.T) *sealed.Key {
	t.Helper()
	secret := make([]byte, sealed.KeySize)
	rand.Read(secret)
	k, err := sealed.ParseKey(base64.RawURLEncoding.EncodeToString(secret))
	require.NoError(t, err)
	return k
}

func TestKeysRotate(t *testing.T) {
	pool := dbtest.NewPool(t)
	ctx := t.Context()
	require.NoError(t, database.Migrate(ctx, pool, database.Migrations(), slog.New(slog.NewTextHandler(io.Discard, nil))))
	oldKey, newKey := randomKey(t), randomKey(t)
	oldRing, err := sealed.NewKeyring(oldKey)
	require.NoError(t, err)
	keys, err := sealed.NewKeyring(newKey, oldKey)
	require.NoError(t, err)
	store := account.NewStore(account.Params{Pool: pool, Keys: oldRing, Audit: audit.NewStore(pool)})
	var ids []string
	for i := range 3 {
		u, err := store.Create(ctx, account.SystemActor(), account.NewUser{
			Email: fmt.Sprintf("d%d@example.org", i), FirstName: "Ada", LastName: "Lovelace",
			Role: account.RoleDoctor, Status: account.StatusActive,
		})
		require.NoError(t, err)
		ids = append(ids, u.ID)
	}
	lastAudit := func() []string {
		var actor, action, objectType, objectID, outcome string
		require.NoError(t, pool.QueryRow(ctx, `SELECT actor_type, action, object_type, object_id, outcome
			FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&actor, &action, &objectType, &objectID, &outcome))
		return []string{actor, action, objectType, objectID, outcome}
	}

	var out, log bytes.Buffer
	code, err := keysRotate(ctx, pool, keys, 2, &out, &log)
	require.NoError(t, err)
	assert.Equal(t, exitRotated, code)
	assert.JSONEq(t, `{"rotated":6,"already_current":0,"failed":0}`, out.String())
	assert.Equal(t, 1, bytes.Count(out.Bytes(), []byte("\n")), "one line")
	assert.Contains(t, log.String(), "keys rotate: users.first_name_sealed: 2 rows\n")
	assert.Contains(t, log.String(), "keys rotate: users.first_name_sealed: 3 rows\n")
	assert.NotContains(t, log.String(), "Lovelace")
	assert.Equal(t, []string{audit.ActorSystem, audit.ActionKeysRotated, "data_key", newKey.ID().String(), audit.OutcomeSuccess}, lastAudit())

	_, err = pool.Exec(ctx, `UPDATE users SET last_name_sealed = overlay(last_name_sealed placing '\x00'::bytea from 30 for 1) WHERE id = $1`, ids[1])
	require.NoError(t, err)
	out.Reset()
	log.Reset()
	code, err = keysRotate(ctx, pool, keys, 500, &out, &log)
	require.NoError(t, err)
	assert.Equal(t, exitSomeNotOpened, code)
	assert.JSONEq(t, `{"rotated":0,"already_current":5,"failed":1}`, out.String())
	assert.Contains(t, log.String(), "keys rotate: does not open: users.last_name_sealed id="+ids[1]+": sealed: message authentication failed\n")
	assert.Equal(t, []string{audit.ActorSystem, audit.ActionKeysRotated, "data_key", newKey.ID().String(), audit.OutcomeFailure}, lastAudit())

	audits := audit.NewStore(pool)
	res, err := audits.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, res.Intact)

	pool.Close()
	out.Reset()
	code, err = keysRotate(ctx, pool, keys, 500, &out, &log)
	require.Error(t, err)
	assert.Equal(t, exitError, code)
	assert.Empty(t, out.String(), "no result line when the run did not complete")
}
