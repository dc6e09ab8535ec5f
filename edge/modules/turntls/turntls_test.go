package turntls

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    TurnTLS
		wantErr string
	}{
		{
			name:  "full",
			input: "hcw_turn_tls {\n server_name turn.example.org TURN.example.net\n upstream turn:3478\n hello_timeout 3s\n dial_timeout 1s\n}",
			want: TurnTLS{ServerNames: []string{"turn.example.org", "TURN.example.net"}, Upstream: "turn:3478",
				HelloTimeout: caddy.Duration(3 * time.Second), DialTimeout: caddy.Duration(time.Second)},
		},
		{name: "minimal", input: "hcw_turn_tls {\n server_name t\n upstream t:1\n}", want: TurnTLS{ServerNames: []string{"t"}, Upstream: "t:1"}},
		{name: "argument", input: "hcw_turn_tls turn", wantErr: "wrong argument count"},
		{name: "no names", input: "hcw_turn_tls {\n server_name\n}", wantErr: "wrong argument count"},
		{name: "two upstreams", input: "hcw_turn_tls {\n upstream a:1 b:2\n}", wantErr: "wrong argument count"},
		{name: "bad duration", input: "hcw_turn_tls {\n hello_timeout soon\n}", wantErr: "hello_timeout"},
		{name: "zero duration", input: "hcw_turn_tls {\n dial_timeout 0s\n}", wantErr: "positive"},
		{name: "unknown", input: "hcw_turn_tls {\n alpn x\n}", wantErr: "unrecognized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w TurnTLS
			err := w.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(w.ServerNames) != fmt.Sprint(tt.want.ServerNames) || w.Upstream != tt.want.Upstream ||
				w.HelloTimeout != tt.want.HelloTimeout || w.DialTimeout != tt.want.DialTimeout {
				t.Fatalf("got %+v, want %+v", w, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		w       TurnTLS
		wantErr string
	}{
		{TurnTLS{ServerNames: []string{"t"}, Upstream: "t:1"}, ""},
		{TurnTLS{Upstream: "t:1"}, "server name"},
		{TurnTLS{ServerNames: []string{"t"}}, "upstream"},
		{TurnTLS{ServerNames: []string{"t"}, Upstream: "t:1", HelloTimeout: -1}, "negative"},
	} {
		err := tt.w.Validate()
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%+v: error %v, want %q", tt.w, err, tt.wantErr)
		}
	}
}

// rig is a wrapped listener with an HTTPS-like server behind Accept (TLS
// with its own certificate, answering "http <sni> <line>") and a TURN-like
// upstream (plain echo, "turn <line>").
type rig struct {
	addr      string
	turnConns chan struct{}
	w         *TurnTLS
	ln        net.Listener
}

func selfSigned(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func newRig(t testing.TB, helloTimeout time.Duration) *rig {
	t.Helper()
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	r := &rig{turnConns: make(chan struct{}, 1000)}
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			r.turnConns <- struct{}{}
			go func() {
				defer c.Close()
				s := bufio.NewScanner(c)
				for s.Scan() {
					fmt.Fprintf(c, "turn %s\n", s.Text())
				}
			}()
		}
	}()

	turnCert := selfSigned(t, "turn.test")
	r.w = &TurnTLS{
		ServerNames:  []string{"turn.test"},
		Upstream:     up.Addr().String(),
		HelloTimeout: caddy.Duration(helloTimeout),
		DialTimeout:  caddy.Duration(time.Second),
		logger:       zap.NewNop(),
		names:        map[string]bool{"turn.test": true},
		tlsConfig:    func() *tls.Config { return &tls.Config{Certificates: []tls.Certificate{turnCert}} },
	}
	r.w.setDialer()

	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.ln = r.w.WrapListener(raw)
	t.Cleanup(func() { r.ln.Close() })
	r.addr = raw.Addr().String()

	httpCert := selfSigned(t, "app.test", "other.test")
	go func() {
		for {
			c, err := r.ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var sni string
				tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{httpCert}, NextProtos: []string{"http/1.1", acmeTLSALPN},
					GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) { sni = h.ServerName; return nil, nil }})
				if err := tc.Handshake(); err != nil {
					// Not TLS: say what arrived, in clear.
					return
				}
				s := bufio.NewScanner(tc)
				for s.Scan() {
					fmt.Fprintf(tc, "http %s %s\n", sni, s.Text())
				}
			}()
		}
	}()
	return r
}

