package medianode

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/hcw-home/hcw/contract/nodeapi"
)

const testSecret = "0123456789abcdef-node-secret"

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    MediaNode
		wantErr string
	}{
		{
			name:  "full",
			input: "hcw_media_node {\n registry_url http://backend:8080/internal/v1/media/nodes\n secret_file /run/secrets/s\n refresh 3s\n timeout 1s\n}",
			want: MediaNode{
				RegistryURL: "http://backend:8080/internal/v1/media/nodes", SecretFile: "/run/secrets/s",
				Refresh: caddy.Duration(3 * time.Second), Timeout: caddy.Duration(time.Second),
			},
		},
		{
			name:  "secret",
			input: "hcw_media_node {\n registry_url http://b/nodes\n secret {env.SECRET}\n}",
			want:  MediaNode{RegistryURL: "http://b/nodes", Secret: "{env.SECRET}"},
		},
		{name: "empty block", input: "hcw_media_node", want: MediaNode{}},
		{name: "argument", input: "hcw_media_node http://b/nodes", wantErr: "wrong argument count"},
		{name: "unknown option", input: "hcw_media_node {\n upstream media:7880\n}", wantErr: "unrecognized"},
		{name: "missing value", input: "hcw_media_node {\n registry_url\n}", wantErr: "wrong argument count"},
		{name: "two values", input: "hcw_media_node {\n secret_file a b\n}", wantErr: "wrong argument count"},
		{name: "bad duration", input: "hcw_media_node {\n refresh soon\n}", wantErr: "refresh"},
		{name: "zero duration", input: "hcw_media_node {\n timeout 0s\n}", wantErr: "positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m MediaNode
			err := m.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.RegistryURL != tt.want.RegistryURL || m.Secret != tt.want.Secret || m.SecretFile != tt.want.SecretFile ||
				m.Refresh != tt.want.Refresh || m.Timeout != tt.want.Timeout {
				t.Fatalf("got %+v, want %+v", m, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		m       MediaNode
		wantErr string
	}{
		{name: "ok", m: MediaNode{RegistryURL: "http://b/n", SecretFile: "/s"}},
		{name: "no url", m: MediaNode{SecretFile: "/s"}, wantErr: "registry_url"},
		{name: "no secret", m: MediaNode{RegistryURL: "http://b/n"}, wantErr: "secret or secret_file"},
		{name: "both secrets", m: MediaNode{RegistryURL: "http://b/n", Secret: "x", SecretFile: "/s"}, wantErr: "exclusive"},
		{name: "fast refresh", m: MediaNode{RegistryURL: "http://b/n", Secret: "x", Refresh: caddy.Duration(time.Millisecond)}, wantErr: "refresh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.m.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// fakeRegistry is the backend's node registry: it checks the bearer
// secret, counts fetches and serves a list the test can change.
type fakeRegistry struct {
	*httptest.Server
	mu    sync.Mutex
	nodes []nodeapi.RegistryNode
	fail  bool
	hits  atomic.Int32
	auth  atomic.Value // last Authorization header
	block chan struct{}
}

func newFakeRegistry(t *testing.T, nodes ...nodeapi.RegistryNode) *fakeRegistry {
	t.Helper()
	f := &fakeRegistry{nodes: nodes}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		f.auth.Store(r.Header.Get("Authorization"))
		if r.URL.Path != nodeapi.PathNodes || !nodeapi.Authorized(r, testSecret) {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		list, fail, block := append([]nodeapi.RegistryNode(nil), f.nodes...), f.fail, f.block
		f.mu.Unlock()
		if block != nil {
			select {
			case <-block:
			case <-r.Context().Done():
			}
			return
		}
		if fail {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(nodeapi.Registry{Nodes: list})
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeRegistry) set(fn func(f *fakeRegistry)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func writeSecret(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "media_node_secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// provision provisions m as Caddy would and cleans it up with the test.
func provision(t *testing.T, m *MediaNode) {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	if err := m.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if err := m.Provision(ctx); err != nil {
		t.Fatalf("provision: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Cleanup(); err != nil {
			t.Error(err)
		}
		cancel()
	})
}

func newNode(t *testing.T, reg *fakeRegistry, refresh time.Duration) *MediaNode {
	t.Helper()
	m := &MediaNode{
		RegistryURL: reg.URL + nodeapi.PathNodes,
		SecretFile:  writeSecret(t, testSecret+"\n"),
		Refresh:     caddy.Duration(refresh),
	}
	provision(t, m)
	return m
}

type result struct {
	status   int
	code     string
	nextHit  bool
	upstream any
}

func serve(t *testing.T, m *MediaNode, path string) result {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "https://media.localhost"+path, nil)
	vars := map[string]any{}
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, vars))
	w := httptest.NewRecorder()
	var res result
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		res.nextHit = true
		res.upstream = caddyhttp.GetVar(r.Context(), UpstreamVar)
		w.WriteHeader(http.StatusSwitchingProtocols)
		return nil
	})
	if err := m.ServeHTTP(w, r, next); err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	res.status = w.Code
	if !res.nextHit {
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type = %q", path, ct)
		}
		var body struct{ Code string }
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: body %q: %v", path, w.Body.String(), err)
		}
		res.code = body.Code
	}
	return res
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRouting(t *testing.T) {
	reg := newFakeRegistry(t,
		nodeapi.RegistryNode{ID: "ms1", Upstream: "media:7880", Healthy: true},
		nodeapi.RegistryNode{ID: "ms2", Upstream: "media-2:7880", Healthy: false},
		nodeapi.RegistryNode{ID: "ms3", Upstream: "unix//run/evil.sock", Healthy: true},
	)
	m := newNode(t, reg, time.Hour)

	tests := []struct {
		path     string
		status   int
		code     string
		upstream string
	}{
		{path: "/n/ms1/signal", status: http.StatusSwitchingProtocols, upstream: "media:7880"},
		{path: "/n/ms1", status: http.StatusSwitchingProtocols, upstream: "media:7880"},
		{path: "/n/ms2/signal", status: http.StatusServiceUnavailable, code: CodeNodeUnavailable},
		{path: "/n/ms3/signal", status: http.StatusNotFound, code: CodeUnknownNode},
		{path: "/n/nope/signal", status: http.StatusNotFound, code: CodeUnknownNode},
		{path: "/n/MS1/signal", status: http.StatusNotFound, code: CodeUnknownNode},
		{path: "/n/-ms1/signal", status: http.StatusNotFound, code: CodeUnknownNode},
		{path: "/n//signal", status: http.StatusNotFound, code: CodeUnknownNode},
		{path: "/n/", status: http.StatusNotFound, code: CodeUnknownNode},
		{path: "/n/" + strings.Repeat("a", 33) + "/signal", status: http.StatusNotFound, code: CodeUnknownNode},
		{path: "/elsewhere", status: http.StatusSwitchingProtocols},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res := serve(t, m, tt.path)
			if res.status != tt.status || res.code != tt.code {
				t.Fatalf("got %d %q, want %d %q", res.status, res.code, tt.status, tt.code)
			}
			if tt.upstream != "" && res.upstream != tt.upstream {
				t.Fatalf("upstream var = %v, want %s", res.upstream, tt.upstream)
			}
			if tt.upstream == "" && res.upstream != nil {
				t.Fatalf("upstream var set to %v", res.upstream)
			}
		})
	}
}

