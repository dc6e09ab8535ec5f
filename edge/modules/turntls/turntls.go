// Package turntls shares port 443 between HTTPS and TURN over TLS. It is a
// listener wrapper placed before Caddy's tls wrapper: it reads each new
// connection's ClientHello, and when the server name is the TURN host it
// terminates TLS itself (with the certificates of Caddy's tls app) and
// relays the plain stream to the TURN server's TCP listener; every other
// connection goes on to HTTP with the bytes read so far replayed first.
//
// It replaces caddy-l4's layer4 listener wrapper in this role. caddy-l4
// v0.1.2 hands a connection that falls through to HTTP over while its
// prefetched ClientHello still sits in a pooled buffer, and returns that
// buffer to the pool at once; under concurrent handshakes another
// connection's ClientHello overwrites it and the HTTPS handshake fails
// (clients see "server did not echo the legacy session ID": 51 of 4,000
// handshakes at 64 at a time, none without the wrapper). Here the bytes
// read belong to their connection, and a connection's sorting runs on its
// own goroutine with a deadline, so a silent client holds up no one.
package turntls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(TurnTLS{})
}

// Defaults.
const (
	DefaultHelloTimeout = 10 * time.Second
	DefaultDialTimeout  = 5 * time.Second
	// maxHello bounds the bytes read to find the server name: a
	// ClientHello fits in one 16 KiB record in practice; crypto/tls accepts
	// a handshake message up to 64 KiB, plus record headers.
	maxHello = 64<<10 + 1024
	// acmeTLSALPN is the ACME TLS-ALPN-01 challenge protocol: such
	// handshakes go to HTTP, whose tls wrapper answers the challenge,
	// whatever their server name.
	acmeTLSALPN = "acme-tls/1"
)

