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

// TestOpenAPIDocumentsQueryParameters: the operations whose handlers read
// query parameters declare them, so the apps' generated types accept
// them. Removing one from an operation's Query fails here.
func TestOpenAPIDocumentsQueryParameters(t *testing.T) {
	doc, err := openapiDocument()
	require.NoError(t, err)
	raw, err := json.Marshal(doc)
	require.NoError(t, err)
	var parsed struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Parameters  []struct {
				Name   string         `json:"name"`
				In     string         `json:"in"`
				Schema map[string]any `json:"schema"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(raw, &parsed))
	query := map[string][]string{}
	types := map[string]string{}
	for _, item := range parsed.Paths {
		for _, op := range item {
			query[op.OperationID] = []string{}
			for _, p := range op.Parameters {
				if p.In == "query" {
					query[op.OperationID] = append(query[op.OperationID], p.Name)
					types[op.OperationID+" "+p.Name], _ = p.Schema["type"].(string)
				}
			}
		}
	}
	for id, want := range map[string][]string{
		"listAuditEvents":         {"action", "actor_type", "actor_id", "object_type", "object_id", "consultation_id", "outcome", "from", "to", "before", "limit"},
		"listUsers":               {"role", "status", "limit", "cursor"},
		"listInvites":             {"limit", "cursor"},
		"listMyConsultations":     {"status", "limit", "cursor"},
		"listMessages":            {"after", "limit"},
		"listParticipantMessages": {"after", "limit"},
		"getStatistics":           {"from", "to", "queue_id"},
		"exportStatistics":        {"from", "to", "queue_id"},
		"getBrandingLogo":         {"v"},
	} {
		got, ok := query[id]
		if !assert.True(t, ok, "operation %s missing", id) {
			continue
		}
		assert.ElementsMatch(t, want, got, "query parameters of %s", id)
	}
	// Numbers are typed as such.
	for _, p := range []string{"listUsers limit", "listInvites limit", "listMyConsultations limit",
		"listMessages after", "listMessages limit", "listParticipantMessages after", "listParticipantMessages limit",
		"listAuditEvents before", "listAuditEvents limit"} {
		assert.Equal(t, "integer", types[p], p)
	}
}
