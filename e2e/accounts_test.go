package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pquerna/otp/totp"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
)

// apiCall is one JSON request through the edge to an app host, as the
// app's own page would send it (same Origin).
func apiCall(t testing.TB, cookie *http.Cookie, host, method, path string, body any) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, stack.url(t, host, path), rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", "https://"+host+":"+stack.httpsPort(t))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := stack.client(t).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// sessionCookie returns the session cookie a response set, checking the
// attributes every session cookie must have.
func sessionCookie(t testing.TB, h http.Header) *http.Cookie {
	t.Helper()
	for _, line := range h.Values("Set-Cookie") {
		if !strings.HasPrefix(line, "__Host-hcw_session=") {
			continue
		}
		for _, attr := range []string{"Secure", "HttpOnly", "SameSite=Lax", "Path=/"} {
			if !strings.Contains(line, attr) {
				t.Fatalf("session cookie lacks %s: %s", attr, line)
			}
		}
		if strings.Contains(strings.ToLower(line), "domain=") {
			t.Fatalf("session cookie names a Domain: %s", line)
		}
		value := strings.TrimPrefix(strings.SplitN(line, ";", 2)[0], "__Host-hcw_session=")
		return &http.Cookie{Name: "__Host-hcw_session", Value: value}
	}
	t.Fatalf("no session cookie in %v", h.Values("Set-Cookie"))
	return nil
}

var setupLink = regexp.MustCompile(`https://[^/\s]+/setup#([A-Za-z0-9_-]+)`)

// staffPassword is the password staffSignIn sets.
const staffPassword = "correct horse battery staple 42"

// staffSignIn sets a password with the setup token, signs in and enrols
// TOTP, returning a full session cookie. It is the whole first sign-in of
// a doctor or an admin.
func staffSignIn(t testing.TB, host, email, token string) *http.Cookie {
	t.Helper()
	cookie, _, _ := staffEnrol(t, host, email, token)
	return cookie
}

// staffEnrol is staffSignIn, also returning the TOTP secret and the time
// step of the code it used (a code is good once).
func staffEnrol(t testing.TB, host, email, token string) (*http.Cookie, string, int64) {
	t.Helper()
	const password = staffPassword
	if status, body, _ := apiCall(t, nil, host, "POST", "/api/v1/auth/password",
		map[string]string{"token": token, "purpose": "setup", "password": password}); status != 204 {
		t.Fatalf("set password: %d %s", status, body)
	}
	status, body, h := apiCall(t, nil, host, "POST", "/api/v1/auth/sign-in", map[string]string{"email": email, "password": password})
	if status != 200 || !strings.Contains(string(body), `"next":"enrol"`) {
		t.Fatalf("sign in: %d %s", status, body)
	}
	cookie := sessionCookie(t, h)
	status, body, _ = apiCall(t, cookie, host, "POST", "/api/v1/auth/totp/enrolment", nil)
	if status != 201 {
		t.Fatalf("enrol: %d %s", status, body)
	}
	var enr struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(body, &enr); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	code, err := totp.GenerateCode(enr.Secret, now)
	if err != nil {
		t.Fatal(err)
	}
	status, body, h = apiCall(t, cookie, host, "POST", "/api/v1/auth/totp/confirmation", map[string]string{"code": code})
	if status != 200 || !strings.Contains(string(body), `"level":"full"`) {
		t.Fatalf("confirm TOTP: %d %s", status, body)
	}
	return sessionCookie(t, h), enr.Secret, now.Unix() / 30
}

// staffTOTP makes the codes of one staff account, each for a time step
// later than the last one used (the backend takes a code once, and the
// steps next to now).
type staffTOTP struct {
	mu       sync.Mutex
	secret   string
	lastStep int64
}

func (s *staffTOTP) next(t testing.TB) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		now := time.Now().Unix() / 30
		// The backend accepts now-1..now+1; now+1 only if the code is
		// typed within the step (it is: the next call is immediate).
		for _, step := range []int64{now, now + 1} {
			if step > s.lastStep {
				code, err := totp.GenerateCode(s.secret, time.Unix(step*30, 0))
				if err != nil {
					t.Fatal(err)
				}
				s.lastStep = step
				return code
			}
		}
		time.Sleep(time.Second)
	}
}

var (
	adminOnce   sync.Once
	adminCookie *http.Cookie
	// adminTOTP makes the admin's codes, for a sign-in in the admin app.
	adminTOTP *staffTOTP
)

// adminEmail is the first admin's address (created by adminSession), and
// staffPassword its password.
const adminEmail = "admin@clinic.example"

