package mediaapi_test

import (
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/database"
	"github.com/hcw-home/hcw/backend/internal/database/dbtest"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/mediaapi"
	"github.com/hcw-home/hcw/backend/internal/medianode"
	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/nodeapi"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const secret = "a-node-secret-for-tests"

type env struct {
	h         http.Handler
	rt        *httpapi.Router
	cur, prev ed25519.PublicKey
}

func newEnv(t *testing.T) *env {
	t.Helper()
	pool := dbtest.NewPool(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	require.NoError(t, database.Migrate(t.Context(), pool, database.Migrations(), logger))
	cur, _, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	prev, _, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	nodes := medianode.New(medianode.Params{Pool: pool, Secret: secret, MediaHost: "media.example.org", Logger: logger})
	api := mediaapi.New(mediaapi.Params{Nodes: nodes, NodeSecret: secret, GrantPublicKeys: []ed25519.PublicKey{cur, prev}, Logger: logger})
	h, rt := httpapi.NewHandler(httpapi.Params{Logger: logger, AppHosts: []string{"doctor.example.org"},
		Edge: clientinfo.NewEdge(clientinfo.EdgeParams{Logger: logger}), Mount: []func(*httpapi.Router){api.Mount}})
	return &env{h: h, rt: rt, cur: cur, prev: prev}
}

func (e *env) do(method, path, bearer, contentType, body string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, "http://backend:8080"+path, rd)
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func errorOf(t *testing.T, w *httptest.ResponseRecorder) (code, field string) {
	t.Helper()
	var body struct{ Error struct{ Code, Field string } }
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), w.Body.String())
	return body.Error.Code, body.Error.Field
}

const goodBeat = `{"upstream":"media:7880","capacity":200,"load":{"rooms":1,"participants":2,"tracks":4,"bitrate":1000},"draining":false,"version":"1.2.3"}`

func TestNodeRoutesNeedTheSecret(t *testing.T) {
	e := newEnv(t)
	for _, route := range []struct{ method, path, body string }{
		{http.MethodPut, "/internal/v1/media/nodes/media-1", goodBeat},
		{http.MethodDelete, "/internal/v1/media/nodes/media-1", ""},
		{http.MethodGet, "/internal/v1/media/nodes", ""},
	} {
		for name, bearer := range map[string]string{"none": "", "wrong": "another-secret-entirely", "prefix": secret[:10]} {
			w := e.do(route.method, route.path, bearer, "application/json", route.body)
			assert.Equal(t, http.StatusUnauthorized, w.Code, "%s %s with %s secret", route.method, route.path, name)
			code, _ := errorOf(t, w)
			assert.Equal(t, httpapi.CodeUnauthenticated, code)
		}
	}
	// Nothing was registered by the refused heartbeats.
	w := e.do(http.MethodGet, "/internal/v1/media/nodes", secret, "", "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"nodes":[]}`, w.Body.String())
}

func TestHeartbeatRegistryAndShutdown(t *testing.T) {
	e := newEnv(t)
	w := e.do(http.MethodPut, "/internal/v1/media/nodes/media-1", secret, "application/json", goodBeat)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var reply nodeapi.HeartbeatReply
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &reply))
	assert.Equal(t, "wss://media.example.org/n/media-1/signal", reply.SignalURL)

	w = e.do(http.MethodGet, "/internal/v1/media/nodes", secret, "", "")
	require.Equal(t, http.StatusOK, w.Code)
	var reg nodeapi.Registry
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &reg))
	assert.Equal(t, []nodeapi.RegistryNode{{ID: "media-1", Upstream: "media:7880", Healthy: true}}, reg.Nodes)
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))

	w = e.do(http.MethodDelete, "/internal/v1/media/nodes/media-1", secret, "", "")
	assert.Equal(t, http.StatusNoContent, w.Code)
	w = e.do(http.MethodGet, "/internal/v1/media/nodes", secret, "", "")
	assert.JSONEq(t, `{"nodes":[]}`, w.Body.String())
}

func TestHeartbeatValidationNamesTheField(t *testing.T) {
	e := newEnv(t)
	for name, tc := range map[string]struct {
		path, contentType, body string
		status                  int
		field                   string
	}{
		"bad id":           {"/internal/v1/media/nodes/Media_1", "application/json", goodBeat, 400, "id"},
		"bad upstream":     {"/internal/v1/media/nodes/m", "application/json", strings.Replace(goodBeat, "media:7880", "http://media", 1), 400, "upstream"},
		"capacity 0":       {"/internal/v1/media/nodes/m", "application/json", strings.Replace(goodBeat, `"capacity":200`, `"capacity":0`, 1), 400, "capacity"},
		"capacity 100001":  {"/internal/v1/media/nodes/m", "application/json", strings.Replace(goodBeat, `"capacity":200`, `"capacity":100001`, 1), 400, "capacity"},
		"negative load":    {"/internal/v1/media/nodes/m", "application/json", strings.Replace(goodBeat, `"rooms":1`, `"rooms":-1`, 1), 400, "load.rooms"},
		"unknown field":    {"/internal/v1/media/nodes/m", "application/json", `{"upstream":"media:7880","capacity":1,"admin":true}`, 400, "admin"},
		"not JSON":         {"/internal/v1/media/nodes/m", "application/json", `{`, 400, ""},
		"wrong media type": {"/internal/v1/media/nodes/m", "text/plain", goodBeat, 415, ""},
		"too large":        {"/internal/v1/media/nodes/m", "application/json", `{"version":"` + strings.Repeat("x", 5000) + `"}`, 413, ""},
	} {
		t.Run(name, func(t *testing.T) {
			w := e.do(http.MethodPut, tc.path, secret, tc.contentType, tc.body)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			_, field := errorOf(t, w)
			assert.Equal(t, tc.field, field)
		})
	}
}

func TestJWKS(t *testing.T) {
	e := newEnv(t)
	w := e.do(http.MethodGet, "/api/v1/media/jwks", "", "", "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "public, max-age=300", w.Header().Get("Cache-Control"))
	assert.Contains(t, w.Header().Get("Content-Type"), "application/json")
	keys, err := grant.ParseJWKS(w.Body.Bytes())
	require.NoError(t, err)
	assert.Equal(t, []ed25519.PublicKey{e.cur, e.prev}, keys, "the current key first, then the previous one")
}

func TestOpenAPIHasTheJWKSAndNoInternalRoute(t *testing.T) {
	e := newEnv(t)
	w := e.do(http.MethodGet, "/api/v1/openapi.json", "", "", "")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), `"operationId":"getMediaJWKS"`)
	assert.NotContains(t, w.Body.String(), "/internal/")
	assert.ElementsMatch(t, []string{
		"PUT /internal/v1/media/nodes/{id}", "DELETE /internal/v1/media/nodes/{id}", "GET /internal/v1/media/nodes",
	}, e.rt.InternalRoutes())
	for _, op := range e.rt.Operations() {
		assert.True(t, strings.HasPrefix(op.Path, "/api/"), op.Path)
	}
}
