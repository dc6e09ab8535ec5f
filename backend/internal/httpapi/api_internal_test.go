package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/clientinfo"
)

var testAppHosts = []string{"doctor.example.org", "patient.example.org", "admin.example.org"}

type echoBody struct {
	Name  string   `json:"name"`
	Count int      `json:"count,omitempty"`
	Tags  []string `json:"tags,omitempty"`
}

func (b echoBody) Validate() error {
	if b.Name == "" {
		return FieldError("name", "is required")
	}
	return nil
}

// testRouter is the real handler plus a few operations that exercise the
// conventions (a body, a path parameter, an API key route).
func testRouter(t *testing.T) (http.Handler, *Router) {
	t.Helper()
	return NewHandler(Params{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Edge:     clientinfo.NewEdge(clientinfo.EdgeParams{Prefixes: []netip.Prefix{netip.MustParsePrefix("172.20.0.2/32")}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}),
		AppHosts: testAppHosts,
		Metrics:  NewMetrics(),
		Auth:     fakeAuth{},
		Mount: []func(*Router){func(rt *Router) {
			rt.HandleFunc(Operation{
				Method: http.MethodPost, Path: "/api/v1/echo", ID: "echo", Summary: "Echo a body.",
				Auth: AuthNone, Request: echoBody{}, Response: echoBody{}, Errors: []int{400, 413, 415}, MaxBody: 256,
			}, func(w http.ResponseWriter, r *http.Request) {
				var b echoBody
				if err := DecodeJSON(w, r, 256, &b); err != nil {
					WriteRequestError(w, err.(*RequestError))
					return
				}
				writeJSON(w, http.StatusOK, b)
			})
			rt.HandleFunc(Operation{
				Method: http.MethodGet, Path: "/api/v1/things/{id}", ID: "getThing", Summary: "One thing.",
				Auth: AuthAny, Permission: authz.PermUsersManage, Response: echoBody{}, Errors: []int{401, 403, 404},
			}, func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, http.StatusOK, echoBody{Name: r.PathValue("id")})
			})
		}},
	})
}

var wildcard = regexp.MustCompile(`\{[^}]+\}`)

// TestOpenAPIMatchesRoutes keeps the document true: every registered
// operation is in it, and every documented operation is what the mux
// routes its method and path to.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h, rt := testRouter(t)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil))
	require.Equal(t, http.StatusOK, w.Code)
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &doc))
	assert.Equal(t, "3.1.0", doc.OpenAPI)

	documented := 0
	for path, methods := range doc.Paths {
		for method := range methods {
			documented++
			req := httptest.NewRequest(strings.ToUpper(method), wildcard.ReplaceAllString(path, "x"), nil)
			_, pattern := rt.mux.Handler(req)
			assert.Equal(t, strings.ToUpper(method)+" "+path, pattern, "documented %s %s is not what the mux routes", method, path)
		}
	}
	ops := rt.Operations()
	assert.Equal(t, len(ops), documented, "every registered operation is documented once")
	for _, op := range ops {
		assert.Contains(t, doc.Paths[op.Path], strings.ToLower(op.Method), "%s is not documented", op.Pattern())
	}
	echo := doc.Paths["/api/v1/echo"]["post"]
	assert.NotNil(t, echo["requestBody"], "the request body is documented")
	assert.Contains(t, w.Body.String(), `"#/components/schemas/echoBody"`)
	assert.Contains(t, w.Body.String(), `{"in":"path","name":"id","required":true`)
}

