package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// mailbox reads what the mail catcher (mailpit, compose/mailcatcher.yml)
// received, through its HTTP API on the port Docker published.
type mailbox struct {
	base string
	http *http.Client
}

type mailAddress struct {
	Name    string
	Address string
}

type mailSummary struct {
	ID      string
	To      []mailAddress
	Subject string
}

type mailMessage struct {
	ID      string
	From    *mailAddress
	To      []mailAddress
	Subject string
	Text    string
	HTML    string
}

func newMailbox(t testing.TB) *mailbox {
	t.Helper()
	return &mailbox{
		base: "http://" + stack.hostPort(t, "mailcatcher", "8025/tcp"),
		http: &http.Client{Timeout: 10 * time.Second},
	}
}

func (m *mailbox) getJSON(t testing.TB, path string, v any) {
	t.Helper()
	resp, err := m.http.Get(m.base + path)
	if err != nil {
		t.Fatalf("mailpit GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mailpit GET %s: %s: %s", path, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("mailpit GET %s: %v: %s", path, err, b)
	}
}

// list returns every stored message, newest first.
func (m *mailbox) list(t testing.TB) []mailSummary {
	t.Helper()
	var out struct {
		Messages []mailSummary `json:"messages"`
	}
	m.getJSON(t, "/api/v1/messages?limit=1000", &out)
	return out.Messages
}

func (m *mailbox) message(t testing.TB, id string) mailMessage {
	t.Helper()
	var msg mailMessage
	m.getJSON(t, "/api/v1/message/"+url.PathEscape(id), &msg)
	return msg
}

// ids is the set of messages stored now.
func (m *mailbox) ids(t testing.TB) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	for _, s := range m.list(t) {
		seen[s.ID] = true
	}
	return seen
}

