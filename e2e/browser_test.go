package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds Debian's Chromium (or $HCW_CHROMIUM).
func chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("HCW_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found: install Debian's chromium or set HCW_CHROMIUM")
	return ""
}

// spkiHashes are the base64 SHA-256 hashes of the edge CA's public keys,
// the form Chromium's --ignore-certificate-errors-spki-list takes: the
// browser then trusts exactly this appliance's CA, like a user who imported
// root.crt, and nothing else.
func spkiHashes(t testing.TB) string {
	var hashes []string
	for _, path := range []string{"/data/caddy/pki/authorities/local/root.crt", "/data/caddy/pki/authorities/local/intermediate.crt"} {
		block, _ := pem.Decode(stack.readFile(t, "edge", path))
		if block == nil {
			t.Fatalf("%s: no PEM", path)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
		hashes = append(hashes, base64.StdEncoding.EncodeToString(sum[:]))
	}
	return strings.Join(hashes, ",")
}

// edgeHost is the host address the edge's HTTPS port is published on.
func edgeHost(t testing.TB) string {
	host, _, err := net.SplitHostPort(stack.hostPort(t, "edge", "443/tcp"))
	if err != nil {
		t.Fatal(err)
	}
	return host
}

// TestAppsLoadInChromium opens each app in a real browser, which enforces
// the edge's Content-Security-Policy: the app's script must run and show
// the backend version it fetched.
func TestAppsLoadInChromium(t *testing.T) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", spkiHashes(t)),
		// *.localhost to the address the edge's port was published on, and
		// only that: Chromium would try [::1] first, and Docker 20.10 gives
		// a random port's IPv6 binding a number of its own, which may be
		// another container's port (ERR_SSL_PROTOCOL_ERROR).
		chromedp.Flag("host-resolver-rules", "MAP *.localhost "+edgeHost(t)),
	)
	allocCtx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	browser, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	if err := chromedp.Do(browser, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}

	for host, want := range appHosts {
		t.Run(host, func(t *testing.T) {
			tab, cancel := chromedp.NewContext(browser)
			defer cancel()
			ctx, cancel := context.WithTimeout(tab, 30*time.Second)
			defer cancel()
			err := chromedp.Do(ctx,
				chromedp.Navigate(stack.url(t, host, "/")),
			)
			if err != nil {
				t.Fatalf("load %s: %v", host, err)
			}
			// Poll returns once the expression is truthy: the app replaced
			// the loading mark with what it fetched.
			if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const e = document.getElementById("backend-version"); return !!e && e.textContent !== "…" && e.textContent !== ""; })()`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
				t.Fatalf("%s: the app never showed a version: %v", host, err)
			}
			version, err := chromedp.Run(ctx, chromedp.Text("#backend-version"))
			if err != nil {
				t.Fatal(err)
			}
			attr, err := chromedp.Run(ctx, chromedp.AttributeValue("body", "data-app"))
			if err != nil {
				t.Fatal(err)
			}
			if app := attr.Value; app != want.app {
				t.Fatalf("data-app = %q, want %q", app, want.app)
			}
			if version == "" || strings.Contains(version, "unavailable") {
				t.Fatalf("#backend-version = %q: the app could not fetch /api/v1/version", version)
			}
		})
	}
}