// TurnTLS is the listener wrapper caddy.listeners.hcw_turn_tls.
type TurnTLS struct {
	// ServerNames are the TLS server names (SNI) whose connections go to
	// TURN, compared without regard to case.
	ServerNames []string `json:"server_names,omitempty"`

	// Upstream is the TURN server's TCP listener, host:port.
	Upstream string `json:"upstream,omitempty"`

	// HelloTimeout bounds the wait for a ClientHello and for the TURN
	// side's handshake (default 10s).
	HelloTimeout caddy.Duration `json:"hello_timeout,omitempty"`

	// DialTimeout bounds connecting to Upstream (default 5s).
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`

	logger    *zap.Logger
	names     map[string]bool
	tlsConfig func() *tls.Config
	dial      func(ctx context.Context) (net.Conn, error)
}

// CaddyModule returns the Caddy module information.
func (TurnTLS) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "caddy.listeners.hcw_turn_tls",
		New: func() caddy.Module { return new(TurnTLS) },
	}
}

// Provision resolves placeholders and takes the TLS configuration from
// Caddy's tls app: the certificates it manages for the TURN host (the
// Caddyfile gives that host a site so they exist).
func (w *TurnTLS) Provision(ctx caddy.Context) error {
	w.logger = ctx.Logger()
	repl := caddy.NewReplacer()
	w.names = make(map[string]bool, len(w.ServerNames))
	for i, n := range w.ServerNames {
		n = strings.ToLower(strings.TrimSpace(repl.ReplaceAll(n, "")))
		if n == "" {
			return fmt.Errorf("server_names[%d] is empty", i)
		}
		w.ServerNames[i] = n
		w.names[n] = true
	}
	w.Upstream = repl.ReplaceAll(w.Upstream, "")
	if _, _, err := net.SplitHostPort(w.Upstream); err != nil {
		return fmt.Errorf("upstream %q: %v", w.Upstream, err)
	}
	if w.HelloTimeout == 0 {
		w.HelloTimeout = caddy.Duration(DefaultHelloTimeout)
	}
	if w.DialTimeout == 0 {
		w.DialTimeout = caddy.Duration(DefaultDialTimeout)
	}
	policies := caddytls.ConnectionPolicies{new(caddytls.ConnectionPolicy)}
	if err := policies.Provision(ctx); err != nil {
		return fmt.Errorf("tls connection policy: %v", err)
	}
	w.tlsConfig = func() *tls.Config { return policies.TLSConfig(ctx) }
	w.setDialer()
	return nil
}

func (w *TurnTLS) setDialer() {
	d := &net.Dialer{Timeout: time.Duration(w.DialTimeout)}
	upstream := w.Upstream
	w.dial = func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", upstream) }
}

// Validate checks the configuration.
func (w *TurnTLS) Validate() error {
	switch {
	case len(w.ServerNames) == 0:
		return errors.New("at least one server name is required")
	case w.Upstream == "":
		return errors.New("upstream is required")
	case w.HelloTimeout < 0, w.DialTimeout < 0:
		return errors.New("timeouts must not be negative")
	}
	return nil
}

// WrapListener sorts the connections of ln.
func (w *TurnTLS) WrapListener(ln net.Listener) net.Listener {
	l := &listener{
		Listener: ln,
		w:        w,
		conns:    make(chan net.Conn),
		done:     make(chan struct{}),
	}
	go l.acceptLoop()
	return l
}

// listener hands the connections that are not TURN's to Accept.
type listener struct {
	net.Listener
	w     *TurnTLS
	conns chan net.Conn

	done    chan struct{} // closed when the accept loop stops
	errOnce sync.Once
	err     error
}

func (l *listener) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			// A temporary failure (too many open files) is waited out
			// like net/http does; anything else ends the listener.
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			l.stop(err)
			return
		}
		backoff = 0
		go l.sort(c)
	}
}

func (l *listener) stop(err error) {
	l.errOnce.Do(func() {
		l.err = err
		close(l.done)
	})
}

// Accept returns the next connection for HTTP.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, l.err
	}
}

// sort reads the ClientHello of c and sends c to TURN or to Accept.
func (l *listener) sort(c net.Conn) {
	hello, peeked, err := readHello(c, time.Duration(l.w.HelloTimeout))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		// Nothing usable within the timeout: no one is waiting for it.
		_ = c.Close()
		return
	}
	rc := &replayConn{Conn: c, pending: peeked}
	if err == nil && l.w.isTURN(hello) {
		l.w.relay(rc, hello.ServerName)
		return
	}
	// Not TURN, or not TLS at all: HTTP's tls wrapper deals with it (and
	// answers plain HTTP on this port with its usual error).
	select {
	case l.conns <- rc:
	case <-l.done:
		_ = c.Close()
	}
}

func (w *TurnTLS) isTURN(h *tls.ClientHelloInfo) bool {
	for _, p := range h.SupportedProtos {
		if p == acmeTLSALPN {
			return false
		}
	}
	return w.names[strings.ToLower(h.ServerName)]
}

// relay terminates TLS on c and copies the stream to and from the TURN
// server until either side closes.
func (w *TurnTLS) relay(c net.Conn, sni string) {
	defer c.Close()
	timeout := time.Duration(w.HelloTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tc := tls.Server(c, w.tlsConfig())
	if err := tc.HandshakeContext(ctx); err != nil {
		w.logger.Debug("turn: tls handshake failed", zap.String("remote", c.RemoteAddr().String()), zap.Error(err))
		return
	}
	up, err := w.dial(ctx)
	if err != nil {
		w.logger.Error("turn: upstream unreachable", zap.String("upstream", w.Upstream), zap.Error(err))
		return
	}
	defer up.Close()
	w.logger.Debug("turn: relaying", zap.String("remote", c.RemoteAddr().String()), zap.String("server_name", sni))

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(up, tc)
		// The client is done sending: pass the half-close on.
		if cw, ok := up.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = up.Close()
		}
	}()
	_, _ = io.Copy(tc, up)
	_ = tc.CloseWrite()
	// The TURN server closed: do not wait for a client that may never
	// close its side.
	_ = tc.Close()
	wg.Wait()
}

// errHelloRead stops the handshake once the ClientHello is parsed.
var errHelloRead = errors.New("client hello read")

// readHello reads c's ClientHello with crypto/tls's own parser and returns
// it with every byte read. The error is the read's (a timeout, or a
// connection that closed) or the parser's (not TLS).
func readHello(c net.Conn, timeout time.Duration) (*tls.ClientHelloInfo, []byte, error) {
	rec := &recorder{Conn: c}
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, nil, err
	}
	var hello *tls.ClientHelloInfo
	err := tls.Server(rec, &tls.Config{
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			// Keep what is needed; h refers to the handshake's state.
			hello = &tls.ClientHelloInfo{ServerName: h.ServerName, SupportedProtos: append([]string(nil), h.SupportedProtos...)}
			return nil, errHelloRead
		},
	}).Handshake()
	if derr := c.SetReadDeadline(time.Time{}); derr != nil && err == nil {
		err = derr
	}
	if hello != nil {
		return hello, rec.buf, nil
	}
	if rec.readErr != nil {
		err = rec.readErr
	}
	return nil, rec.buf, err
}

// recorder keeps what is read from a connection and swallows what would be
// written to it (the alert that ends the parsing handshake).
type recorder struct {
	net.Conn
	buf     []byte
	readErr error
}

func (r *recorder) Read(p []byte) (int, error) {
	if room := maxHello - len(r.buf); len(p) > room {
		if room <= 0 {
			return 0, errors.New("client hello too large")
		}
		p = p[:room]
	}
	n, err := r.Conn.Read(p)
	r.buf = append(r.buf, p[:n]...)
	if err != nil {
		r.readErr = err
	}
	return n, err
}

func (r *recorder) Write(p []byte) (int, error) { return len(p), nil }

// replayConn reads the bytes already taken from the connection first.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			c.pending = nil // let the bytes go
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

// Interface guards.
var (
	_ caddy.Provisioner     = (*TurnTLS)(nil)
	_ caddy.Validator       = (*TurnTLS)(nil)
	_ caddy.ListenerWrapper = (*TurnTLS)(nil)
)
