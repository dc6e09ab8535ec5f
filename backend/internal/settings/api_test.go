package settings_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/database"
	"github.com/hcw-home/hcw/backend/internal/database/dbtest"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/settings"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const adminID = "0c000000-0000-4000-8000-000000000003"

var hosts = []string{"doctor.example.org", "patient.example.org", "admin.example.org"}

// clock is the settings cache's clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	t     *testing.T
	pool  *pgxpool.Pool
	svc   *settings.Service
	clock *clock
	h     http.Handler
}

// adminAuth lets every session in as an administrator and every API key
// in as a doctor: the route matrix of package staffapi checks the rest.
type adminAuth struct{}

func (adminAuth) Session(context.Context, string) (authz.Principal, bool, error) {
	return authz.Principal{Kind: "user", ID: adminID, UserID: adminID, Role: authz.RoleAdmin}, false, nil
}

func (adminAuth) APIKey(context.Context, string) (authz.Principal, error) {
	return authz.Principal{Kind: "api_key", ID: "k1", UserID: "u1", Role: authz.RoleDoctor}, nil
}

func newEnv(t *testing.T) *env {
	t.Helper()
	pool := dbtest.NewPool(t)
	logger := slog.New(slog.DiscardHandler)
	require.NoError(t, database.Migrate(t.Context(), pool, database.Migrations(), logger))
	e := &env{t: t, pool: pool, clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}}
	e.svc = settings.New(settings.Params{Pool: pool, Audit: audit.NewStore(pool), Logger: logger,
		InviteTTL: envTTL, InviteEarly: envEarly, Now: e.clock.now})
	api := settings.NewAPI(settings.APIParams{Settings: e.svc, Logger: logger})
	e.h, _ = httpapi.NewHandler(httpapi.Params{Logger: logger, AppHosts: hosts, Auth: adminAuth{},
		Mount: []func(*httpapi.Router){api.Mount}, Edge: clientinfo.NewEdge(clientinfo.EdgeParams{Logger: logger})})
	return e
}

type request struct {
	method, host, path string
	body               []byte
	contentType        string
	header             map[string]string
	// anonymous sends no session cookie; bearer sends an API key instead.
	anonymous, bearer bool
}

func (e *env) do(r request) *httptest.ResponseRecorder {
	e.t.Helper()
	if r.host == "" {
		r.host = "admin.example.org"
	}
	req := httptest.NewRequest(r.method, "https://"+r.host+r.path, bytes.NewReader(r.body))
	req.Header.Set("Origin", "https://"+r.host)
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	switch {
	case r.bearer:
		req.Header.Set("Authorization", "Bearer hcw_x")
	case !r.anonymous:
		req.AddCookie(&http.Cookie{Name: httpapi.SessionCookieName, Value: "x"})
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return w
}

func (e *env) put(doc any) *httptest.ResponseRecorder {
	e.t.Helper()
	b, err := json.Marshal(doc)
	require.NoError(e.t, err)
	return e.do(request{method: "PUT", path: "/api/v1/admin/settings", body: b, contentType: "application/json"})
}

type settingsBody struct {
	Settings settings.Settings `json:"settings"`
	Logo     *struct {
		URL         string `json:"url"`
		ContentType string `json:"content_type"`
		Size        int    `json:"size"`
	} `json:"logo"`
	InviteTTLDefaultMinutes   int `json:"invite_ttl_default_minutes"`
	InviteEarlyDefaultMinutes int `json:"invite_early_default_minutes"`
}

func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &v), w.Body.String())
	return v
}

type apiError struct {
	Error struct{ Code, Message, Field string }
}

func (e *env) auditRows(action string) []string {
	e.t.Helper()
	rows, err := e.pool.Query(e.t.Context(), `SELECT object_id FROM audit_events WHERE action = $1 ORDER BY seq`, action)
	require.NoError(e.t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		require.NoError(e.t, rows.Scan(&id))
		out = append(out, id)
	}
	return out
}

