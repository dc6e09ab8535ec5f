// Package mailtest runs a real SMTP server for tests: mailpit
// (github.com/axllent/mailpit), started as a subprocess on free loopback
// ports with a throw-away database, read back through its HTTP API.
//
// The binary is, in order: $HCW_MAILPIT_BIN; `mailpit` on PATH; or built
// once per machine from the Go module proxy at MailpitVersion into
// os.UserCacheDir()/hcw/mailpit-<version>/ (about 35 s on two cores, then
// cached). With -short and no binary at hand, tests that need it are
// skipped instead of building it.
package mailtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// MailpitVersion is the mailpit release built when no binary is found.
const MailpitVersion = "v1.33.1"

// EnvMailpitBin names an existing mailpit binary to use instead.
const EnvMailpitBin = "HCW_MAILPIT_BIN"

// Server is a running mailpit.
type Server struct {
	// SMTPHost and SMTPPort accept mail, with no TLS and any (or no) login.
	SMTPHost string
	SMTPPort int
	// APIURL is the base of the HTTP API and web UI, e.g.
	// "http://127.0.0.1:41234".
	APIURL string

	http *http.Client
}

// Address is a mailbox as mailpit's API reports it.
type Address struct {
	Name    string
	Address string
}

// Attachment is an attachment as mailpit's API reports it.
type Attachment struct {
	PartID      string
	FileName    string
	ContentType string
	Size        uint64
}

// Summary is one entry of GET /api/v1/messages.
type Summary struct {
	ID          string
	MessageID   string
	From        *Address
	To          []Address
	Subject     string
	Attachments int
	Created     time.Time
}

// Message is one message as GET /api/v1/message/{ID} reports it.
type Message struct {
	ID        string
	MessageID string
	From      *Address
	To        []Address
	Subject   string
	// Username is the SMTP login used, if any.
	Username    string
	Text        string
	HTML        string
	Attachments []Attachment
	Inline      []Attachment
}

// Start runs a new mailpit for the test and stops it at cleanup. On a
// failed test its log is printed.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "mailpit.log")

	var lastErr error
	// A free port can be taken between probing and mailpit binding it;
	// try a few times.
	for attempt := 0; attempt < 3; attempt++ {
		s, err := start(t, bin, dir, logPath, attempt)
		if err == nil {
			return s
		}
		lastErr = err
	}
	logTail(t, logPath)
	t.Fatalf("mailtest: start mailpit: %v", lastErr)
	return nil
}

func start(t testing.TB, bin, dir, logPath string, attempt int) (*Server, error) {
	smtpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()

	smtpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(smtpPort))
	httpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort))
	cmd := exec.Command(bin,
		"--smtp", smtpAddr,
		"--listen", httpAddr,
		"--database", filepath.Join(dir, fmt.Sprintf("mailpit-%d.db", attempt)),
		"--smtp-auth-accept-any",     // any username and password, or none
		"--smtp-auth-allow-insecure", // AUTH without TLS
		"--smtp-disable-rdns",        // no DNS look-ups from a test
		"--disable-version-check",    // no call home
		"--max", "0",                 // keep every message
	)
	cmd.Env = hermeticEnv()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}

	s := &Server{
		SMTPHost: "127.0.0.1",
		SMTPPort: smtpPort,
		APIURL:   "http://" + httpAddr,
		http:     &http.Client{Timeout: 5 * time.Second},
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err // stop() reads it again
			stop()
			return nil, fmt.Errorf("mailpit exited at start: %v", err)
		default:
		}
		if s.ready(smtpAddr) {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, errors.New("mailpit not ready within 15s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			logTail(t, logPath)
		}
	})
	return s, nil
}