// newTo lists the messages not in seen that are addressed to addr.
func (m *mailbox) newTo(t testing.TB, seen map[string]bool, addr string) []mailSummary {
	t.Helper()
	var out []mailSummary
	for _, s := range m.list(t) {
		if seen[s.ID] {
			continue
		}
		for _, a := range s.To {
			if strings.EqualFold(a.Address, addr) {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// waitNew waits for exactly one message not in seen addressed to addr, and
// returns it in full.
func (m *mailbox) waitNew(t testing.TB, seen map[string]bool, addr string, timeout time.Duration) mailMessage {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if got := m.newTo(t, seen, addr); len(got) > 0 {
			if len(got) > 1 {
				t.Fatalf("%d new messages to %s, want 1", len(got), addr)
			}
			return m.message(t, got[0].ID)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail to %s within %s", addr, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkLinkMail checks the sender, the recipient and the subject of a setup
// or reset mail and returns the token of its one link, which must be on the
// doctor app's host with the default port.
func checkLinkMail(t testing.TB, msg mailMessage, to, subject, kind string) string {
	t.Helper()
	if msg.From == nil || msg.From.Address != "noreply@localhost" || msg.From.Name != "HCW@Home" {
		t.Errorf("From = %+v, want \"HCW@Home\" <noreply@localhost>", msg.From)
	}
	if len(msg.To) != 1 || !strings.EqualFold(msg.To[0].Address, to) {
		t.Errorf("To = %+v, want only %s", msg.To, to)
	}
	if msg.Subject != subject {
		t.Errorf("Subject = %q, want %q", msg.Subject, subject)
	}
	links := regexp.MustCompile(`https?://\S+`).FindAllString(msg.Text, -1)
	want := regexp.MustCompile(`^https://doctor\.localhost/` + kind + `#([A-Za-z0-9_-]{20,})$`)
	if len(links) != 1 || !want.MatchString(links[0]) {
		t.Fatalf("%s mail: links %q, want one https://doctor.localhost/%s#<token>; body:\n%s", kind, links, kind, msg.Text)
	}
	return want.FindStringSubmatch(links[0])[1]
}

// TestPasswordResetByMail: a nurse created by the admin gets the setup link
// by mail, through the backend's SMTP client and a real SMTP server; the
// link opens the doctor app through the edge and its token sets the
// password. A reset asked for by address mails a reset link whose token
// replaces the password. An unknown address gets no mail.
func TestPasswordResetByMail(t *testing.T) {
	admin := adminSession(t)
	mb := newMailbox(t)
	const host = "doctor.localhost"
	n := time.Now().UnixNano()
	email := fmt.Sprintf("nurse%d@clinic.example", n)
	unknown := fmt.Sprintf("nobody%d@clinic.example", n)
	const (
		firstPassword  = "first nurse passphrase 1234"
		secondPassword = "second nurse passphrase 5678"
	)

	// The admin creates the nurse: the setup link is mailed to her.
	seen := mb.ids(t)
	status, body, _ := apiCall(t, admin, "admin.localhost", "POST", "/api/v1/admin/users", map[string]any{
		"email": email, "first_name": "Florence", "last_name": "Nightingale", "role": "nurse"})
	if status != 201 {
		t.Fatalf("create nurse: %d %s", status, body)
	}
	var created struct {
		SetupURL string `json:"setup_url"`
	}
	if err := json.Unmarshal(body, &created); err != nil {
		t.Fatal(err)
	}
	setupMail := mb.waitNew(t, seen, email, 30*time.Second)
	setupToken := checkLinkMail(t, setupMail, email, "Your HCW@Home account", "setup")
	if created.SetupURL != "https://doctor.localhost/setup#"+setupToken {
		t.Errorf("the mailed link differs from the one the admin was shown: %q", created.SetupURL)
	}

	// The link's page is served through the edge (the fragment, the token,
	// never leaves the browser).
	resp, err := stack.client(t).Get(stack.url(t, host, "/setup"))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `data-app="doctor"`) {
		t.Fatalf("GET /setup: %d %s", resp.StatusCode, page)
	}

	// The mailed token sets the password, once.
	setPassword := func(token, purpose, password string) (int, []byte) {
		status, body, _ := apiCall(t, nil, host, "POST", "/api/v1/auth/password",
			map[string]string{"token": token, "purpose": purpose, "password": password})
		return status, body
	}
	if status, body := setPassword(setupToken, "setup", firstPassword); status != 204 {
		t.Fatalf("set password with the mailed setup token: %d %s", status, body)
	}
	if status, _ := setPassword(setupToken, "setup", secondPassword); status == 204 {
		t.Fatal("the setup token worked twice")
	}
	signIn := func(password string) (int, []byte) {
		status, body, _ := apiCall(t, nil, host, "POST", "/api/v1/auth/sign-in",
			map[string]string{"email": email, "password": password})
		return status, body
	}
	if status, body := signIn(firstPassword); status != 200 || !strings.Contains(string(body), `"level":"full"`) {
		t.Fatalf("nurse sign-in after setup: %d %s", status, body)
	}

	// A reset for an unknown address answers the same and mails nothing.
	// The nurse's reset, asked for right after, is the barrier: once her
	// mail is in, the backend has finished with the unknown address.
	seen = mb.ids(t)
	for _, addr := range []string{unknown, email} {
		if status, body, _ := apiCall(t, nil, host, "POST", "/api/v1/auth/password-reset",
			map[string]string{"email": addr}); status != 202 {
			t.Fatalf("password reset for %s: %d %s", addr, status, body)
		}
	}
	resetMail := mb.waitNew(t, seen, email, 30*time.Second)
	resetToken := checkLinkMail(t, resetMail, email, "Reset your HCW@Home password", "reset")
	time.Sleep(2 * time.Second)
	if got := mb.newTo(t, seen, unknown); len(got) != 0 {
		t.Fatalf("mail sent to the unknown address: %+v", got)
	}
	for _, s := range mb.list(t) {
		if !seen[s.ID] && s.ID != resetMail.ID {
			t.Errorf("unexpected new mail after the resets: %+v", s)
		}
	}

	// The setup token is no reset token; the reset token sets a new
	// password, and only the new one signs in.
	if status, _ := setPassword(resetToken, "setup", secondPassword); status == 204 {
		t.Fatal("a reset token was accepted as a setup token")
	}
	if status, body := setPassword(resetToken, "reset", secondPassword); status != 204 {
		t.Fatalf("set password with the mailed reset token: %d %s", status, body)
	}
	if status, body := signIn(secondPassword); status != 200 || !strings.Contains(string(body), `"level":"full"`) {
		t.Fatalf("sign-in with the new password: %d %s", status, body)
	}
	if status, body := signIn(firstPassword); status != 401 {
		t.Fatalf("sign-in with the old password: %d %s, want 401", status, body)
	}
}
