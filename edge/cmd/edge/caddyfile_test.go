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
	if len(wrappers) != 2 || wrappers[0].(map[string]any)["wrapper"] != "layer4" || wrappers[1].(map[string]any)["wrapper"] != "tls" {
		t.Fatalf("listener wrappers = %v, want layer4 before tls", wrappers)
	}
	raw, _ := json.Marshal(wrappers[0])
	for _, want := range []string{`"sni":["turn.example.org"]`, `"handler":"tls"`, `"dial":["turn:3478"]`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("layer4 wrapper lacks %s: %s", want, raw)
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
	// doctor, patient and admin each proxy /api/* and /ws; media proxies all.
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