func TestSecretSentAsBearer(t *testing.T) {
	reg := newFakeRegistry(t, nodeapi.RegistryNode{ID: "ms1", Upstream: "media:7880", Healthy: true})
	m := newNode(t, reg, time.Hour)
	if res := serve(t, m, "/n/ms1/signal"); res.upstream != "media:7880" {
		t.Fatalf("known node not routed: %+v", res)
	}
	if got := reg.auth.Load(); got != "Bearer "+testSecret {
		t.Fatalf("Authorization = %q, want the secret without its newline", got)
	}
}

func TestUnknownNodesRateLimitFetches(t *testing.T) {
	reg := newFakeRegistry(t, nodeapi.RegistryNode{ID: "ms1", Upstream: "media:7880", Healthy: true})
	m := newNode(t, reg, time.Hour)
	eventually(t, "the first fetch", func() bool { return reg.hits.Load() >= 1 })
	for range 20 {
		if res := serve(t, m, "/n/made-up/signal"); res.status != http.StatusNotFound {
			t.Fatalf("status = %d", res.status)
		}
	}
	// The background fetch plus at most one synchronous fetch a second.
	if hits := reg.hits.Load(); hits > 2 {
		t.Fatalf("%d registry fetches for 20 unknown ids, want at most 2", hits)
	}
}

func TestUnknownNodeFetchesOnce(t *testing.T) {
	reg := newFakeRegistry(t)
	m := newNode(t, reg, time.Hour)
	eventually(t, "the first fetch", func() bool { return reg.hits.Load() >= 1 })
	// A node registers between two background refreshes: the first
	// request for it fetches the registry instead of answering 404.
	reg.set(func(f *fakeRegistry) {
		f.nodes = []nodeapi.RegistryNode{{ID: "fresh", Upstream: "media-9:7880", Healthy: true}}
	})
	if res := serve(t, m, "/n/fresh/signal"); res.upstream != "media-9:7880" {
		t.Fatalf("new node not found on a miss: %+v", res)
	}
}

