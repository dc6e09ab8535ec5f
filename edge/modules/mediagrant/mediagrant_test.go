package mediagrant

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hcw-home/hcw/contract/grant"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    MediaGrant
		wantErr string
	}{
		{
			name:  "full",
			input: "hcw_media_grant {\n jwks_url http://backend:8080/api/v1/media/jwks\n refresh 10m\n unknown_kid_refresh 30s\n timeout 2s\n}",
			want: MediaGrant{
				JWKSURL: "http://backend:8080/api/v1/media/jwks", Refresh: caddy.Duration(10 * time.Minute),
				UnknownKidRefresh: caddy.Duration(30 * time.Second), Timeout: caddy.Duration(2 * time.Second),
			},
		},
		{name: "url only", input: "hcw_media_grant {\n jwks_url http://b/jwks\n}", want: MediaGrant{JWKSURL: "http://b/jwks"}},
		{name: "no block", input: "hcw_media_grant", want: MediaGrant{}},
		{name: "argument", input: "hcw_media_grant http://b/jwks", wantErr: "wrong argument count"},
		{name: "unknown option", input: "hcw_media_grant {\n audience x\n}", wantErr: "unrecognized"},
		{name: "missing value", input: "hcw_media_grant {\n jwks_url\n}", wantErr: "wrong argument count"},
		{name: "two values", input: "hcw_media_grant {\n jwks_url a b\n}", wantErr: "wrong argument count"},
		{name: "bad duration", input: "hcw_media_grant {\n refresh often\n}", wantErr: "refresh"},
		{name: "negative duration", input: "hcw_media_grant {\n timeout -1s\n}", wantErr: "positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g MediaGrant
			err := g.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.JWKSURL != tt.want.JWKSURL || g.Refresh != tt.want.Refresh || g.UnknownKidRefresh != tt.want.UnknownKidRefresh || g.Timeout != tt.want.Timeout {
				t.Fatalf("got %+v, want %+v", g, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for name, tt := range map[string]struct {
		g       MediaGrant
		wantErr string
	}{
		"ok":           {g: MediaGrant{JWKSURL: "http://b/jwks"}},
		"no url":       {g: MediaGrant{}, wantErr: "jwks_url"},
		"negative":     {g: MediaGrant{JWKSURL: "http://b/jwks", Timeout: -1}, wantErr: "negative"},
		"fast refresh": {g: MediaGrant{JWKSURL: "http://b/jwks", Refresh: caddy.Duration(time.Millisecond)}, wantErr: "refresh"},
	} {
		t.Run(name, func(t *testing.T) {
			err := tt.g.Validate()
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

// fakeJWKS is the backend's key endpoint; it serves the keys the test sets
// (none: 503) and counts fetches.
type fakeJWKS struct {
	*httptest.Server
	mu   sync.Mutex
	keys []ed25519.PublicKey
	hits atomic.Int32
}

func newFakeJWKS(t *testing.T, keys ...ed25519.PublicKey) *fakeJWKS {
	t.Helper()
	f := &fakeJWKS{keys: keys}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		f.mu.Lock()
		keys := f.keys
		f.mu.Unlock()
		if len(keys) == 0 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(grant.NewJWKS(keys...))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeJWKS) setKeys(keys ...ed25519.PublicKey) {
	f.mu.Lock()
	f.keys = keys
	f.mu.Unlock()
}

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func sign(t *testing.T, key ed25519.PrivateKey, node string, now time.Time) string {
	t.Helper()
	c := grant.Claims{
		Room:    "consultation-1",
		Node:    node,
		Name:    "Patient",
		Role:    "patient",
		Sources: []string{grant.SourceCamera, grant.SourceMicrophone},
	}
	c.Subject = "participant-1"
	tok, err := grant.Sign(key, c, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// unsigned returns a grant with alg "none" and otherwise valid claims.
func unsigned(node string) string {
	enc := base64.RawURLEncoding.EncodeToString
	header, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	claims, _ := json.Marshal(map[string]any{
		"iss": grant.Issuer, "aud": []string{grant.Audience}, "sub": "participant-1",
		"exp": time.Now().Add(time.Minute).Unix(), "room": "consultation-1", "node": node, "role": "patient",
	})
	return enc(header) + "." + enc(claims) + "."
}

func provision(t *testing.T, g *MediaGrant) *observer.ObservedLogs {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	if err := g.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if err := g.Provision(ctx); err != nil {
		t.Fatalf("provision: %v", err)
	}
	t.Cleanup(func() {
		if err := g.Cleanup(); err != nil {
			t.Error(err)
		}
		cancel()
	})
	// Record everything logged from here on, to prove no token is.
	core, logs := observer.New(zap.DebugLevel)
	g.logger = zap.New(core)
	g.keys.logger = g.logger
	return logs
}

type request struct {
	method    string
	path      string
	upgrade   bool
	protocols []string
}

type result struct {
	status  int
	code    string
	nextHit bool
}

func serve(t *testing.T, g *MediaGrant, rq request, nextErr error) result {
	t.Helper()
	method := rq.method
	if method == "" {
		method = http.MethodGet
	}
	r := httptest.NewRequest(http.MethodGet, "https://media.localhost"+rq.path, nil)
	// Set afterwards: an HTTP/2 extended CONNECT has a path, which a
	// parsed HTTP/1 CONNECT line would not.
	r.Method = method
	if rq.upgrade {
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Sec-WebSocket-Version", "13")
		r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	}
	if len(rq.protocols) > 0 {
		r.Header.Set("Sec-WebSocket-Protocol", strings.Join(rq.protocols, ", "))
	}
	want := r.Header.Clone()
	w := httptest.NewRecorder()
	var res result
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		res.nextHit = true
		for k, v := range want {
			if strings.Join(r.Header[k], ",") != strings.Join(v, ",") {
				t.Errorf("header %s changed on the way to the node: %v", k, r.Header[k])
			}
		}
		if nextErr != nil {
			return nextErr
		}
		w.WriteHeader(http.StatusSwitchingProtocols)
		return nil
	})
	if err := g.ServeHTTP(w, r, next); err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	res.status = w.Code
	if !res.nextHit || nextErr != nil {
		var body struct{ Code string }
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("body %q: %v", w.Body.String(), err)
		}
		res.code = body.Code
	}
	return res
}

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

func TestGrants(t *testing.T) {
	pub, priv := newKey(t)
	_, otherPriv := newKey(t)
	jwks := newFakeJWKS(t, pub)
	g := &MediaGrant{JWKSURL: jwks.URL + "/api/v1/media/jwks"}
	logs := provision(t, g)

	now := time.Now()
	valid := sign(t, priv, "ms1", now)
	tokens := map[string]string{
		"valid":     valid,
		"expired":   sign(t, priv, "ms1", now.Add(-time.Hour)),
		"other key": sign(t, otherPriv, "ms1", now),
		"elsewhere": sign(t, priv, "ms2", now),
		"alg none":  unsigned("ms1"),
		"garbage":   "not-a-jwt",
		"truncated": valid[:len(valid)-10],
	}
	offer := func(name string) []string {
		return []string{grant.Subprotocol, grant.SubprotocolPrefix + tokens[name]}
	}

	tests := []struct {
		name   string
		req    request
		status int
		code   string
	}{
		{name: "valid", req: request{path: "/n/ms1/signal", upgrade: true, protocols: offer("valid")}, status: http.StatusSwitchingProtocols},
		{name: "valid, grant first", req: request{path: "/n/ms1/signal", upgrade: true, protocols: []string{grant.SubprotocolPrefix + valid, grant.Subprotocol}}, status: http.StatusSwitchingProtocols},
		{name: "no grant", req: request{path: "/n/ms1/signal", upgrade: true, protocols: []string{grant.Subprotocol}}, status: http.StatusUnauthorized, code: "grant_invalid"},
		{name: "no protocols at all", req: request{path: "/n/ms1/signal", upgrade: true}, status: http.StatusBadRequest, code: CodeProtocolRequired},
		{name: "grant without the protocol", req: request{path: "/n/ms1/signal", upgrade: true, protocols: []string{grant.SubprotocolPrefix + valid}}, status: http.StatusBadRequest, code: CodeProtocolRequired},
		{name: "garbage", req: request{path: "/n/ms1/signal", upgrade: true, protocols: offer("garbage")}, status: http.StatusUnauthorized, code: "grant_invalid"},
		{name: "truncated signature", req: request{path: "/n/ms1/signal", upgrade: true, protocols: offer("truncated")}, status: http.StatusUnauthorized, code: "grant_invalid"},
		{name: "expired", req: request{path: "/n/ms1/signal", upgrade: true, protocols: offer("expired")}, status: http.StatusUnauthorized, code: "grant_expired"},
		{name: "signed by another key", req: request{path: "/n/ms1/signal", upgrade: true, protocols: offer("other key")}, status: http.StatusUnauthorized, code: "grant_invalid"},
		{name: "alg none", req: request{path: "/n/ms1/signal", upgrade: true, protocols: offer("alg none")}, status: http.StatusUnauthorized, code: "grant_invalid"},
		{name: "wrong node", req: request{path: "/n/ms1/signal", upgrade: true, protocols: offer("elsewhere")}, status: http.StatusForbidden, code: "wrong_node"},
		{name: "valid for the node in the path", req: request{path: "/n/ms2/signal", upgrade: true, protocols: offer("elsewhere")}, status: http.StatusSwitchingProtocols},
		{name: "upgrade on another node path", req: request{path: "/n/ms1/other", upgrade: true, protocols: []string{grant.Subprotocol}}, status: http.StatusUnauthorized, code: "grant_invalid"},
		{name: "upgrade via dot segments", req: request{path: "/n/ms1/x/../signal", upgrade: true, protocols: offer("elsewhere")}, status: http.StatusForbidden, code: "wrong_node"},
		{name: "extended CONNECT", req: request{method: http.MethodConnect, path: "/n/ms1/signal", protocols: []string{grant.Subprotocol}}, status: http.StatusUnauthorized, code: "grant_invalid"},
		{name: "upgrade with a bad node id", req: request{path: "/n/MS1/signal", upgrade: true, protocols: offer("valid")}, status: http.StatusNotFound, code: CodeUnknownNode},
		{name: "plain GET of signal", req: request{path: "/n/ms1/signal"}, status: http.StatusUpgradeRequired, code: CodeUpgradeRequired},
		{name: "plain GET of signal, dot segment", req: request{path: "/n/ms1/./signal"}, status: http.StatusUpgradeRequired, code: CodeUpgradeRequired},
		{name: "plain GET elsewhere on the node", req: request{path: "/n/ms1/health"}, status: http.StatusSwitchingProtocols},
		{name: "outside /n/", req: request{path: "/api/v1/x", upgrade: true}, status: http.StatusSwitchingProtocols},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := serve(t, g, tt.req, nil)
			if res.status != tt.status || res.code != tt.code {
				t.Fatalf("got %d %q, want %d %q", res.status, res.code, tt.status, tt.code)
			}
			if res.nextHit != (tt.code == "") {
				t.Fatalf("next called = %v for a %d", res.nextHit, tt.status)
			}
		})
	}

	raw, _ := json.Marshal(logs.All())
	for _, e := range logs.All() {
		b, _ := json.Marshal(e.ContextMap())
		raw = append(raw, b...)
		raw = append(raw, e.Message...)
	}
	for name, tok := range tokens {
		if sig := tok[strings.LastIndex(tok, ".")+1:]; len(sig) > 8 && strings.Contains(string(raw), sig) {
			t.Errorf("the %s token was logged", name)
		}
	}
}

func TestKeysUnavailableUntilBackendAnswers(t *testing.T) {
	old := retryMin
	retryMin = 20 * time.Millisecond
	t.Cleanup(func() { retryMin = old })

	pub, priv := newKey(t)
	jwks := newFakeJWKS(t) // the backend is still starting
	g := &MediaGrant{JWKSURL: jwks.URL}
	provision(t, g)

	req := request{path: "/n/ms1/signal", upgrade: true, protocols: []string{grant.Subprotocol, grant.SubprotocolPrefix + sign(t, priv, "ms1", time.Now())}}
	if res := serve(t, g, req, nil); res.status != http.StatusServiceUnavailable || res.code != CodeKeysUnavailable {
		t.Fatalf("before keys: got %d %q", res.status, res.code)
	}
	// Refusals that need no key do not wait for one.
	if res := serve(t, g, request{path: "/n/ms1/signal", upgrade: true, protocols: []string{grant.Subprotocol}}, nil); res.status != http.StatusUnauthorized {
		t.Fatalf("no grant before keys: got %d", res.status)
	}

	jwks.setKeys(pub)
	eventually(t, "keys from the background retry", func() bool {
		return serve(t, g, req, nil).status == http.StatusSwitchingProtocols
	})
}

func TestUnknownKidRefreshesOncePerInterval(t *testing.T) {
	pubA, privA := newKey(t)
	pubB, privB := newKey(t)
	pubC, privC := newKey(t)
	jwks := newFakeJWKS(t, pubA)
	g := &MediaGrant{JWKSURL: jwks.URL, UnknownKidRefresh: caddy.Duration(time.Hour)}
	provision(t, g)
	upgrade := func(key ed25519.PrivateKey) result {
		return serve(t, g, request{path: "/n/ms1/signal", upgrade: true, protocols: []string{grant.Subprotocol, grant.SubprotocolPrefix + sign(t, key, "ms1", time.Now())}}, nil)
	}
	if res := upgrade(privA); res.status != http.StatusSwitchingProtocols {
		t.Fatalf("key A: %d %q", res.status, res.code)
	}

	// The backend rotates to B: the first grant signed with B makes the
	// edge fetch the set again.
	jwks.setKeys(pubB, pubA)
	before := jwks.hits.Load()
	if res := upgrade(privB); res.status != http.StatusSwitchingProtocols {
		t.Fatalf("key B after rotation: %d %q", res.status, res.code)
	}
	if got := jwks.hits.Load() - before; got != 1 {
		t.Fatalf("%d fetches for a new kid, want 1", got)
	}

	// Another rotation within the interval is not fetched early.
	jwks.setKeys(pubC, pubB)
	before = jwks.hits.Load()
	for range 5 {
		if res := upgrade(privC); res.status != http.StatusUnauthorized {
			t.Fatalf("key C within the interval: %d", res.status)
		}
	}
	if got := jwks.hits.Load() - before; got != 0 {
		t.Fatalf("%d fetches within the interval, want 0", got)
	}
}

func TestUpstreamFailureAnsweredWithoutRequestLog(t *testing.T) {
	pub, priv := newKey(t)
	g := &MediaGrant{JWKSURL: newFakeJWKS(t, pub).URL}
	logs := provision(t, g)
	tok := sign(t, priv, "ms1", time.Now())
	req := request{path: "/n/ms1/signal", upgrade: true, protocols: []string{grant.Subprotocol, grant.SubprotocolPrefix + tok}}
	res := serve(t, g, req, caddyhttp.Error(http.StatusBadGateway, errors.New("dial tcp 10.0.0.9:7880: connection refused")))
	if res.status != http.StatusBadGateway || res.code != CodeNodeUnreachable {
		t.Fatalf("got %d %q", res.status, res.code)
	}
	if logs.FilterMessage("signalling upgrade failed").Len() != 1 {
		t.Fatalf("upstream failure not logged: %v", logs.All())
	}
}

func TestProvisionBadURL(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	g := &MediaGrant{JWKSURL: "backend:8080/jwks"}
	if err := g.Provision(ctx); err == nil || !strings.Contains(err.Error(), "jwks_url") {
		_ = g.Cleanup()
		t.Fatalf("error = %v", err)
	}
}
