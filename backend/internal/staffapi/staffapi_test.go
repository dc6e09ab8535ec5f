package staffapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/account"
	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/database"
	"github.com/hcw-home/hcw/backend/internal/database/dbtest"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/mail"
	"github.com/hcw-home/hcw/backend/internal/sealed"
	"github.com/hcw-home/hcw/backend/internal/settings"
	"github.com/hcw-home/hcw/backend/internal/signin"
	"github.com/hcw-home/hcw/backend/internal/signin/totp"
	"github.com/hcw-home/hcw/backend/internal/staffapi"
	"github.com/hcw-home/hcw/backend/internal/statistics"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const host = "doctor.example.org"

var appHosts = []string{"doctor.example.org", "patient.example.org", "admin.example.org"}

// outbox records mails instead of sending them.
type outbox struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (o *outbox) Send(_ context.Context, m mail.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.msgs = append(o.msgs, m)
	return nil
}

func (o *outbox) last(t *testing.T) mail.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	require.NotEmpty(t, o.msgs, "no mail sent")
	return o.msgs[len(o.msgs)-1]
}

type env struct {
	t        *testing.T
	h        http.Handler
	rt       *httpapi.Router
	accounts *account.Store
	audit    *audit.Store
	mail     *outbox
	revoked  chan string
}