// TestOpenAPIRawBodiesAndQuery: an image upload and download are
// documented as binary in their types, query parameters with their
// descriptions, and the operation's description next to its summary.
func TestOpenAPIRawBodiesAndQuery(t *testing.T) {
	_, rt := testRouter(t)
	rt.HandleFunc(Operation{Method: http.MethodPut, Path: "/api/v1/picture", ID: "putPicture", Summary: "Put a picture.",
		Description: "At most 1 KiB.", Auth: AuthNone, RequestMediaTypes: []string{"image/png"}, ResponseMediaTypes: []string{"image/png"},
		Query: []QueryParam{{Name: "limit", Type: "integer", Description: "1 to 10"}, {Name: "from", Format: "date-time"}}},
		func(http.ResponseWriter, *http.Request) {})
	raw, err := json.Marshal(rt.OpenAPI())
	require.NoError(t, err)
	var doc struct {
		Paths map[string]map[string]struct {
			Description string `json:"description"`
			Parameters  []struct {
				Name, In, Description string
				Schema                map[string]any
			} `json:"parameters"`
			RequestBody struct {
				Content map[string]struct{ Schema map[string]any } `json:"content"`
			} `json:"requestBody"`
			Responses map[string]struct {
				Content map[string]struct{ Schema map[string]any } `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	op := doc.Paths["/api/v1/picture"]["put"]
	assert.Equal(t, "At most 1 KiB.", op.Description)
	binary := map[string]any{"type": "string", "format": "binary"}
	assert.Equal(t, binary, op.RequestBody.Content["image/png"].Schema)
	assert.Equal(t, binary, op.Responses["200"].Content["image/png"].Schema)
	require.Len(t, op.Parameters, 2)
	assert.Equal(t, "query", op.Parameters[0].In)
	assert.Equal(t, "1 to 10", op.Parameters[0].Description)
	assert.Equal(t, map[string]any{"type": "integer"}, op.Parameters[0].Schema)
	assert.Equal(t, map[string]any{"type": "string", "format": "date-time"}, op.Parameters[1].Schema)

	assert.Panics(t, func() {
		rt.HandleFunc(Operation{Method: http.MethodPut, Path: "/api/v1/both", ID: "both", Summary: "Both.", Auth: AuthNone,
			Request: echoBody{}, RequestMediaTypes: []string{"image/png"}}, func(http.ResponseWriter, *http.Request) {})
	}, "a body is JSON or raw, not both")
}

func TestRouterRefusesIncompleteOperations(t *testing.T) {
	_, rt := testRouter(t)
	for name, op := range map[string]Operation{
		"no summary":         {Method: "GET", Path: "/api/v1/a", ID: "a", Auth: AuthNone},
		"no auth":            {Method: "GET", Path: "/api/v1/a", ID: "a", Summary: "A."},
		"no permission":      {Method: "GET", Path: "/api/v1/a", ID: "a", Summary: "A.", Auth: AuthSession},
		"unknown permission": {Method: "GET", Path: "/api/v1/a", ID: "a", Summary: "A.", Auth: AuthSession, Permission: "nope"},
		"bad id":             {Method: "GET", Path: "/api/v1/a", ID: "Not-an-id", Summary: "A.", Auth: AuthNone},
		"duplicate id":       {Method: "GET", Path: "/api/v1/b", ID: "echo", Summary: "B.", Auth: AuthNone},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Panics(t, func() { rt.HandleFunc(op, func(http.ResponseWriter, *http.Request) {}) })
		})
	}
}

func post(h http.Handler, origin, contentType, body string, mutate ...func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "https://doctor.example.org/api/v1/echo", strings.NewReader(body))
	r.Host = "doctor.example.org"
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for _, m := range mutate {
		m(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

type apiError struct {
	Error struct{ Code, Message, Field string } `json:"error"`
}

func decodeErr(t *testing.T, w *httptest.ResponseRecorder) apiError {
	t.Helper()
	var e apiError
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e), w.Body.String())
	return e
}

func TestDecodeJSON(t *testing.T) {
	h, _ := testRouter(t)
	const origin = "https://doctor.example.org"
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		code, field, message    string
	}{
		{"ok", "application/json", `{"name":"a","count":2}`, 200, "", "", ""},
		{"charset ok", "application/json; charset=utf-8", `{"name":"a"}`, 200, "", "", ""},
		{"missing field", "application/json", `{"count":2}`, 400, CodeInvalidRequest, "name", "is required"},
		{"wrong type", "application/json", `{"name":5}`, 400, CodeInvalidRequest, "name", "must be a string"},
		{"wrong nested type", "application/json", `{"name":"a","tags":[1]}`, 400, CodeInvalidRequest, "tags", "must be a string"},
		{"unknown field", "application/json", `{"name":"a","admin":true}`, 400, CodeInvalidRequest, "admin", "is not a known field"},
		{"syntax", "application/json", `{"name":`, 400, CodeInvalidRequest, "", "truncated"},
		{"garbage", "application/json", `{"name" 1}`, 400, CodeInvalidRequest, "", "malformed JSON"},
		{"two objects", "application/json", `{"name":"a"}{"name":"b"}`, 400, CodeInvalidRequest, "", "exactly one"},
		{"array", "application/json", `[1]`, 400, CodeInvalidRequest, "", "object"},
		{"empty", "application/json", ``, 400, CodeInvalidRequest, "", "empty"},
		{"too large", "application/json", `{"name":"` + strings.Repeat("a", 300) + `"}`, 413, CodeBodyTooLarge, "", "256 bytes"},
		{"form", "application/x-www-form-urlencoded", `name=a`, 415, CodeUnsupportedMediaType, "", "application/json"},
		{"no type", "", `{"name":"a"}`, 415, CodeUnsupportedMediaType, "", "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := post(h, origin, tc.contentType, tc.body)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			if tc.code == "" {
				return
			}
			e := decodeErr(t, w)
			assert.Equal(t, tc.code, e.Error.Code)
			assert.Equal(t, tc.field, e.Error.Field)
			assert.Contains(t, e.Error.Message, tc.message)
		})
	}
}

func TestOriginCheckOnStateChangingRequests(t *testing.T) {
	h, _ := testRouter(t)
	const body = `{"name":"a"}`
	for _, tc := range []struct {
		name, origin string
		mutate       func(*http.Request)
		status       int
	}{
		{"same origin", "https://doctor.example.org", nil, 200},
		{"no origin", "", nil, 403},
		{"foreign origin", "https://evil.example", nil, 403},
		{"other app", "https://patient.example.org", nil, 403},
		{"plain http origin", "http://doctor.example.org", nil, 403},
		{"api key without cookie", "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer hcw_abc") }, 200},
		{"api key with a cookie is not exempt", "", func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer hcw_abc")
			r.AddCookie(&http.Cookie{Name: SessionCookieName, Value: "x"})
		}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m []func(*http.Request)
			if tc.mutate != nil {
				m = append(m, tc.mutate)
			}
			w := post(h, tc.origin, "application/json", body, m...)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			if tc.status == 403 {
				assert.Equal(t, CodeOriginRefused, decodeErr(t, w).Error.Code)
			}
		})
	}
	// Safe methods are not checked.
	r := httptest.NewRequest(http.MethodGet, "/api/v1/things/7", nil)
	r.AddCookie(&http.Cookie{Name: SessionCookieName, Value: "admin"})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, 200, w.Code)
}

// fakeAuth knows session tokens named after roles ("partial-admin" has
// passed the password step only) and the API key "key-admin".
type fakeAuth struct{}

func (fakeAuth) Session(_ context.Context, token string) (authz.Principal, bool, error) {
	role, partial := strings.CutPrefix(token, "partial-")
	if !slices.Contains(authz.AllRoles, authz.Role(role)) {
		return authz.Principal{}, false, errors.New("no such session")
	}
	return authz.Principal{Kind: "user", ID: "u-" + role, Role: authz.Role(role)}, partial, nil
}

func (fakeAuth) APIKey(_ context.Context, key string) (authz.Principal, error) {
	if key != "key-admin" {
		return authz.Principal{}, errors.New("no such key")
	}
	return authz.Principal{Kind: "api_key", ID: "k1", Role: authz.RoleAdmin}, nil
}

func TestAuthorize(t *testing.T) {
	h, _ := testRouter(t)
	for _, tc := range []struct {
		name, cookie, bearer string
		status               int
		code                 string
	}{
		{"no credentials", "", "", 401, CodeUnauthenticated},
		{"unknown session", "nobody", "", 401, CodeUnauthenticated},
		{"admin session", "admin", "", 200, ""},
		{"partial admin session", "partial-admin", "", 403, CodeSecondFactorRequired},
		{"doctor session", "doctor", "", 403, CodeForbidden},
		{"patient session", "patient", "", 403, CodeForbidden},
		{"admin api key", "", "key-admin", 200, ""},
		{"wrong api key", "", "key-other", 401, CodeUnauthenticated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/things/7", nil)
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: SessionCookieName, Value: tc.cookie})
			}
			if tc.bearer != "" {
				r.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			if tc.code != "" {
				assert.Equal(t, tc.code, decodeErr(t, w).Error.Code)
			}
		})
	}
}

func TestMetricsCountByOperation(t *testing.T) {
	m := NewMetrics()
	h, _ := NewHandler(Params{
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Edge:    clientinfo.NewEdge(clientinfo.EdgeParams{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}),
		Metrics: m,
	})
	for range 3 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/api/v1/version", nil))
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/api/v1/nope", nil))
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	out := w.Body.String()
	assert.Contains(t, out, `hcw_http_requests_total{method="GET",route="getVersion",status="200"} 3`)
	assert.Contains(t, out, `hcw_http_requests_total{method="GET",route="other",status="404"} 1`)
	assert.Contains(t, out, `hcw_http_request_duration_seconds_bucket{route="getVersion"`)
	assert.Contains(t, out, "go_goroutines")
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"name":"a"}`, `{"name":1}`, `[`, `{"name":"a","tags":["x"]}`, "\x00", `{"count":1e999}`} {
		f.Add(s)
	}
	h, _ := NewHandler(Params{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Edge:     clientinfo.NewEdge(clientinfo.EdgeParams{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}),
		AppHosts: testAppHosts,
		Mount: []func(*Router){func(rt *Router) {
			rt.HandleFunc(Operation{Method: http.MethodPost, Path: "/api/v1/echo", ID: "echo", Summary: "Echo.", Auth: AuthNone, Request: echoBody{}},
				func(w http.ResponseWriter, r *http.Request) {
					var b echoBody
					if err := DecodeJSON(w, r, 256, &b); err != nil {
						var re *RequestError = err.(*RequestError)
						if re.Status < 400 || re.Status > 499 || re.Message == "" {
							panic("refusal without a 4xx status and a message")
						}
						WriteRequestError(w, re)
						return
					}
					writeJSON(w, http.StatusOK, b)
				})
		}},
	})
	f.Fuzz(func(t *testing.T, body string) {
		w := post(h, "https://doctor.example.org", "application/json", body)
		if w.Code != 200 && (w.Code < 400 || w.Code > 499) {
			t.Fatalf("status %d for %q", w.Code, body)
		}
	})
}

func TestQueryLimit(t *testing.T) {
	for q, want := range map[string]int{"": 0, "?limit=1": 1, "?limit=100": 100} {
		n, err := QueryLimit(httptest.NewRequest(http.MethodGet, "/x"+q, nil), 100)
		require.Nil(t, err, q)
		assert.Equal(t, want, n, q)
	}
	for _, q := range []string{"?limit=0", "?limit=101", "?limit=-1", "?limit=ten"} {
		_, err := QueryLimit(httptest.NewRequest(http.MethodGet, "/x"+q, nil), 100)
		require.NotNil(t, err, q)
		assert.Equal(t, "limit", err.Field)
		assert.Equal(t, http.StatusBadRequest, err.Status)
	}
}

// TestInternalRoutes: service-to-service routes live under /internal/ only,
// are routed, and stay out of the OpenAPI document.
func TestInternalRoutes(t *testing.T) {
	h, rt := testRouter(t)
	rt.HandleInternal("putThing", http.MethodPut, "/internal/v1/things/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
	}))
	for name, f := range map[string]func(){
		"outside /internal/": func() { rt.HandleInternal("a", http.MethodGet, "/api/v1/a", http.NotFoundHandler()) },
		"bad id":             func() { rt.HandleInternal("Not-an-id", http.MethodGet, "/internal/a", http.NotFoundHandler()) },
		"duplicate": func() {
			rt.HandleInternal("putThing2", http.MethodPut, "/internal/v1/things/{id}", http.NotFoundHandler())
		},
	} {
		assert.Panics(t, f, name)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPut, "/internal/v1/things/t1", nil))
	assert.Equal(t, http.StatusOK, w.Code, "no Origin needed outside /api/")
	assert.JSONEq(t, `{"id":"t1"}`, w.Body.String())
	assert.Equal(t, []string{"PUT /internal/v1/things/{id}"}, rt.InternalRoutes())
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil))
	assert.NotContains(t, w.Body.String(), "/internal/")
}

type embeddedInner struct {
	ID    string `json:"id"`
	Notes string `json:"notes,omitempty"`
}

type embeddingBody struct {
	embeddedInner
	Extra int `json:"extra"`
}

// TestOpenAPIEmbeddedFieldsPromoted: an embedded struct's fields appear in
// the schema as encoding/json writes them, at the outer level.
func TestOpenAPIEmbeddedFieldsPromoted(t *testing.T) {
	g := &schemaGen{components: map[string]any{}}
	s := g.object(reflect.TypeFor[embeddingBody]())
	props := s["properties"].(map[string]any)
	assert.ElementsMatch(t, []string{"id", "notes", "extra"}, slices.Collect(maps.Keys(props)))
	assert.ElementsMatch(t, []string{"id", "extra"}, s["required"])
	raw, err := json.Marshal(embeddingBody{embeddedInner: embeddedInner{ID: "x"}, Extra: 1})
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"x","extra":1}`, string(raw))
}