func TestSettingsAPI(t *testing.T) {
	e := newEnv(t)

	w := e.do(request{method: "GET", path: "/api/v1/admin/settings"})
	require.Equal(t, 200, w.Code, w.Body.String())
	got := decode[settingsBody](t, w)
	assert.Equal(t, settings.Defaults(), got.Settings, "an unconfigured instance answers the defaults")
	assert.Nil(t, got.Logo)
	assert.Equal(t, 24*60, got.InviteTTLDefaultMinutes)
	assert.Equal(t, 10, got.InviteEarlyDefaultMinutes)
	assert.Contains(t, w.Body.String(), `"invite_ttl_minutes":null`)

	doc := settings.Defaults()
	doc.ProductName, doc.ClinicName = "Télé-consultation", "Clinique du Lac"
	doc.PrimaryColor, doc.AccentColor = "#112233", "#AABBCC"
	doc.ClosedConsultationRetentionDays = 90
	doc.Languages = []string{"fr", "de"}
	doc.InviteTTLMinutes, doc.InviteEarlyMinutes = n(120), n(15)
	w = e.put(doc)
	require.Equal(t, 200, w.Code, w.Body.String())
	got = decode[settingsBody](t, w)
	doc.AccentColor = "#aabbcc"
	assert.Equal(t, doc, got.Settings)
	// Stored: a fresh service (another replica) reads the same.
	other := settings.New(settings.Params{Pool: e.pool, Audit: audit.NewStore(e.pool), InviteTTL: envTTL, InviteEarly: envEarly})
	snap, err := other.Load(t.Context())
	require.NoError(t, err)
	assert.Equal(t, doc, snap.Settings)
	ttl, early, err := other.InviteTiming(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 2*time.Hour, ttl)
	assert.Equal(t, 15*time.Minute, early)
	days, err := other.RetentionDays(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 90, days)

	assert.Equal(t, []string{"product_name", "clinic_name", "primary_color:0b5cad:112233", "accent_color:f2a900:aabbcc",
		"closed_consultation_retention_days:30:90", "languages:en.fr.de.es.it.ar:fr.de",
		"invite_ttl_minutes:default:120", "invite_early_minutes:default:15"}, e.auditRows(settings.ActionChanged))
	var actor string
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT actor_id FROM audit_events WHERE action = $1 LIMIT 1`, settings.ActionChanged).Scan(&actor))
	assert.Equal(t, adminID, actor)

	// The same document again changes nothing and records nothing.
	require.Equal(t, 200, e.put(doc).Code)
	assert.Len(t, e.auditRows(settings.ActionChanged), 8)

	// Back to the environment's invite timing: null or absent.
	w = e.do(request{method: "PUT", path: "/api/v1/admin/settings", contentType: "application/json", body: []byte(
		`{"product_name":"P","clinic_name":"","primary_color":"#000000","accent_color":"#ffffff",` +
			`"closed_consultation_retention_days":1,"languages":["en"],"invite_ttl_minutes":null}`)})
	require.Equal(t, 200, w.Code, w.Body.String())
	ttl, early, err = e.svc.InviteTiming(t.Context())
	require.NoError(t, err)
	assert.Equal(t, envTTL, ttl)
	assert.Equal(t, envEarly, early)

	for _, tc := range []struct {
		name, body, field string
		status            int
	}{
		{"missing fields", `{}`, "product_name", 400},
		{"bad colour", `{"product_name":"P","primary_color":"red","accent_color":"#ffffff","closed_consultation_retention_days":1,"languages":["en"]}`, "primary_color", 400},
		{"retention too long", `{"product_name":"P","primary_color":"#000000","accent_color":"#ffffff","closed_consultation_retention_days":3651,"languages":["en"]}`, "closed_consultation_retention_days", 400},
		{"retention as text", `{"closed_consultation_retention_days":"30"}`, "closed_consultation_retention_days", 400},
		{"no languages", `{"product_name":"P","primary_color":"#000000","accent_color":"#ffffff","closed_consultation_retention_days":1,"languages":[]}`, "languages", 400},
		{"unknown field", `{"logo":"x"}`, "logo", 400},
		{"lead too long", `{"product_name":"P","primary_color":"#000000","accent_color":"#ffffff","closed_consultation_retention_days":1,"languages":["en"],"invite_ttl_minutes":30,"invite_early_minutes":30}`, "invite_early_minutes", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do(request{method: "PUT", path: "/api/v1/admin/settings", contentType: "application/json", body: []byte(tc.body)})
			require.Equal(t, tc.status, w.Code, w.Body.String())
			ae := decode[apiError](t, w)
			assert.Equal(t, httpapi.CodeInvalidRequest, ae.Error.Code)
			assert.Equal(t, tc.field, ae.Error.Field)
			assert.NotEmpty(t, ae.Error.Message)
		})
	}
	w = e.do(request{method: "PUT", path: "/api/v1/admin/settings", contentType: "text/plain", body: []byte(`{}`)})
	assert.Equal(t, 415, w.Code)
	snap, err = e.svc.Load(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "P", snap.Settings.ProductName, "refused documents change nothing")

	// An API key of another role, and anonymous callers, are refused.
	assert.Equal(t, 403, e.do(request{method: "GET", path: "/api/v1/admin/settings", bearer: true}).Code)
	assert.Equal(t, 401, e.do(request{method: "GET", path: "/api/v1/admin/settings", anonymous: true}).Code)
}

type branding struct {
	ProductName  string   `json:"product_name"`
	ClinicName   string   `json:"clinic_name"`
	PrimaryColor string   `json:"primary_color"`
	AccentColor  string   `json:"accent_color"`
	LogoURL      *string  `json:"logo_url"`
	Languages    []string `json:"languages"`
}

func TestBrandingIsPublicAndCached(t *testing.T) {
	e := newEnv(t)
	for _, host := range hosts {
		w := e.do(request{method: "GET", host: host, path: "/api/v1/branding", anonymous: true})
		require.Equal(t, 200, w.Code, w.Body.String())
		b := decode[branding](t, w)
		assert.Equal(t, branding{ProductName: "HCW@Home", PrimaryColor: "#0b5cad", AccentColor: "#f2a900",
			Languages: []string{"en", "fr", "de", "es", "it", "ar"}}, b)
		assert.Contains(t, w.Body.String(), `"logo_url":null`)
	}

	// Another replica's change, written straight to the table: this
	// replica answers from its copy until the copy is CacheTTL old, so
	// the route does not read the database per request.
	_, err := e.pool.Exec(t.Context(), `INSERT INTO settings (key, value) VALUES ('product_name', '"Elsewhere"')`)
	require.NoError(t, err)
	brand := func() branding {
		w := e.do(request{method: "GET", host: "patient.example.org", path: "/api/v1/branding", anonymous: true})
		require.Equal(t, 200, w.Code, w.Body.String())
		return decode[branding](t, w)
	}
	assert.Equal(t, "HCW@Home", brand().ProductName)
	e.clock.add(settings.DefaultCacheTTL - time.Millisecond)
	assert.Equal(t, "HCW@Home", brand().ProductName)
	e.clock.add(time.Millisecond)
	assert.Equal(t, "Elsewhere", brand().ProductName)

	// This replica's own change shows at once.
	doc := settings.Defaults()
	doc.ProductName, doc.Languages = "Here", []string{"it"}
	require.Equal(t, 200, e.put(doc).Code)
	assert.Equal(t, branding{ProductName: "Here", PrimaryColor: "#0b5cad", AccentColor: "#f2a900", Languages: []string{"it"}}, brand())

	// With the database gone, the last copy is still answered.
	e.pool.Close()
	e.clock.add(time.Hour)
	assert.Equal(t, "Here", brand().ProductName)
}

func TestStoredValueOutOfBoundsFallsBack(t *testing.T) {
	e := newEnv(t)
	_, err := e.pool.Exec(t.Context(), `INSERT INTO settings (key, value) VALUES
		('closed_consultation_retention_days', '0'), ('primary_color', '"javascript:"'), ('languages', '{"no":1}'),
		('clinic_name', '"Still fine"'), ('a_future_setting', 'true')`)
	require.NoError(t, err)
	snap, err := e.svc.Load(t.Context())
	require.NoError(t, err)
	want := settings.Defaults()
	want.ClinicName = "Still fine"
	assert.Equal(t, want, snap.Settings)
}

func (e *env) upload(b []byte, contentType string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(request{method: "PUT", path: "/api/v1/admin/settings/logo", body: b, contentType: contentType})
}

func TestLogo(t *testing.T) {
	e := newEnv(t)
	logoAt := func(path string, header map[string]string) *httptest.ResponseRecorder {
		return e.do(request{method: "GET", host: "patient.example.org", path: path, anonymous: true, header: header})
	}
	assert.Equal(t, 404, logoAt(settings.LogoPath, nil).Code)
	assert.Equal(t, 404, e.do(request{method: "DELETE", path: "/api/v1/admin/settings/logo"}).Code)

	img := pngImage(t, 200, 50)
	// The declared type is not believed: the bytes are a PNG.
	w := e.upload(img, "image/jpeg")
	require.Equal(t, 200, w.Code, w.Body.String())
	got := decode[settingsBody](t, w)
	require.NotNil(t, got.Logo)
	assert.Equal(t, "image/png", got.Logo.ContentType)
	assert.Equal(t, len(img), got.Logo.Size)
	require.True(t, strings.HasPrefix(got.Logo.URL, settings.LogoPath+"?v="), got.Logo.URL)

	b := decode[branding](t, e.do(request{method: "GET", host: "doctor.example.org", path: "/api/v1/branding", anonymous: true}))
	require.NotNil(t, b.LogoURL)
	assert.Equal(t, got.Logo.URL, *b.LogoURL)

	w = logoAt(*b.LogoURL, nil)
	require.Equal(t, 200, w.Code)
	assert.Equal(t, img, w.Body.Bytes())
	assert.Equal(t, "image/png", w.Header().Get("Content-Type"))
	assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
	assert.Equal(t, "public, max-age=31536000, immutable", w.Header().Get("Cache-Control"))
	etag := w.Header().Get("ETag")
	assert.Regexp(t, `^"[0-9a-f]{64}"$`, etag, "a strong ETag")
	assert.Equal(t, fmt.Sprint(len(img)), w.Header().Get("Content-Length"))

	// Unversioned, caches revalidate; a matching tag is 304 without a body.
	w = logoAt(settings.LogoPath, nil)
	assert.Equal(t, "no-cache", w.Header().Get("Cache-Control"))
	w = logoAt(settings.LogoPath, map[string]string{"If-None-Match": `"other", ` + etag})
	assert.Equal(t, 304, w.Code)
	assert.Empty(t, w.Body.Bytes())
	assert.Equal(t, etag, w.Header().Get("ETag"))

	// A new logo: new version, new tag, the old URL revalidates.
	jpg := jpegImage(t, 32, 32)
	w = e.upload(jpg, "application/octet-stream")
	require.Equal(t, 200, w.Code, w.Body.String())
	newer := decode[settingsBody](t, w)
	assert.NotEqual(t, got.Logo.URL, newer.Logo.URL)
	w = logoAt(*b.LogoURL, map[string]string{"If-None-Match": etag})
	require.Equal(t, 200, w.Code)
	assert.Equal(t, "image/jpeg", w.Header().Get("Content-Type"))
	assert.Equal(t, "no-cache", w.Header().Get("Cache-Control"))
	assert.Equal(t, jpg, w.Body.Bytes())

	for _, tc := range []struct {
		name, contentType string
		body              []byte
		status            int
		code              string
	}{
		{"svg", "image/svg+xml", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), 400, httpapi.CodeInvalidRequest},
		{"html as png", "image/png", []byte(`<html><script>alert(1)</script></html>`), 400, httpapi.CodeInvalidRequest},
		{"empty", "image/png", nil, 400, httpapi.CodeInvalidRequest},
		{"too large", "image/png", append(pngImage(t, 1, 1), make([]byte, settings.MaxLogoBytes)...), 413, httpapi.CodeBodyTooLarge},
		{"multipart", "multipart/form-data; boundary=x", []byte("--x\r\n"), 415, httpapi.CodeUnsupportedMediaType},
		{"json", "application/json", []byte(`{"logo":"iVBOR"}`), 415, httpapi.CodeUnsupportedMediaType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := e.upload(tc.body, tc.contentType)
			require.Equal(t, tc.status, w.Code, w.Body.String())
			assert.Equal(t, tc.code, decode[apiError](t, w).Error.Code)
		})
	}
	assert.Equal(t, jpg, logoAt(settings.LogoPath, nil).Body.Bytes(), "refused uploads change nothing")

	require.Equal(t, 204, e.do(request{method: "DELETE", path: "/api/v1/admin/settings/logo"}).Code)
	assert.Equal(t, 404, logoAt(*b.LogoURL, nil).Code)
	assert.Contains(t, e.do(request{method: "GET", path: "/api/v1/branding", anonymous: true}).Body.String(), `"logo_url":null`)

	changed := e.auditRows(settings.ActionLogoChanged)
	require.Len(t, changed, 2)
	assert.Regexp(t, `^logo:[0-9a-f]{16}$`, changed[0])
	assert.Equal(t, []string{changed[1]}, e.auditRows(settings.ActionLogoRemoved))

	// Uploads are state changes: another site cannot make them.
	r := httptest.NewRequest("PUT", "https://admin.example.org/api/v1/admin/settings/logo", bytes.NewReader(img))
	r.Header.Set("Origin", "https://evil.example")
	r.AddCookie(&http.Cookie{Name: httpapi.SessionCookieName, Value: "x"})
	w = httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	assert.Equal(t, 403, w.Code)
}
