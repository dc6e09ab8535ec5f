package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

type envelope struct {
	Type string          `json:"type"`
	ID   string          `json:"id,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
}

// wsClient speaks HTTP/1.1 (WebSocket upgrade) through the edge.
func wsClient(t testing.TB) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:     stack.dialer(t, "443/tcp"),
		TLSClientConfig: &tls.Config{RootCAs: stack.caPool, NextProtos: []string{"http/1.1"}},
	}}
}

func dialWS(t testing.TB, host, origin, userAgent string, cookies ...*http.Cookie) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	h := http.Header{}
	h.Set("Origin", origin)
	h.Set("User-Agent", userAgent)
	for _, c := range cookies {
		h.Add("Cookie", c.String())
	}
	// A client-supplied X-Forwarded-For must not survive the edge.
	h.Set("X-Forwarded-For", "203.0.113.66")
	return websocket.Dial(ctx, "wss://"+host+":"+stack.httpsPort(t)+"/ws", &websocket.DialOptions{
		HTTPClient: wsClient(t),
		HTTPHeader: h,
	})
}

// dialWSWithCookie opens the app's socket as a signed-in page does.
func dialWSWithCookie(t testing.TB, host string, cookie *http.Cookie) (*websocket.Conn, *http.Response, error) {
	return dialWS(t, host, "https://"+host+":"+stack.httpsPort(t), "hcw-e2e", cookie)
}

func TestWebSocketWithoutSessionRefused(t *testing.T) {
	conn, resp, err := dialWS(t, "doctor.localhost", "https://doctor.localhost:"+stack.httpsPort(t), "hcw-e2e-anon")
	if err == nil {
		conn.CloseNow()
		t.Fatal("a socket without a session was accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("want 401, got %v (%v)", resp, err)
	}
}

func TestWebSocketThroughEdgeReachesBackend(t *testing.T) {
	ua := fmt.Sprintf("hcw-e2e-ws/%d", time.Now().UnixNano())
	origin := "https://admin.localhost:" + stack.httpsPort(t)
	conn, _, err := dialWS(t, "admin.localhost", origin, ua, adminSession(t))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var hello envelope
	if err := wsjson.Read(ctx, conn, &hello); err != nil || hello.Type != "hello" {
		t.Fatalf("first message = %+v, %v; want hello", hello, err)
	}
	if err := wsjson.Write(ctx, conn, envelope{Type: "ping", ID: "e2e-1"}); err != nil {
		t.Fatal(err)
	}
	var pong envelope
	if err := wsjson.Read(ctx, conn, &pong); err != nil || pong.Type != "pong" || pong.ID != "e2e-1" {
		t.Fatalf("reply = %+v, %v; want pong e2e-1", pong, err)
	}
	conn.Close(websocket.StatusNormalClosure, "")

	// The edge's access log says which address it saw; the backend's must
	// record that same address (not the spoofed one, not the edge's own)
	// and the https scheme.
	var edgeSaw string
	eventually(t, 20*time.Second, func() error {
		logs, err := stack.logs(context.Background(), "edge")
		if err != nil {
			return err
		}
		edgeSaw = findEdgeClientIP(logs, ua)
		if edgeSaw == "" {
			return errors.New("no edge access log line for the test's user agent")
		}
		return nil
	})
	eventually(t, 20*time.Second, func() error {
		logs, err := stack.logs(context.Background(), "backend")
		if err != nil {
			return err
		}
		line := findBackendLine(logs, ua, "/ws")
		if line == nil {
			return errors.New("no backend access log line for the test's user agent on /ws")
		}
		if line["client_ip"] != edgeSaw {
			return fmt.Errorf("backend client_ip = %v, edge saw %s (line %v)", line["client_ip"], edgeSaw, line)
		}
		if line["scheme"] != "https" {
			return fmt.Errorf("backend scheme = %v, want https", line["scheme"])
		}
		return nil
	})
	if edgeSaw == "203.0.113.66" {
		t.Fatal("the edge trusted a client's X-Forwarded-For")
	}
}

func TestWebSocketForeignOriginRefused(t *testing.T) {
	for _, origin := range []string{
		"https://evil.example",
		"http://doctor.localhost:" + stack.httpsPort(t),
		"https://doctor.localhost.evil.example:" + stack.httpsPort(t),
		"",
	} {
		t.Run(origin, func(t *testing.T) {
			conn, resp, err := dialWS(t, "doctor.localhost", origin, "hcw-e2e-origin")
			if err == nil {
				conn.CloseNow()
				t.Fatalf("origin %q was accepted", origin)
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("origin %q: want 403, got %v (%v)", origin, resp, err)
			}
		})
	}
}

// findEdgeClientIP returns the client_ip of the edge access log line whose
// User-Agent is ua.
func findEdgeClientIP(logs, ua string) string {
	s := bufio.NewScanner(strings.NewReader(logs))
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		var line struct {
			Request struct {
				ClientIP string              `json:"client_ip"`
				Headers  map[string][]string `json:"headers"`
			} `json:"request"`
		}
		if json.Unmarshal(s.Bytes(), &line) != nil {
			continue
		}
		for _, v := range line.Request.Headers["User-Agent"] {
			if v == ua {
				return line.Request.ClientIP
			}
		}
	}
	return ""
}

// findBackendLine returns the backend's JSON log line for a request to path
// with User-Agent ua.
func findBackendLine(logs, ua, path string) map[string]any {
	s := bufio.NewScanner(strings.NewReader(logs))
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		var line map[string]any
		if json.Unmarshal(s.Bytes(), &line) != nil {
			continue
		}
		if line["user_agent"] == ua && line["path"] == path {
			return line
		}
	}
	return nil
}