func TestBackgroundRefresh(t *testing.T) {
	reg := newFakeRegistry(t, nodeapi.RegistryNode{ID: "ms1", Upstream: "media:7880", Healthy: true})
	m := newNode(t, reg, 100*time.Millisecond)
	known := func(id string) bool { _, ok := m.reg.snap.Load().nodes[id]; return ok }
	eventually(t, "ms1", func() bool { return known("ms1") })

	reg.set(func(f *fakeRegistry) {
		f.nodes = append(f.nodes, nodeapi.RegistryNode{ID: "ms2", Upstream: "media-2:7880", Healthy: true})
	})
	// No request asks for ms2: only the background refresh can find it.
	eventually(t, "ms2 from the background refresh", func() bool { return known("ms2") })
	if res := serve(t, m, "/n/ms2/signal"); res.upstream != "media-2:7880" {
		t.Fatalf("ms2 not routed: %+v", res)
	}

	reg.set(func(f *fakeRegistry) { f.nodes[1].Healthy = false })
	eventually(t, "ms2 unhealthy", func() bool { return serve(t, m, "/n/ms2/signal").status == http.StatusServiceUnavailable })

	// The backend goes away: the last known nodes keep working.
	reg.set(func(f *fakeRegistry) { f.fail = true })
	before := reg.hits.Load()
	eventually(t, "failed fetches", func() bool { return reg.hits.Load() >= before+2 })
	if res := serve(t, m, "/n/ms1/signal"); res.upstream != "media:7880" {
		t.Fatalf("ms1 lost while the registry is down: %+v", res)
	}

	reg.set(func(f *fakeRegistry) { f.fail = false; f.nodes = f.nodes[1:] })
	eventually(t, "ms1 removed", func() bool { return !known("ms1") })
}

func TestKnownNodeDoesNotWaitForRegistry(t *testing.T) {
	reg := newFakeRegistry(t, nodeapi.RegistryNode{ID: "ms1", Upstream: "media:7880", Healthy: true})
	m := newNode(t, reg, 100*time.Millisecond)
	eventually(t, "ms1", func() bool { _, ok := m.reg.snap.Load().nodes["ms1"]; return ok })

	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	reg.set(func(f *fakeRegistry) { f.block = block })
	before := reg.hits.Load()
	eventually(t, "a hanging fetch", func() bool { return reg.hits.Load() > before })

	start := time.Now()
	if res := serve(t, m, "/n/ms1/signal"); res.upstream != "media:7880" {
		t.Fatalf("ms1 not routed: %+v", res)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("a known node waited %s for the registry", d)
	}
}

func TestProvisionErrors(t *testing.T) {
	tests := []struct {
		name    string
		m       MediaNode
		wantErr string
	}{
		{name: "missing secret file", m: MediaNode{RegistryURL: "http://b/n", SecretFile: "/nonexistent/secret"}, wantErr: "secret_file"},
		{name: "short secret", m: MediaNode{RegistryURL: "http://b/n", SecretFile: writeSecret(t, "short\n")}, wantErr: "shorter"},
		{name: "empty env secret", m: MediaNode{RegistryURL: "http://b/n", Secret: "{env.HCW_TEST_UNSET_SECRET}"}, wantErr: "shorter"},
		{name: "bad url", m: MediaNode{RegistryURL: "backend:8080/nodes", Secret: testSecret}, wantErr: "registry_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := tt.m.Provision(ctx)
			if err == nil {
				_ = tt.m.Cleanup()
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), testSecret) {
				t.Fatalf("error = %v, want %q (and no secret)", err, tt.wantErr)
			}
		})
	}
}

func TestSecretFromEnvPlaceholder(t *testing.T) {
	t.Setenv("HCW_TEST_NODE_SECRET", testSecret)
	reg := newFakeRegistry(t, nodeapi.RegistryNode{ID: "ms1", Upstream: "media:7880", Healthy: true})
	m := &MediaNode{RegistryURL: reg.URL + nodeapi.PathNodes, Secret: "{env.HCW_TEST_NODE_SECRET}"}
	provision(t, m)
	if res := serve(t, m, "/n/ms1/signal"); res.upstream != "media:7880" {
		t.Fatalf("ms1 not routed: %+v", res)
	}
}
