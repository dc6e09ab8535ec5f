package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/database"
	"github.com/hcw-home/hcw/backend/internal/database/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestAuditVerify(t *testing.T) {
	pool := dbtest.NewPool(t)
	ctx := t.Context()
	require.NoError(t, database.Migrate(ctx, pool, database.Migrations(), slog.New(slog.NewTextHandler(io.Discard, nil))))
	store := audit.NewStore(pool)
	require.NoError(t, store.Append(ctx, audit.Event{
		ActorType: audit.ActorUser, ActorID: "u1", Action: audit.ActionUserCreated, Outcome: audit.OutcomeSuccess,
	}))

	var out bytes.Buffer
	code, err := auditVerify(ctx, store, &out)
	require.NoError(t, err)
	assert.Equal(t, exitIntact, code)
	assert.JSONEq(t, `{"intact":true,"rows":1,"first_broken_seq":0,"reason":""}`, out.String())
	assert.Equal(t, 1, bytes.Count(out.Bytes(), []byte("\n")), "one line")

	var actor, action, outcome string
	require.NoError(t, pool.QueryRow(ctx,
		`SELECT actor_type, action, outcome FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&actor, &action, &outcome))
	assert.Equal(t, []string{audit.ActorSystem, audit.ActionAuditVerified, audit.OutcomeSuccess}, []string{actor, action, outcome})

	_, err = pool.Exec(ctx, `ALTER TABLE audit_events DISABLE TRIGGER USER;
		UPDATE audit_events SET actor_id = 'u2' WHERE seq = 1;
		ALTER TABLE audit_events ENABLE TRIGGER USER`)
	require.NoError(t, err)
	out.Reset()
	code, err = auditVerify(ctx, store, &out)
	require.NoError(t, err)
	assert.Equal(t, exitBroken, code)
	var res audit.Result
	require.NoError(t, json.Unmarshal(out.Bytes(), &res))
	assert.Equal(t, audit.Result{Rows: 2, FirstBrokenSeq: 1, Reason: "hash does not match the row's content"}, res)

	require.NoError(t, pool.QueryRow(ctx,
		`SELECT outcome FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&outcome))
	assert.Equal(t, audit.OutcomeFailure, outcome, "a failed verification is recorded as such")

	pool.Close()
	code, err = auditVerify(ctx, store, &out)
	require.Error(t, err)
	assert.Equal(t, exitError, code)
}
