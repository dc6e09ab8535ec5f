package main

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // RFC 6455 mandates SHA-1 for Sec-WebSocket-Accept
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/nodeapi"
)

const integrationSecret = "integration-node-secret-0123456789"

// wsNode is a media node's signalling endpoint: it accepts a WebSocket
// upgrade on /n/<id>/signal, echoes one line and counts every request.
type wsNode struct {
	*httptest.Server
	hits      atomic.Int32
	protocols atomic.Value
}

func newWSNode(t *testing.T, id string) *wsNode {
	t.Helper()
	n := &wsNode{}
	n.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.hits.Add(1)
		if r.URL.Path != "/n/"+id+"/signal" || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "not a signalling upgrade", http.StatusBadRequest)
			return
		}
		n.protocols.Store(r.Header.Get("Sec-WebSocket-Protocol"))
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")) //nolint:gosec
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
			base64.StdEncoding.EncodeToString(sum[:]), grant.Subprotocol)
		_ = rw.Flush()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		line, err := rw.ReadString('\n')
		if err != nil {
			return
		}
		_, _ = rw.WriteString("echo " + line)
		_ = rw.Flush()
	}))
	t.Cleanup(n.Close)
	return n
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// upgrade opens a signalling WebSocket through the edge and, when it is
// accepted, sends one line and returns the node's echo.
func upgrade(t *testing.T, port int, path string, protocols ...string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://localhost:%d%s", port, path), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if len(protocols) > 0 {
		req.Header.Set("Sec-WebSocket-Protocol", strings.Join(protocols, ", "))
	}
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		var body struct{ Code string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		return resp.StatusCode, body.Code
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != grant.Subprotocol {
		t.Errorf("selected protocol = %q", got)
	}
	if _, err := conn.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("read echo: %v", err)
	}
	return resp.StatusCode, strings.TrimSpace(line)
}

// TestMediaSignallingThroughEdge runs the edge with the media route and
// proves a valid grant's upgrade reaches the node the registry names while
// refused ones never reach it.
func TestMediaSignallingThroughEdge(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an edge")
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, otherPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	node := newWSNode(t, "ms1")
	deadPort := freePort(t) // a node listed healthy that has gone away
	nodeAddr := strings.TrimPrefix(node.URL, "http://")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case nodeapi.PathJWKS:
			_ = json.NewEncoder(w).Encode(grant.NewJWKS(pub))
		case nodeapi.PathNodes:
			if !nodeapi.Authorized(r, integrationSecret) {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			_ = json.NewEncoder(w).Encode(nodeapi.Registry{Nodes: []nodeapi.RegistryNode{
				{ID: "ms1", Upstream: nodeAddr, Healthy: true},
				{ID: "ms2", Upstream: "127.0.0.1:1", Healthy: false},
				{ID: "ms3", Upstream: fmt.Sprintf("127.0.0.1:%d", deadPort), Healthy: true},
			}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(backend.Close)

	secretFile := filepath.Join(t.TempDir(), "media_node_secret")
	if err := os.WriteFile(secretFile, []byte(integrationSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	admin, httpPort, httpsPort := freePort(t), freePort(t), freePort(t)
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: admin})
	tester.InitServer(fmt.Sprintf(`
{
	admin localhost:%d
	http_port %d
	https_port %d
	auto_https off
	skip_install_trust
	grace_period 1s
}
http://localhost:%d {
	route /n/* {
		hcw_media_grant {
			jwks_url %s%s
		}
		hcw_media_node {
			registry_url %s%s
			secret_file %s
			refresh 1s
		}
		reverse_proxy {http.vars.hcw_media_upstream} {
			stream_close_delay 1s
		}
	}
	respond 404
}
`, admin, httpPort, httpsPort, httpPort, backend.URL, nodeapi.PathJWKS, backend.URL, nodeapi.PathNodes, secretFile), "caddyfile")
	if t.Failed() {
		t.FailNow()
	}

	now := time.Now()
	offer := func(key ed25519.PrivateKey, nodeID string, at time.Time) []string {
		c := grant.Claims{Room: "consultation-1", Node: nodeID, Role: "patient", Sources: []string{grant.SourceMicrophone}}
		c.Subject = "participant-1"
		tok, err := grant.Sign(key, c, at)
		if err != nil {
			t.Fatal(err)
		}
		return []string{grant.Subprotocol, grant.SubprotocolPrefix + tok}
	}

	refused := []struct {
		name      string
		path      string
		protocols []string
		status    int
		code      string
	}{
		{name: "no grant", path: "/n/ms1/signal", protocols: []string{grant.Subprotocol}, status: http.StatusUnauthorized, code: "grant_invalid"},
		{name: "another key", path: "/n/ms1/signal", protocols: offer(otherPriv, "ms1", now), status: http.StatusUnauthorized, code: "grant_invalid"},
		{name: "expired", path: "/n/ms1/signal", protocols: offer(priv, "ms1", now.Add(-time.Hour)), status: http.StatusUnauthorized, code: "grant_expired"},
		{name: "another node", path: "/n/ms1/signal", protocols: offer(priv, "ms2", now), status: http.StatusForbidden, code: "wrong_node"},
		{name: "unhealthy node", path: "/n/ms2/signal", protocols: offer(priv, "ms2", now), status: http.StatusServiceUnavailable, code: "node_unavailable"},
		{name: "unknown node", path: "/n/ms9/signal", protocols: offer(priv, "ms9", now), status: http.StatusNotFound, code: "unknown_node"},
		{name: "node gone", path: "/n/ms3/signal", protocols: offer(priv, "ms3", now), status: http.StatusBadGateway, code: "node_unreachable"},
		{name: "outside /n/", path: "/signal", protocols: offer(priv, "ms1", now), status: http.StatusNotFound},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			status, code := upgrade(t, httpPort, tt.path, tt.protocols...)
			if status != tt.status || code != tt.code {
				t.Fatalf("got %d %q, want %d %q", status, code, tt.status, tt.code)
			}
		})
	}
	if hits := node.hits.Load(); hits != 0 {
		t.Fatalf("refused upgrades reached the node %d times", hits)
	}

	valid := offer(priv, "ms1", now)
	status, echo := upgrade(t, httpPort, "/n/ms1/signal", valid...)
	if status != http.StatusSwitchingProtocols || echo != "echo hello" {
		t.Fatalf("valid upgrade: %d %q", status, echo)
	}
	if hits := node.hits.Load(); hits != 1 {
		t.Fatalf("node saw %d requests, want 1", hits)
	}
	if got, _ := node.protocols.Load().(string); got != strings.Join(valid, ", ") {
		t.Fatalf("node got Sec-WebSocket-Protocol %q, want the client's offer", got)
	}
}