// ready: the API answers /readyz and the SMTP port accepts.
func (s *Server) ready(smtpAddr string) bool {
	resp, err := s.http.Get(s.APIURL + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	c, err := net.DialTimeout("tcp", smtpAddr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Messages lists every stored message, newest first.
func (s *Server) Messages(t testing.TB) []Summary {
	t.Helper()
	var out struct {
		Messages []Summary `json:"messages"`
	}
	s.getJSON(t, "/api/v1/messages?limit=1000", &out)
	return out.Messages
}

// Message returns the message with mailpit's database ID id.
func (s *Server) Message(t testing.TB, id string) Message {
	t.Helper()
	var m Message
	s.getJSON(t, "/api/v1/message/"+url.PathEscape(id), &m)
	return m
}

// Headers returns the message's headers.
func (s *Server) Headers(t testing.TB, id string) map[string][]string {
	t.Helper()
	var h map[string][]string
	s.getJSON(t, "/api/v1/message/"+url.PathEscape(id)+"/headers", &h)
	return h
}

// Part returns the decoded content of one MIME part (an attachment's
// PartID).
func (s *Server) Part(t testing.TB, id, partID string) []byte {
	t.Helper()
	return s.get(t, "/api/v1/message/"+url.PathEscape(id)+"/part/"+url.PathEscape(partID))
}

// Raw returns the message as received, headers and encoded body.
func (s *Server) Raw(t testing.TB, id string) []byte {
	t.Helper()
	return s.get(t, "/api/v1/message/"+url.PathEscape(id)+"/raw")
}

// DeleteAll removes every stored message.
func (s *Server) DeleteAll(t testing.TB) {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, s.APIURL+"/api/v1/messages", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("mailtest: delete messages: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mailtest: delete messages: %s", resp.Status)
	}
}

// WaitFor polls until a message addressed to the address to (any case) has
// arrived, and returns it in full; the test fails after timeout.
func (s *Server) WaitFor(t testing.TB, to string, timeout time.Duration) Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, m := range s.Messages(t) {
			for _, a := range m.To {
				if strings.EqualFold(a.Address, to) {
					return s.Message(t, m.ID)
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailtest: no message to %s within %s", to, timeout)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (s *Server) get(t testing.TB, path string) []byte {
	t.Helper()
	resp, err := s.http.Get(s.APIURL + path)
	if err != nil {
		t.Fatalf("mailtest: GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("mailtest: GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mailtest: GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	return body
}

func (s *Server) getJSON(t testing.TB, path string, v any) {
	t.Helper()
	if err := json.Unmarshal(s.get(t, path), v); err != nil {
		t.Fatalf("mailtest: GET %s: decode: %v", path, err)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// hermeticEnv drops mailpit's own MP_* settings from the environment, so
// that a developer's configuration cannot change the tests.
func hermeticEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MP_") {
			env = append(env, kv)
		}
	}
	return env
}

func logTail(t testing.TB, path string) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	t.Logf("mailpit log:\n%s", b)
}

var (
	buildOnce sync.Once
	builtPath string
	buildErr  error
)

// Binary returns the path of a mailpit binary, building it once per
// machine when none is installed (see the package comment). It skips the
// test under -short rather than build.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvMailpitBin); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("mailtest: %s=%s: %v", EnvMailpitBin, p, err)
		}
		return p
	}
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p
	}
	cached := cachedPath()
	if _, err := os.Stat(cached); err == nil {
		return cached
	}
	if testing.Short() {
		t.Skipf("mailtest: no mailpit binary (set %s, put mailpit on PATH, or run without -short to build %s)", EnvMailpitBin, MailpitVersion)
	}
	buildOnce.Do(func() {
		start := time.Now()
		buildErr = build(cached)
		if buildErr == nil {
			t.Logf("mailtest: built mailpit %s into %s in %s", MailpitVersion, cached, time.Since(start).Round(time.Second))
		}
		builtPath = cached
	})
	if buildErr != nil {
		t.Fatalf("mailtest: no mailpit binary and building it failed (set %s or install it with `GOBIN=/usr/local/bin go install github.com/axllent/mailpit@%s`): %v",
			EnvMailpitBin, MailpitVersion, buildErr)
	}
	return builtPath
}

// cachedPath is where the built binary lives: one per version per machine.
func cachedPath() string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "hcw", "mailpit-"+MailpitVersion, "mailpit")
}

// build installs mailpit from the Go module proxy into a fresh directory
// beside dst and renames it into place, so that a concurrent test process
// never runs a half-written file (two processes may both build; the last
// rename wins and both binaries are the same).
func build(dst string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the go command is not on PATH: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), "build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "install", "-trimpath", "github.com/axllent/mailpit@"+MailpitVersion)
	// Outside any module or workspace, so the backend's go.mod and the
	// repository's go.work play no part; pure Go (modernc SQLite).
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go install github.com/axllent/mailpit@%s: %w\n%s", MailpitVersion, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "mailpit"), dst); err != nil {
		return fmt.Errorf("cache mailpit binary: %w", err)
	}
	return nil
}
