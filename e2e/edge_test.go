package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// appHosts are the three app hosts of the default deployment, with what
// their Permissions-Policy must say about the camera.
var appHosts = map[string]struct {
	app    string
	camera string
}{
	"doctor.localhost":  {"doctor", "camera=(self)"},
	"patient.localhost": {"patient", "camera=(self)"},
	"admin.localhost":   {"admin", "camera=()"},
}

func TestAppsServedOverHTTPSFromInternalCA(t *testing.T) {
	client := stack.client(t)
	for host, want := range appHosts {
		t.Run(host, func(t *testing.T) {
			resp, err := client.Get(stack.url(t, host, "/"))
			if err != nil {
				t.Fatalf("GET: %v (the certificate must chain to the edge's internal CA)", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if !strings.Contains(string(body), `data-app="`+want.app+`"`) {
				t.Fatalf("%s served something else than the %s app: %s", host, want.app, body)
			}
			if err := resp.TLS.PeerCertificates[0].VerifyHostname(host); err != nil {
				t.Fatalf("certificate: %v", err)
			}
			h := resp.Header
			for name, contains := range map[string]string{
				"Content-Security-Policy": "frame-ancestors 'none'",
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"Permissions-Policy":      want.camera,
				"Cache-Control":           "no-cache",
			} {
				if !strings.Contains(h.Get(name), contains) {
					t.Errorf("%s = %q, want it to contain %q", name, h.Get(name), contains)
				}
			}
			if strings.Contains(h.Get("Content-Security-Policy"), "unsafe-inline") {
				t.Errorf("CSP allows unsafe-inline: %s", h.Get("Content-Security-Policy"))
			}
			// localhost names get no HSTS (a developer's browser would keep it).
			if h.Get("Strict-Transport-Security") != "" {
				t.Errorf("HSTS on a localhost name: %s", h.Get("Strict-Transport-Security"))
			}
		})
	}
}

func TestSPAFallbackAndAssetCaching(t *testing.T) {
	client := stack.client(t)
	resp, err := client.Get(stack.url(t, "patient.localhost", "/i/some-deep-link"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `data-app="patient"`) {
		t.Fatalf("deep link: status %d, body %s", resp.StatusCode, body)
	}
	// The built index.html references its hashed assets under /assets/.
	i := strings.Index(string(body), `src="/assets/`)
	if i < 0 {
		t.Fatalf("no hashed script in index.html: %s", body)
	}
	asset := string(body[i+len(`src="`):])
	asset = asset[:strings.IndexByte(asset, '"')]
	req, _ := http.NewRequest(http.MethodGet, stack.url(t, "patient.localhost", asset), nil)
	req.Header.Set("Accept-Encoding", "gzip, zstd")
	resp, err = client.Transport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d", asset, resp.StatusCode)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("%s Cache-Control = %q, want immutable", asset, cc)
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "zstd" && ce != "gzip" {
		t.Errorf("%s Content-Encoding = %q, want zstd or gzip", asset, ce)
	}
}

func TestHTTPRedirectsToHTTPS(t *testing.T) {
	client := &http.Client{
		Transport:     &http.Transport{DialContext: stack.dialer(t, "80/tcp")},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for host := range appHosts {
		resp, err := client.Get("http://" + host + "/some/path?x=1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusPermanentRedirect || !strings.HasPrefix(loc, "https://"+host) || !strings.HasSuffix(loc, "/some/path?x=1") {
			t.Errorf("http://%s: status %d Location %q, want 308 to https://%s/some/path?x=1", host, resp.StatusCode, loc, host)
		}
	}
}

func TestVersionThroughEveryAppHost(t *testing.T) {
	client := stack.client(t)
	for host := range appHosts {
		resp, err := client.Get(stack.url(t, host, "/api/v1/version"))
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		}
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || v.Name != "HCW@Home" || v.Version == "" {
			t.Errorf("%s /api/v1/version: status %d, %+v, %v", host, resp.StatusCode, v, err)
		}
	}
}

func TestUnknownAPIRouteIsJSON404(t *testing.T) {
	resp, err := stack.client(t).Get(stack.url(t, "doctor.localhost", "/api/v1/no-such-thing"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != http.StatusNotFound || e.Error.Code == "" {
		t.Fatalf("status %d, code %q, %v", resp.StatusCode, e.Error.Code, err)
	}
}

// TestInviteTokenNeverLogged: an invite link's token travels in the path;
// the edge serves the patient app for it without writing it to its log.
func TestInviteTokenNeverLogged(t *testing.T) {
	token := fmt.Sprintf("e2eToken%dSecret", time.Now().UnixNano())
	resp, err := stack.client(t).Get(stack.url(t, "patient.localhost", "/i/"+token))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `data-app="patient"`) {
		t.Fatalf("invite link: %d %s", resp.StatusCode, body)
	}
	// A request after it is logged, so the log is flushed past ours.
	marker := fmt.Sprintf("/after-invite-%d", time.Now().UnixNano())
	if resp, err := stack.client(t).Get(stack.url(t, "patient.localhost", marker)); err == nil {
		resp.Body.Close()
	}
	eventually(t, 20*time.Second, func() error {
		logs, err := stack.logs(context.Background(), "edge")
		if err != nil {
			return err
		}
		if !strings.Contains(logs, marker) {
			return fmt.Errorf("edge log has not caught up")
		}
		if strings.Contains(logs, token) {
			t.Fatal("the invite token is in the edge's log")
		}
		return nil
	})
}
