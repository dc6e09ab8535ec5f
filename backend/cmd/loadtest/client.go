package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// edge reaches the appliance's app hosts the way a browser on the
// appliance's own machine does: *.localhost goes to 127.0.0.1 on the URL's
// port, and TLS trusts only the edge's internal CA root.
type edge struct {
	port string
	// connect, when set, is the address every connection goes to instead
	// of 127.0.0.1 on the URL's port (the edge container's own address,
	// past Docker's userland proxy); names, SNI and origins stay the URL's.
	connect string
	roots   *x509.CertPool
	// api carries the REST calls (HTTP/2, kept alive, like one browser
	// talking to the edge).
	api *http.Client
	// ws opens sockets: HTTP/1.1, one TLS connection per socket, with
	// session resumption (as a browser that already called the API has)
	// when asked for.
	ws *http.Client
}

func newEdge(baseURL, caFile string, resume bool) (*edge, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme != "https" || u.Port() == "" {
		return nil, fmt.Errorf("base URL %q: want https://host:port", baseURL)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("edge CA root: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("edge CA root %s: no certificate", caFile)
	}
	e := &edge{port: u.Port(), roots: roots}
	e.api = &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         e.dial,
			TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 64,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	wsTLS := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	if resume {
		wsTLS.ClientSessionCache = tls.NewLRUClientSessionCache(1024)
	}
	e.ws = &http.Client{Transport: &http.Transport{DialContext: e.dial, TLSClientConfig: wsTLS}}
	return e, nil
}

// dial sends *.localhost to 127.0.0.1 on the edge's published port and
// refuses anything else, so a typo cannot load a real host.
func (e *edge) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if host != "localhost" && !strings.HasSuffix(host, ".localhost") {
		return nil, fmt.Errorf("refusing to dial %s: only *.localhost (the appliance on this machine)", addr)
	}
	var d net.Dialer
	if e.connect != "" {
		return d.DialContext(ctx, network, e.connect)
	}
	return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", e.port))
}

// origin is an app host's origin, as its own page would send it.
func (e *edge) origin(host string) string { return "https://" + host + ":" + e.port }

// call is one JSON request to an app host. auth is a session cookie value
// or an API key ("hcw_..."); empty for none.
func (e *edge) call(ctx context.Context, host, method, path, auth string, body any) (int, []byte, http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.origin(host)+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Origin", e.origin(host))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case strings.HasPrefix(auth, "hcw_"):
		req.Header.Set("Authorization", "Bearer "+auth)
	case auth != "":
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: auth})
	}
	resp, err := e.api.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

// callJSON is call that wants status want and decodes the answer into v.
func (e *edge) callJSON(ctx context.Context, host, method, path, auth string, body any, want int, v any) (http.Header, error) {
	status, b, h, err := e.call(ctx, host, method, path, auth, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if status != want {
		return nil, fmt.Errorf("%s %s: status %d, want %d: %s", method, path, status, want, truncate(b))
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return h, nil
}

// sessionCookie is the staff and participant session cookie's name.
const sessionCookie = "__Host-hcw_session"

// sessionFrom is the session cookie value a response set, or "".
func sessionFrom(h http.Header) string {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	return ""
}

func truncate(b []byte) string {
	if len(b) > 300 {
		b = b[:300]
	}
	return string(b)
}