// roundTrip dials with sni, sends line and returns the answer.
func (r *rig) roundTrip(sni, line string, protos ...string) (string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", r.addr,
		&tls.Config{ServerName: sni, InsecureSkipVerify: true, NextProtos: protos})
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\n", line); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSuffix(got, "\n"), err
}

func TestSortsBySNI(t *testing.T) {
	r := newRig(t, 2*time.Second)
	for _, tt := range []struct {
		sni, want string
		protos    []string
	}{
		{"app.test", "http app.test hello", nil},
		{"turn.test", "turn hello", nil},
		{"TURN.test", "turn hello", nil},
		{"other.test", "http other.test hello", nil},
		// The ACME TLS-ALPN challenge is HTTP's, even for the TURN host.
		{"turn.test", "http turn.test hello", []string{acmeTLSALPN}},
	} {
		got, err := r.roundTrip(tt.sni, "hello", tt.protos...)
		if err != nil || got != tt.want {
			t.Errorf("%s %v: %q, %v; want %q", tt.sni, tt.protos, got, err, tt.want)
		}
	}
}

// TestConcurrentHandshakesStayApart is the regression test for the
// reason this package exists: with many handshakes at once, every
// connection must see its own ClientHello.
func TestConcurrentHandshakesStayApart(t *testing.T) {
	r := newRig(t, 5*time.Second)
	const workers, per = 32, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*per)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				sni, want := "app.test", "http app.test"
				if (w+i)%3 == 0 {
					sni, want = "turn.test", "turn"
				}
				line := fmt.Sprintf("w%d-%d", w, i)
				got, err := r.roundTrip(sni, line)
				if err != nil || got != want+" "+line {
					errs <- fmt.Errorf("%s %s: %q, %v", sni, line, got, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Fatalf("%d of %d round trips failed", n, workers*per)
	}
}

func TestSilentClientHoldsUpNoOne(t *testing.T) {
	r := newRig(t, 300*time.Millisecond)
	silent, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := time.Now()
	if got, err := r.roundTrip("app.test", "x"); err != nil || got != "http app.test x" {
		t.Fatalf("%q, %v", got, err)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("a silent client delayed another by %v", d)
	}
	// The silent one is closed after the hello timeout.
	_ = silent.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("silent client: read %v, want EOF", err)
	}
}

func TestNonTLSGoesToHTTPUnchanged(t *testing.T) {
	r := newRig(t, time.Second)
	// A listener that records what HTTP's side receives.
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := r.w.WrapListener(raw)
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- string(b)
	}()
	c, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	const req = "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n"
	_, _ = io.WriteString(c, req)
	_ = c.(*net.TCPConn).CloseWrite()
	select {
	case s := <-got:
		if s != req {
			t.Fatalf("HTTP got %q, want %q", s, req)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("plain request never reached HTTP")
	}
	c.Close()
}

func TestTURNUpstreamDown(t *testing.T) {
	r := newRig(t, time.Second)
	r.w.Upstream = "127.0.0.1:1"
	r.w.setDialer()
	c, err := tls.Dial("tcp", r.addr, &tls.Config{ServerName: "turn.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read succeeded with no upstream")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("connection left open with no upstream")
	}
}

func TestAcceptEndsWithListener(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &TurnTLS{logger: zap.NewNop(), names: map[string]bool{}, HelloTimeout: caddy.Duration(time.Second)}
	ln := w.WrapListener(raw)
	done := make(chan error, 1)
	go func() { _, err := ln.Accept(); done <- err }()
	_ = ln.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Accept returned no error after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still blocked after Close")
	}
}