// adminSession creates the first admin with the CLI, as the README says,
// and signs in through the admin app with password and TOTP.
func adminSession(t testing.TB) *http.Cookie {
	t.Helper()
	adminOnce.Do(func() {
		code, out, err := stack.container(t, "backend").Exec(context.Background(),
			[]string{"/backend", "admin", "create", "--email", adminEmail}, tcexec.Multiplexed())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(out)
		m := setupLink.FindStringSubmatch(string(b))
		if code != 0 || m == nil {
			t.Fatalf("admin create: exit %d: %s", code, b)
		}
		if !strings.Contains(m[0], "https://admin.localhost/setup#") {
			t.Fatalf("setup link is not on the admin host: %s", m[0])
		}
		cookie, secret, step := staffEnrol(t, "admin.localhost", adminEmail, m[1])
		adminCookie, adminTOTP = cookie, &staffTOTP{secret: secret, lastStep: step}
	})
	if adminCookie == nil {
		t.Fatal("no admin session (an earlier test failed to make one)")
	}
	return adminCookie
}

// TestStaffJourney: an admin created with the CLI signs in with password
// and TOTP, creates a doctor; the doctor enrols TOTP and signs in; the
// doctor's socket closes within seconds of being disabled.
func TestStaffJourney(t *testing.T) {
	admin := adminSession(t)
	marker := fmt.Sprintf("Zmarker%d", time.Now().UnixNano())
	status, body, _ := apiCall(t, admin, "admin.localhost", "POST", "/api/v1/admin/users", map[string]any{
		"email": "doctor@clinic.example", "first_name": marker, "last_name": "House", "role": "doctor"})
	if status != 201 {
		t.Fatalf("create doctor: %d %s", status, body)
	}
	var created struct {
		User     struct{ ID string } `json:"user"`
		SetupURL string              `json:"setup_url"`
	}
	if err := json.Unmarshal(body, &created); err != nil {
		t.Fatal(err)
	}
	m := setupLink.FindStringSubmatch(created.SetupURL)
	if m == nil || !strings.HasPrefix(created.SetupURL, "https://doctor.localhost/setup#") {
		t.Fatalf("setup link %q", created.SetupURL)
	}
	doctor := staffSignIn(t, "doctor.localhost", "doctor@clinic.example", m[1])
	status, body, _ = apiCall(t, doctor, "doctor.localhost", "GET", "/api/v1/me", nil)
	if status != 200 || !strings.Contains(string(body), marker) {
		t.Fatalf("doctor /me: %d %s", status, body)
	}
	// The doctor may not administer.
	if status, _, _ := apiCall(t, doctor, "doctor.localhost", "GET", "/api/v1/admin/users", nil); status != 403 {
		t.Fatalf("doctor listing users: %d, want 403", status)
	}

	// Health and personal fields are sealed at rest: the doctor's name is
	// nowhere in a dump of the database.
	code, out, err := stack.container(t, "postgres").Exec(context.Background(),
		[]string{"pg_dump", "-U", "hcw", "-d", "hcw"}, tcexec.Multiplexed())
	if err != nil {
		t.Fatal(err)
	}
	dump, _ := io.ReadAll(out)
	if code != 0 || len(dump) < 1000 {
		t.Fatalf("pg_dump: exit %d, %d bytes", code, len(dump))
	}
	if bytes.Contains(dump, []byte(marker)) {
		t.Fatal("the marker name is in the database dump in clear")
	}

	// The doctor's WebSocket closes within seconds of being disabled.
	conn, _, err := dialWSWithCookie(t, "doctor.localhost", doctor)
	if err != nil {
		t.Fatalf("doctor websocket: %v", err)
	}
	defer conn.CloseNow()
	readErr := make(chan error, 1)
	go func() {
		for {
			if _, _, err := conn.Read(context.Background()); err != nil {
				readErr <- err
				return
			}
		}
	}()
	status, body, _ = apiCall(t, admin, "admin.localhost", "POST", "/api/v1/admin/users/"+created.User.ID+"/disable", nil)
	if status != 200 {
		t.Fatalf("disable: %d %s", status, body)
	}
	select {
	case err := <-readErr:
		if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Fatalf("socket ended with %v, want close 1008", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the disabled doctor's socket was still open after 5 s")
	}
	if status, _, _ := apiCall(t, doctor, "doctor.localhost", "GET", "/api/v1/me", nil); status != 401 {
		t.Fatalf("disabled doctor's session: %d, want 401", status)
	}
}

func TestSignInRefusalsThroughEdge(t *testing.T) {
	status, body, _ := apiCall(t, nil, "doctor.localhost", "POST", "/api/v1/auth/sign-in",
		map[string]string{"email": "nobody@clinic.example", "password": "wrong wrong wrong"})
	if status != 401 || !strings.Contains(string(body), "invalid_credentials") {
		t.Fatalf("unknown account: %d %s", status, body)
	}
	// A cross-site form post is refused before it reaches the sign-in.
	req, _ := http.NewRequest("POST", stack.url(t, "doctor.localhost", "/api/v1/auth/sign-in"), strings.NewReader(`{"email":"a@b.c","password":"x"}`))
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Content-Type", "application/json")
	resp, err := stack.client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("foreign Origin on a POST: %d, want 403", resp.StatusCode)
	}
	// The OpenAPI document is served through every app host.
	status, body, _ = apiCall(t, nil, "doctor.localhost", "GET", "/api/v1/openapi.json", nil)
	if status != 200 || !strings.Contains(string(body), `"operationId":"signIn"`) {
		t.Fatalf("openapi: %d", status)
	}
}
