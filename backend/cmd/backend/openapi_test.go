package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/config"
	"github.com/hcw-home/hcw/backend/internal/database"
	"github.com/hcw-home/hcw/backend/internal/database/dbtest"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/mail"
	"github.com/hcw-home/hcw/backend/internal/realtime"
	"github.com/hcw-home/hcw/backend/internal/sealed"
)

// TestOpenAPICommandMatchesServedDocument: `backend openapi`, run with an
// empty environment and no database, prints the document a running
// server (its own secrets, a real database) serves at
// /api/v1/openapi.json.
func TestOpenAPICommandMatchesServedDocument(t *testing.T) {
	var printed bytes.Buffer
	require.NoError(t, openapiCmd(&printed))

	// The server side: built as serve builds it, on a migrated database.
	pool := dbtest.NewPool(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	require.NoError(t, database.Migrate(t.Context(), pool, database.Migrations(), logger))
	env, err := throwawaySecrets()
	require.NoError(t, err)
	env[config.EnvDomain] = "clinic.example.org"
	cfg, err := config.Parse(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	keyring, err := sealed.NewKeyring(cfg.DataKey)
	require.NoError(t, err)
	base := httpapi.Params{Logger: logger, Edge: clientinfo.NewEdge(clientinfo.EdgeParams{Logger: logger}),
		AppHosts: cfg.AppHosts(), Metrics: httpapi.NewMetrics()}
	api, err := buildAPI(t.Context(), cfg, base, pool, keyring, mail.Disabled{}, realtime.NewHub(), base.Metrics, logger)
	require.NoError(t, err)
	w := httptest.NewRecorder()
	api.handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil))
	require.Equal(t, http.StatusOK, w.Code)

	assert.JSONEq(t, w.Body.String(), printed.String())

	// And it is the whole API: every mounted operation is in it.
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(printed.Bytes(), &doc))
	ids := map[string]bool{}
	for _, item := range doc.Paths {
		for _, op := range item {
			ids[op.OperationID] = true
		}
	}
	for _, op := range api.router.Operations() {
		assert.True(t, ids[op.ID], "operation %s missing from the printed document", op.ID)
	}
	for _, id := range []string{"getVersion", "redeemInvite", "getMediaJWKS", "signIn", "listMessages"} {
		assert.True(t, ids[id], "operation %s missing", id)
	}
}