func newEnv(t *testing.T, opts ...func(*staffapi.Params)) *env {
	t.Helper()
	pool := dbtest.NewPool(t)
	require.NoError(t, database.Migrate(t.Context(), pool, database.Migrations(), slog.New(slog.NewTextHandler(io.Discard, nil))))
	key, err := sealed.ParseKey("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
	require.NoError(t, err)
	keyring, err := sealed.NewKeyring(key)
	require.NoError(t, err)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := &env{t: t, mail: &outbox{}, revoked: make(chan string, 16)}
	e.audit = audit.NewStore(pool)
	// Cheap argon2 parameters keep the race detector fast; the account
	// package tests the real ones.
	e.accounts = account.NewStore(account.Params{Pool: pool, Keys: keyring, Audit: e.audit,
		Hash: account.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	signIn, err := signin.New(signin.Params{Pool: pool, Accounts: staffapi.Accounts(e.accounts), Audit: e.audit,
		Keyring: keyring, OnRevoke: func(id string) { e.revoked <- id },
		PasskeyHosts: []string{"doctor.example.org", "admin.example.org"}})
	require.NoError(t, err)
	params := staffapi.Params{Accounts: e.accounts, SignIn: signIn, Audit: e.audit, Mail: e.mail,
		Logger: logger, DoctorHost: "doctor.example.org", AdminHost: "admin.example.org"}
	for _, o := range opts {
		o(&params)
	}
	api := staffapi.New(params)
	// The statistics and settings routes are admin routes too: the matrix
	// covers them.
	stats := statistics.NewAPI(statistics.Params{Reports: statistics.NewStore(pool), Audit: e.audit, Logger: logger})
	instance := settings.NewAPI(settings.APIParams{Logger: logger, Settings: settings.New(settings.Params{
		Pool: pool, Audit: e.audit, Logger: logger, InviteTTL: 24 * time.Hour, InviteEarly: 10 * time.Minute})})
	e.h, e.rt = httpapi.NewHandler(httpapi.Params{
		Logger: logger, AppHosts: appHosts, Auth: api.Authenticator(),
		Mount: []func(*httpapi.Router){api.Mount, stats.Mount, instance.Mount},
		Edge:  clientinfo.NewEdge(clientinfo.EdgeParams{Logger: logger}),
	})
	return e
}

// caller is a browser (cookie jar of one session cookie) or an API client.
type caller struct {
	cookie string
	bearer string
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), string(r.body))
}

func (r response) code(t *testing.T) string {
	var e struct{ Error struct{ Code string } }
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (e *env) do(c *caller, method, path string, body any) response {
	e.t.Helper()
	return e.doAt(host, c, method, path, body)
}

// doAt is do on another app host.
func (e *env) doAt(host string, c *caller, method, path string, body any) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte: // a raw body, sent as is
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(body)
		require.NoError(e.t, err)
		rd = bytes.NewReader(raw)
	}
	r := httptest.NewRequest(method, "https://"+host+path, rd)
	r.Host = host
	r.Header.Set("Origin", "https://"+host)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if c != nil && c.cookie != "" {
		r.AddCookie(&http.Cookie{Name: signin.CookieName, Value: c.cookie})
	}
	if c != nil && c.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if c != nil {
		for _, ck := range w.Result().Cookies() {
			if ck.Name == signin.CookieName {
				c.cookie = ck.Value
			}
		}
	}
	return response{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
}

// user creates an active user with a password.
func (e *env) user(role account.Role, email string) account.User {
	e.t.Helper()
	u, err := e.accounts.Create(context.Background(), account.SystemActor(), account.NewUser{
		Email: email, FirstName: "Test", LastName: string(role), Role: role, Status: account.StatusActive})
	require.NoError(e.t, err)
	require.NoError(e.t, e.accounts.SetPassword(context.Background(), account.SystemActor(), u.ID, "a long test passphrase"))
	return u
}

type signedIn struct {
	caller
	user          account.User
	secret        string
	recoveryCodes []string
}

// signIn signs u in through the API, enrolling TOTP when the role needs it.
func (e *env) signIn(u account.User) *signedIn {
	e.t.Helper()
	s := &signedIn{user: u}
	res := e.do(&s.caller, "POST", "/api/v1/auth/sign-in", map[string]string{"email": u.Email, "password": "a long test passphrase"})
	require.Equal(e.t, 200, res.status, string(res.body))
	var sess struct{ Level, Next string }
	res.json(e.t, &sess)
	if sess.Level == "full" {
		return s
	}
	require.Equal(e.t, "enrol", sess.Next)
	res = e.do(&s.caller, "POST", "/api/v1/auth/totp/enrolment", nil)
	require.Equal(e.t, 201, res.status, string(res.body))
	var enr struct {
		Secret string `json:"secret"`
		QRPNG  string `json:"qr_png"`
	}
	res.json(e.t, &enr)
	s.secret = enr.Secret
	code, err := totp.Code(enr.Secret, totp.Step(time.Now()))
	require.NoError(e.t, err)
	res = e.do(&s.caller, "POST", "/api/v1/auth/totp/confirmation", map[string]string{"code": code})
	require.Equal(e.t, 200, res.status, string(res.body))
	var done struct {
		Session       struct{ Level string }
		RecoveryCodes []string `json:"recovery_codes"`
	}
	res.json(e.t, &done)
	require.Equal(e.t, "full", done.Session.Level)
	require.Len(e.t, done.RecoveryCodes, 10)
	s.recoveryCodes = done.RecoveryCodes
	return s
}

// again opens a new full session for an enrolled user with a recovery
// code (a TOTP code could be a replay within the same 30 s step).
func (e *env) again(s *signedIn) *caller {
	e.t.Helper()
	c := &caller{}
	res := e.do(c, "POST", "/api/v1/auth/sign-in", map[string]string{"email": s.user.Email, "password": "a long test passphrase"})
	require.Equal(e.t, 200, res.status, string(res.body))
	if len(s.recoveryCodes) > 0 {
		code := s.recoveryCodes[0]
		s.recoveryCodes = s.recoveryCodes[1:]
		res = e.do(c, "POST", "/api/v1/auth/second-factor", map[string]string{"code": code})
		require.Equal(e.t, 200, res.status, string(res.body))
	}
	return c
}

var wildcard = regexp.MustCompile(`\{[^}]+\}`)

// TestRouteMatrix walks every operation with every kind of caller and
// asserts it is let through or refused. The expectations are written out
// here, apart from the policy, so a change to who may do what has to
// change both.
func TestRouteMatrix(t *testing.T) {
	e := newEnv(t)
	admin := e.signIn(e.user(account.RoleAdmin, "admin@example.org"))
	doctor := e.signIn(e.user(account.RoleDoctor, "doctor@example.org"))
	nurse := e.signIn(e.user(account.RoleNurse, "nurse@example.org"))
	sched := e.user(account.RoleScheduler, "scheduler@example.org")
	_, schedKey, err := e.accounts.CreateAPIKey(context.Background(), account.SystemActor(), sched.ID, "matrix", account.RoleScheduler)
	require.NoError(t, err)
	_, adminKey, err := e.accounts.CreateAPIKey(context.Background(), account.SystemActor(), admin.user.ID, "matrix", account.RoleAdmin)
	require.NoError(t, err)

	self := []string{"admin", "doctor", "nurse"}
	adminOnly := []string{"admin", "admin-key"}
	expected := map[string][]string{
		"completeSecondFactor": self, "beginTOTPEnrolment": self, "confirmTOTPEnrolment": self,
		"signOut": self, "signOutEverywhere": self, "getMe": self, "changeMyPassword": self,
		"beginPasskeyRegistration": self, "finishPasskeyRegistration": self, "beginPasskeyLogin": self,
		"completePasskeyLogin": self, "listMyPasskeys": self, "deleteMyPasskey": self,
		"listUsers": adminOnly, "createUser": adminOnly, "getUser": adminOnly, "updateUser": adminOnly,
		"disableUser": adminOnly, "enableUser": adminOnly, "approveUser": adminOnly, "resetSecondFactor": adminOnly,
		"listAPIKeys": adminOnly, "createAPIKey": adminOnly, "revokeAPIKey": adminOnly, "verifyAudit": adminOnly,
		"listMediaNodes": adminOnly, "getStatistics": adminOnly, "exportStatistics": adminOnly,
		"listAuditEvents": adminOnly, "getSettings": adminOnly, "updateSettings": adminOnly,
		"uploadLogo": adminOnly, "deleteLogo": adminOnly,
		"listColleagues": {"doctor"},
	}
	// Operations that end the caller's session get a fresh one each time.
	endsSession := map[string]bool{"signOut": true, "signOutEverywhere": true}

	callers := map[string]func(op string) *caller{
		"anonymous": func(string) *caller { return &caller{} },
		"admin": func(op string) *caller {
			if endsSession[op] {
				return e.again(admin)
			}
			return &caller{cookie: admin.cookie}
		},
		"doctor": func(op string) *caller {
			if endsSession[op] {
				return e.again(doctor)
			}
			return &caller{cookie: doctor.cookie}
		},
		"nurse": func(op string) *caller {
			if endsSession[op] {
				return e.again(nurse)
			}
			return &caller{cookie: nurse.cookie}
		},
		"scheduler-key": func(string) *caller { return &caller{bearer: schedKey} },
		"admin-key":     func(string) *caller { return &caller{bearer: adminKey} },
	}
	// Session-ending operations go last: signing out everywhere ends the
	// sessions the other rows use.
	ops := e.rt.Operations()
	sort.SliceStable(ops, func(i, j int) bool { return !endsSession[ops[i].ID] && endsSession[ops[j].ID] })
	seen := map[string]bool{}
	for _, op := range ops {
		if op.Auth == httpapi.AuthNone {
			continue
		}
		seen[op.ID] = true
		allowed, ok := expected[op.ID]
		require.True(t, ok, "operation %s has no expected row in the matrix", op.ID)
		// Unknown ids: an allowed caller gets 404 or a validation error,
		// never a change to the fixtures the next rows rely on.
		path := wildcard.ReplaceAllString(op.Path, "00000000-0000-4000-8000-000000000000")
		var body any
		if op.Request != nil {
			body = map[string]string{}
		}
		for name, mk := range callers {
			t.Run(op.ID+"/"+name, func(t *testing.T) {
				res := e.do(mk(op.ID), op.Method, path, body)
				refused := res.status == 401 || (res.status == 403 && res.code(t) != staffapi.CodeAccountNotActive)
				want := contains(allowed, name)
				assert.Equal(t, !want, refused, "%s %s as %s: status %d %s", op.Method, path, name, res.status, res.body)
			})
		}
	}
	for id := range expected {
		assert.True(t, seen[id], "expected row %s names no operation", id)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestSignInCookie(t *testing.T) {
	e := newEnv(t)
	u := e.user(account.RoleNurse, "nurse@example.org")
	c := &caller{}
	res := e.do(c, "POST", "/api/v1/auth/sign-in", map[string]string{"email": u.Email, "password": "a long test passphrase"})
	require.Equal(t, 200, res.status, string(res.body))
	sc := res.header.Get("Set-Cookie")
	for _, attr := range []string{"__Host-hcw_session=", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		assert.Contains(t, sc, attr)
	}
	assert.NotContains(t, strings.ToLower(sc), "domain=")
	assert.Equal(t, 200, e.do(c, "GET", "/api/v1/me", nil).status)
}

func TestSignInRefusals(t *testing.T) {
	e := newEnv(t)
	u := e.user(account.RoleNurse, "nurse@example.org")
	wrong := e.do(&caller{}, "POST", "/api/v1/auth/sign-in", map[string]string{"email": u.Email, "password": "not the passphrase"})
	unknown := e.do(&caller{}, "POST", "/api/v1/auth/sign-in", map[string]string{"email": "nobody@example.org", "password": "whatever it is"})
	assert.Equal(t, 401, wrong.status)
	assert.Equal(t, wrong.status, unknown.status)
	assert.Equal(t, string(wrong.body), string(unknown.body), "unknown email and wrong password answer alike")

	// Throttling: after five failures the account waits, even with the
	// right password.
	for range 4 {
		e.do(&caller{}, "POST", "/api/v1/auth/sign-in", map[string]string{"email": u.Email, "password": "not the passphrase"})
	}
	res := e.do(&caller{}, "POST", "/api/v1/auth/sign-in", map[string]string{"email": u.Email, "password": "a long test passphrase"})
	assert.Equal(t, 429, res.status, string(res.body))
	assert.NotEmpty(t, res.header.Get("Retry-After"))
	assert.Equal(t, staffapi.CodeThrottled, res.code(t))

	// A missing field is named.
	res = e.do(&caller{}, "POST", "/api/v1/auth/sign-in", map[string]string{"email": u.Email})
	assert.Equal(t, 400, res.status)
	assert.Contains(t, string(res.body), `"field":"password"`)
}

func TestSecondFactorRequired(t *testing.T) {
	e := newEnv(t)
	d := e.signIn(e.user(account.RoleDoctor, "doctor@example.org"))
	// A new sign-in stops at the password level until a code is given.
	c := &caller{}
	res := e.do(c, "POST", "/api/v1/auth/sign-in", map[string]string{"email": d.user.Email, "password": "a long test passphrase"})
	require.Equal(t, 200, res.status)
	assert.Contains(t, string(res.body), `"next":"verify"`)
	res = e.do(c, "GET", "/api/v1/me", nil)
	assert.Equal(t, 403, res.status)
	assert.Equal(t, httpapi.CodeSecondFactorRequired, res.code(t))
	res = e.do(c, "POST", "/api/v1/auth/second-factor", map[string]string{"code": "000000"})
	assert.Equal(t, 401, res.status)
	res = e.do(c, "POST", "/api/v1/auth/second-factor", map[string]string{"code": d.recoveryCodes[0]})
	require.Equal(t, 200, res.status, string(res.body))
	assert.Equal(t, 200, e.do(c, "GET", "/api/v1/me", nil).status)
	// The recovery code is single use.
	c2 := &caller{}
	e.do(c2, "POST", "/api/v1/auth/sign-in", map[string]string{"email": d.user.Email, "password": "a long test passphrase"})
	res = e.do(c2, "POST", "/api/v1/auth/second-factor", map[string]string{"code": d.recoveryCodes[0]})
	assert.Equal(t, 401, res.status)
}

// TestAdminCreatesDoctorWhoSignsIn is the journey of the issue: an admin
// creates a doctor; the doctor sets a password through the mailed setup
// link, enrols TOTP and signs in.
func TestAdminCreatesDoctorWhoSignsIn(t *testing.T) {
	e := newEnv(t)
	admin := e.signIn(e.user(account.RoleAdmin, "admin@example.org"))
	res := e.do(&admin.caller, "POST", "/api/v1/admin/users", map[string]any{
		"email": "Dr.Who@Example.org", "first_name": "Ada", "last_name": "Lovelace", "role": "doctor", "language": "fr"})
	require.Equal(t, 201, res.status, string(res.body))
	var created struct {
		User     struct{ ID, Email, Status string }
		SetupURL string `json:"setup_url"`
	}
	res.json(t, &created)
	assert.Equal(t, "dr.who@example.org", created.User.Email)
	assert.True(t, strings.HasPrefix(created.SetupURL, "https://doctor.example.org/setup#"), created.SetupURL)
	m := e.mail.last(t)
	assert.Equal(t, []string{"dr.who@example.org"}, m.To)
	assert.Contains(t, m.Text, created.SetupURL)
	assert.Equal(t, "fr", m.Language)

	token := strings.TrimPrefix(created.SetupURL, "https://doctor.example.org/setup#")
	res = e.do(&caller{}, "POST", "/api/v1/auth/password", map[string]string{"token": token, "purpose": "setup", "password": "password"})
	assert.Equal(t, 400, res.status)
	assert.Equal(t, staffapi.CodeWeakPassword, res.code(t))
	res = e.do(&caller{}, "POST", "/api/v1/auth/password", map[string]string{"token": token, "purpose": "setup", "password": "a long test passphrase"})
	require.Equal(t, 204, res.status, string(res.body))
	res = e.do(&caller{}, "POST", "/api/v1/auth/password", map[string]string{"token": token, "purpose": "setup", "password": "another long passphrase"})
	assert.Equal(t, 400, res.status, "a setup link works once")
	assert.Equal(t, staffapi.CodeTokenInvalid, res.code(t))

	doc, err := e.accounts.ByID(context.Background(), created.User.ID)
	require.NoError(t, err)
	d := e.signIn(doc)
	res = e.do(&d.caller, "GET", "/api/v1/me", nil)
	require.Equal(t, 200, res.status)
	assert.Contains(t, string(res.body), `"first_name":"Ada"`)
	assert.Contains(t, string(res.body), `"session_idle_timeout_seconds":1800`, "the default idle timeout, for the apps' warning")

	// Disabling the doctor ends their session at once and asks the
	// socket hub to close theirs.
	res = e.do(&admin.caller, "POST", "/api/v1/admin/users/"+doc.ID+"/disable", nil)
	require.Equal(t, 200, res.status, string(res.body))
	select {
	case id := <-e.revoked:
		assert.Equal(t, doc.ID, id)
	case <-time.After(5 * time.Second):
		t.Fatal("the revocation hook was not called")
	}
	assert.Equal(t, 401, e.do(&d.caller, "GET", "/api/v1/me", nil).status)
	res = e.do(&caller{}, "POST", "/api/v1/auth/sign-in", map[string]string{"email": doc.Email, "password": "a long test passphrase"})
	assert.Equal(t, 403, res.status)
	assert.Equal(t, staffapi.CodeAccountNotActive, res.code(t))
}

func TestPasswordResetDoesNotTellWhoExists(t *testing.T) {
	e := newEnv(t)
	u := e.user(account.RoleNurse, "nurse@example.org")
	known := e.do(&caller{}, "POST", "/api/v1/auth/password-reset", map[string]string{"email": u.Email})
	unknown := e.do(&caller{}, "POST", "/api/v1/auth/password-reset", map[string]string{"email": "nobody@example.org"})
	assert.Equal(t, 202, known.status)
	assert.Equal(t, 202, unknown.status)
	assert.Equal(t, known.body, unknown.body)
	m := e.mail.last(t)
	assert.Equal(t, []string{u.Email}, m.To)
	i := strings.Index(m.Text, "https://doctor.example.org/reset#")
	require.GreaterOrEqual(t, i, 0, m.Text)
	token := strings.Fields(m.Text[i+len("https://doctor.example.org/reset#"):])[0]
	res := e.do(&caller{}, "POST", "/api/v1/auth/password", map[string]string{"token": token, "purpose": "reset", "password": "a fresh long passphrase"})
	assert.Equal(t, 204, res.status, string(res.body))
}

func TestAPIKeyIsShownOnceAndRevocable(t *testing.T) {
	e := newEnv(t)
	admin := e.signIn(e.user(account.RoleAdmin, "admin@example.org"))
	sched := e.user(account.RoleScheduler, "scheduler@example.org")
	res := e.do(&admin.caller, "POST", "/api/v1/admin/api-keys", map[string]string{"user_id": sched.ID, "name": "his", "role": "scheduler"})
	require.Equal(t, 201, res.status, string(res.body))
	var created struct {
		APIKey struct{ ID string } `json:"api_key"`
		Key    string
	}
	res.json(t, &created)
	require.True(t, strings.HasPrefix(created.Key, "hcw_"))
	res = e.do(&admin.caller, "GET", "/api/v1/admin/users/"+sched.ID+"/api-keys", nil)
	require.Equal(t, 200, res.status)
	assert.NotContains(t, string(res.body), created.Key)
	// The key authenticates (and is refused by permission, not identity).
	assert.Equal(t, 403, e.do(&caller{bearer: created.Key}, "GET", "/api/v1/admin/users", nil).status)
	require.Equal(t, 204, e.do(&admin.caller, "POST", "/api/v1/admin/api-keys/"+created.APIKey.ID+"/revoke", nil).status)
	assert.Equal(t, 401, e.do(&caller{bearer: created.Key}, "GET", "/api/v1/admin/users", nil).status)

	// Revoking twice, and keys for accounts that cannot use them: one
	// clear conflict each, not an internal error.
	res = e.do(&admin.caller, "POST", "/api/v1/admin/api-keys/"+created.APIKey.ID+"/revoke", nil)
	assert.Equal(t, 409, res.status)
	assert.Contains(t, string(res.body), `"code":"api_key_revoked"`)
	require.Equal(t, 200, e.do(&admin.caller, "POST", "/api/v1/admin/users/"+sched.ID+"/disable", nil).status)
	res = e.do(&admin.caller, "POST", "/api/v1/admin/api-keys", map[string]string{"user_id": sched.ID, "name": "again", "role": "scheduler"})
	assert.Equal(t, 409, res.status, string(res.body))
	assert.Contains(t, string(res.body), `"code":"account_not_active"`)
}

// TestColleagues: a doctor sees the other active doctors, by name, and
// no one else.
func TestColleagues(t *testing.T) {
	e := newEnv(t)
	me := e.signIn(e.user(account.RoleDoctor, "me@example.org"))
	other := e.user(account.RoleDoctor, "other@example.org")
	gone := e.user(account.RoleDoctor, "gone@example.org")
	admin := e.signIn(e.user(account.RoleAdmin, "admin@example.org"))
	e.user(account.RoleNurse, "nurse@example.org")
	require.Equal(t, 200, e.do(&admin.caller, "POST", "/api/v1/admin/users/"+gone.ID+"/disable", nil).status)

	res := e.do(&me.caller, "GET", "/api/v1/colleagues", nil)
	require.Equal(t, 200, res.status, string(res.body))
	var got struct {
		Doctors []struct {
			ID        string `json:"id"`
			FirstName string `json:"first_name"`
			LastName  string `json:"last_name"`
		} `json:"doctors"`
	}
	res.json(t, &got)
	require.Len(t, got.Doctors, 1, string(res.body))
	assert.Equal(t, other.ID, got.Doctors[0].ID)
	assert.Equal(t, other.FirstName, got.Doctors[0].FirstName)
	assert.NotContains(t, string(res.body), "@", "no email addresses")
}

func TestAuditVerificationThroughAPI(t *testing.T) {
	e := newEnv(t)
	admin := e.signIn(e.user(account.RoleAdmin, "admin@example.org"))
	res := e.do(&admin.caller, "GET", "/api/v1/admin/audit/verification", nil)
	require.Equal(t, 200, res.status, string(res.body))
	assert.Contains(t, string(res.body), `"intact":true`)
}

// TestNurseSelfRegistration: a nurse asks for an account, sets a password
// from the mailed link, is refused until an admin approves, then signs in.
func TestNurseSelfRegistration(t *testing.T) {
	closed := newEnv(t)
	res := closed.do(&caller{}, "POST", "/api/v1/auth/nurse-registration", map[string]string{"email": "n@example.org", "first_name": "N", "last_name": "N"})
	assert.Equal(t, 403, res.status)
	assert.Equal(t, staffapi.CodeRegistrationClosed, res.code(t))

	e := newEnv(t, func(p *staffapi.Params) { p.NurseSelfRegistration = true })
	admin := e.signIn(e.user(account.RoleAdmin, "admin@example.org"))
	res = e.do(&caller{}, "POST", "/api/v1/auth/nurse-registration", map[string]string{"email": "Nurse@Example.org", "first_name": "Florence", "last_name": "N"})
	require.Equal(t, 202, res.status, string(res.body))
	m := e.mail.last(t)
	assert.Equal(t, []string{"nurse@example.org"}, m.To)
	i := strings.Index(m.Text, "https://doctor.example.org/setup#")
	require.GreaterOrEqual(t, i, 0, m.Text)
	token := strings.Fields(m.Text[i+len("https://doctor.example.org/setup#"):])[0]
	res = e.do(&caller{}, "POST", "/api/v1/auth/password", map[string]string{"token": token, "purpose": "setup", "password": "a long test passphrase"})
	require.Equal(t, 204, res.status, string(res.body))

	signIn := func() response {
		return e.do(&caller{}, "POST", "/api/v1/auth/sign-in", map[string]string{"email": "nurse@example.org", "password": "a long test passphrase"})
	}
	res = signIn()
	assert.Equal(t, 403, res.status, "pending approval")
	assert.Equal(t, staffapi.CodeAccountNotActive, res.code(t))

	// Registering the same address again changes nothing and says nothing.
	sent := len(e.mail.msgs)
	res = e.do(&caller{}, "POST", "/api/v1/auth/nurse-registration", map[string]string{"email": "nurse@example.org", "first_name": "X", "last_name": "Y"})
	assert.Equal(t, 202, res.status)
	assert.Len(t, e.mail.msgs, sent)

	nurse, err := e.accounts.ByEmail(context.Background(), "nurse@example.org")
	require.NoError(t, err)
	assert.Equal(t, account.StatusPendingApproval, nurse.Status)
	res = e.do(&admin.caller, "POST", "/api/v1/admin/users/"+nurse.ID+"/approve", nil)
	require.Equal(t, 200, res.status, string(res.body))
	res = signIn()
	require.Equal(t, 200, res.status, string(res.body))
	assert.Contains(t, string(res.body), `"level":"full"`)
}
