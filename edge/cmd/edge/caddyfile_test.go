package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// adapt turns the shipped Caddyfile into JSON with the given environment,
// the way `edge run --config Caddyfile` does at start.
func adapt(t *testing.T, env map[string]string) map[string]any {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	body, err := os.ReadFile("../../Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(body, map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	for _, w := range warnings {
		t.Logf("adapt warning: %s", w.String())
	}
	var cfg map[string]any
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// walk calls fn for every JSON object in v.
func walk(v any, fn func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		fn(x)
		for _, c := range x {
			walk(c, fn)
		}
	case []any:
		for _, c := range x {
			walk(c, fn)
		}
	}
}

func server(t *testing.T, cfg map[string]any) map[string]any {
	t.Helper()
	servers := cfg["apps"].(map[string]any)["http"].(map[string]any)["servers"].(map[string]any)
	for _, s := range servers {
		srv := s.(map[string]any)
		if l, _ := srv["listen"].([]any); len(l) == 1 && l[0] == ":443" {
			return srv
		}
	}
	t.Fatalf("no :443 server in %v", servers)
	return nil
}

func TestCaddyfileTURNOverTLSShares443(t *testing.T) {
	cfg := adapt(t, map[string]string{"HCW_TURN_HOST": "turn.example.org", "HCW_TURN_UPSTREAM": "turn:3478"})
	srv := server(t, cfg)
	wrappers := srv["listener_wrappers"].([]any)
	if len(wrappers) != 2 || wrappers[0].(map[string]any)["wrapper"] != "hcw_turn_tls" || wrappers[1].(map[string]any)["wrapper"] != "tls" {
		t.Fatalf("listener wrappers = %v, want hcw_turn_tls before tls", wrappers)
	}
	raw, _ := json.Marshal(wrappers[0])
	for _, want := range []string{`"server_names":["turn.example.org"]`, `"upstream":"turn:3478"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("hcw_turn_tls wrapper lacks %s: %s", want, raw)
		}
	}
}

func TestCaddyfileTrustedProxiesFromEnv(t *testing.T) {
	cfg := adapt(t, map[string]string{"HCW_TRUSTED_PROXIES": "10.1.0.0/16, 192.0.2.7"})
	srv := server(t, cfg)
	tp := srv["trusted_proxies"].(map[string]any)
	if tp["source"] != "hcw_trusted_proxies" || tp["list"] != "10.1.0.0/16, 192.0.2.7" {
		t.Fatalf("trusted_proxies = %v", tp)
	}
}

func TestCaddyfileEveryProxyKeepsStreamsAndSetsPort(t *testing.T) {
	cfg := adapt(t, nil)
	var proxies int
	walk(cfg, func(m map[string]any) {
		if m["handler"] != "reverse_proxy" {
			return
		}
		proxies++
		if m["stream_close_delay"] == nil {
			t.Errorf("reverse_proxy without stream_close_delay: %v", m)
		}
		raw, _ := json.Marshal(m["headers"])
		if !strings.Contains(string(raw), "X-Forwarded-Port") {
			t.Errorf("reverse_proxy without X-Forwarded-Port: %s", raw)
		}
	})
	// doctor, patient and admin each proxy /api/* and /ws; media proxies
	// /n/* to the node its registry names.
	if proxies != 7 {
		t.Fatalf("found %d reverse_proxy handlers, want 7", proxies)
	}
}

func TestCaddyfileHostsFromEnv(t *testing.T) {
	cfg := adapt(t, map[string]string{
		"HCW_DOCTOR_HOST":  "healthcare.example.org",
		"HCW_PATIENT_HOST": "app.example.org",
		"HCW_ADMIN_HOST":   "admin.example.org",
		"HCW_MEDIA_HOST":   "ms1.example.org",
		"HCW_TURN_HOST":    "turn.example.org",
	})
	raw, _ := json.Marshal(cfg)
	for _, h := range []string{"healthcare.example.org", "app.example.org", "admin.example.org", "ms1.example.org", "turn.example.org"} {
		if !strings.Contains(string(raw), `"`+h+`"`) {
			t.Errorf("config does not serve %s", h)
		}
	}
	for _, h := range []string{"doctor", "patient", "admin", "media", "turn"} {
		if strings.Contains(string(raw), h+".localhost") {
			t.Errorf("the default %s.localhost survived the overrides", h)
		}
	}
	if !strings.Contains(string(raw), "wss://ms1.example.org") {
		t.Errorf("CSP connect-src does not name the media host")
	}
}

// hostHeaders collects the response headers the route for host sets.
func hostHeaders(t *testing.T, cfg map[string]any, host string) string {
	t.Helper()
	var found string
	srv := server(t, cfg)
	for _, r := range srv["routes"].([]any) {
		route := r.(map[string]any)
		raw, _ := json.Marshal(route["match"])
		if !strings.Contains(string(raw), `"`+host+`"`) {
			continue
		}
		walk(route, func(m map[string]any) {
			if m["handler"] == "headers" {
				b, _ := json.Marshal(m)
				found += string(b)
			}
		})
	}
	if found == "" {
		t.Fatalf("no header handlers for %s", host)
	}
	return found
}

func TestCaddyfileSecurityHeadersPerApp(t *testing.T) {
	cfg := adapt(t, nil)
	for host, policy := range map[string]string{
		"doctor.localhost":  "camera=(self), microphone=(self)",
		"patient.localhost": "camera=(self), microphone=(self)",
		"admin.localhost":   "camera=(), microphone=()",
	} {
		h := hostHeaders(t, cfg, host)
		for _, want := range []string{policy, "frame-ancestors 'none'", "script-src 'self'", `"X-Content-Type-Options":["nosniff"]`, `"Referrer-Policy":["no-referrer"]`, "immutable", "no-cache", "Strict-Transport-Security"} {
			if !strings.Contains(h, want) {
				t.Errorf("%s headers lack %q", host, want)
			}
		}
	}
}

func TestCaddyfileInternalTLSMode(t *testing.T) {
	cfg := adapt(t, map[string]string{"HCW_TLS_MODE": "internal", "HCW_DOCTOR_HOST": "doctor.clinic.lan"})
	raw, _ := json.Marshal(cfg["apps"].(map[string]any)["tls"])
	if !strings.Contains(string(raw), `"module":"internal"`) || !strings.Contains(string(raw), "doctor.clinic.lan") {
		t.Fatalf("tls app = %s, want the internal issuer for doctor.clinic.lan", raw)
	}
}

// TestCaddyfileInviteLinksNotLogged: /i/<token> on every app host sets
// log_skip, so an invite token never reaches the access log.
func TestCaddyfileInviteLinksNotLogged(t *testing.T) {
	cfg := adapt(t, nil)
	for _, host := range []string{"doctor.localhost", "patient.localhost", "admin.localhost"} {
		var found bool
		srv := server(t, cfg)
		for _, r := range srv["routes"].([]any) {
			route := r.(map[string]any)
			raw, _ := json.Marshal(route["match"])
			if !strings.Contains(string(raw), `"`+host+`"`) {
				continue
			}
			walk(route, func(m map[string]any) {
				if m["log_skip"] != true {
					return
				}
				found = true
			})
			b, _ := json.Marshal(route)
			if found && !strings.Contains(string(b), `"path":["/i/*"]`) {
				t.Errorf("%s: log_skip is not limited to /i/*", host)
			}
		}
		if !found {
			t.Errorf("%s: no log_skip for invite links", host)
		}
	}
}

// mediaRoute returns the :443 server's route for the media host.
func mediaRoute(t *testing.T, cfg map[string]any, host string) map[string]any {
	t.Helper()
	for _, r := range server(t, cfg)["routes"].([]any) {
		route := r.(map[string]any)
		raw, _ := json.Marshal(route["match"])
		if strings.Contains(string(raw), `"`+host+`"`) {
			return route
		}
	}
	t.Fatalf("no route for %s", host)
	return nil
}

// TestCaddyfileMediaSignalling: on the media host, /n/* goes through the
// grant check and the node lookup to a reverse_proxy whose upstream is the
// variable the lookup sets; nothing else is proxied.
func TestCaddyfileMediaSignalling(t *testing.T) {
	for name, tt := range map[string]struct {
		env                    map[string]string
		jwks, registry, secret string
	}{
		"defaults": {
			jwks:     "http://backend:8080/api/v1/media/jwks",
			registry: "http://backend:8080/internal/v1/media/nodes",
			secret:   "/run/secrets/media/media_node_secret",
		},
		"from env": {
			env: map[string]string{
				"HCW_MEDIA_JWKS_URL":         "http://api.internal:9000/api/v1/media/jwks",
				"HCW_MEDIA_REGISTRY_URL":     "http://api.internal:9000/internal/v1/media/nodes",
				"HCW_MEDIA_NODE_SECRET_FILE": "/secrets/node",
			},
			jwks:     "http://api.internal:9000/api/v1/media/jwks",
			registry: "http://api.internal:9000/internal/v1/media/nodes",
			secret:   "/secrets/node",
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := adapt(t, tt.env)
			route := mediaRoute(t, cfg, "media.localhost")

			var chains [][]map[string]any
			walk(route, func(m map[string]any) {
				handle, ok := m["handle"].([]any)
				if !ok {
					return
				}
				var chain []map[string]any
				for _, h := range handle {
					chain = append(chain, h.(map[string]any))
				}
				for _, h := range chain {
					if h["handler"] == "reverse_proxy" {
						chains = append(chains, chain)
					}
				}
			})
			if len(chains) != 1 {
				t.Fatalf("media host has %d proxying chains, want 1", len(chains))
			}
			chain := chains[0]
			if len(chain) != 3 || chain[0]["handler"] != "hcw_media_grant" || chain[1]["handler"] != "hcw_media_node" || chain[2]["handler"] != "reverse_proxy" {
				t.Fatalf("media chain = %v, want hcw_media_grant, hcw_media_node, reverse_proxy", chain)
			}
			if chain[0]["jwks_url"] != tt.jwks {
				t.Errorf("jwks_url = %v, want %s", chain[0]["jwks_url"], tt.jwks)
			}
			if chain[1]["registry_url"] != tt.registry || chain[1]["secret_file"] != tt.secret {
				t.Errorf("hcw_media_node = %v, want %s and %s", chain[1], tt.registry, tt.secret)
			}
			raw, _ := json.Marshal(chain[2]["upstreams"])
			if string(raw) != `[{"dial":"{http.vars.hcw_media_upstream}"}]` {
				t.Errorf("upstreams = %s, want the variable hcw_media_node sets", raw)
			}

			b, _ := json.Marshal(route)
			if !strings.Contains(string(b), `"path":["/n/*"]`) {
				t.Errorf("the media chain is not limited to /n/*: %s", b)
			}
			if !strings.Contains(string(b), `"status_code":404`) {
				t.Errorf("the media host does not answer 404 outside /n/*")
			}
			if all, _ := json.Marshal(cfg); strings.Contains(string(all), "media:7880") {
				t.Errorf("something still proxies to a fixed media node")
			}
		})
	}
}

// TestCaddyfileMediaAccessLogDropsGrant: the grant rides in
// Sec-WebSocket-Protocol, so the media host's access log deletes that
// header and the default log never takes the media host's access entries.
func TestCaddyfileMediaAccessLogDropsGrant(t *testing.T) {
	cfg := adapt(t, nil)
	names := server(t, cfg)["logs"].(map[string]any)["logger_names"].(map[string]any)["media.localhost"].([]any)
	if len(names) != 1 || names[0] == "" {
		t.Fatalf("media.localhost loggers = %v, want one named logger", names)
	}
	logs := cfg["logging"].(map[string]any)["logs"].(map[string]any)
	name := names[0].(string)
	media, _ := logs[name].(map[string]any)
	enc, _ := media["encoder"].(map[string]any)
	fields, _ := enc["fields"].(map[string]any)
	filter, _ := fields["request>headers>Sec-Websocket-Protocol"].(map[string]any)
	if enc["format"] != "filter" || filter["filter"] != "delete" {
		t.Errorf("media access log %s does not delete Sec-Websocket-Protocol: %v", name, media)
	}
	def, _ := json.Marshal(logs["default"])
	if !strings.Contains(string(def), `"http.log.access.`+name+`"`) {
		t.Errorf("the default log does not exclude the media access log: %s", def)
	}
}
