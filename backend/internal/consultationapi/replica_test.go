package consultationapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/hcw-home/hcw/backend/internal/account"
	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/consultation"
	"github.com/hcw-home/hcw/backend/internal/consultationapi"
	"github.com/hcw-home/hcw/backend/internal/events"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/realtime"
	"github.com/hcw-home/hcw/backend/internal/signin"
	"github.com/hcw-home/hcw/backend/internal/staffapi"
)

// process is a whole backend replica as cmd/backend builds one, in this
// process: its own pool and LISTEN connection on the env's database (named
// after the replica in pg_stat_activity), its own services and hub, and a
// real HTTP server for REST and sockets. Unlike newReplica (a second hub
// on the env's services), it can be killed like a crashed process.
type process struct {
	name  string
	pool  *pgxpool.Pool
	hub   *realtime.Hub
	srv   *httptest.Server
	conns *connTracker
	// url is http://127.0.0.1:port; wsURL its socket.
	url, wsURL string
	stop       context.CancelFunc
	done       chan struct{}
	killOnce   sync.Once
}

// processOptions tune a process; the zero value is the product's defaults.
type processOptions struct {
	// MaxConns is the pool's size (0: pgxpool's default, as in production).
	MaxConns int32
	// InboundRate lifts the per-socket message limit (0: the default).
	InboundRate rate.Limit
	// Logger receives the replica's logs (nil: discarded).
	Logger *slog.Logger
}

// startProcess starts replica name on e's database and stops it at
// cleanup.
func (e *env) startProcess(name string, o processOptions) *process {
	t := e.t
	t.Helper()
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg := e.pool.Config().Copy()
	cfg.ConnConfig.RuntimeParams["application_name"] = "hcw-" + name
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())

	auditStore := audit.NewStore(pool)
	accounts := account.NewStore(account.Params{Pool: pool, Keys: e.keys, Audit: auditStore,
		Hash: account.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	signIn, err := signin.New(signin.Params{Pool: pool, Accounts: staffapi.Accounts(accounts), Audit: auditStore,
		Keyring: e.keys, PasskeyHosts: []string{doctorHost}})
	require.NoError(t, err)
	svc := consultation.New(consultation.Params{Pool: pool, Keys: e.keys, Audit: auditStore, Logger: logger,
		PatientHost: patientHost})
	staff := staffapi.New(staffapi.Params{Accounts: accounts, SignIn: signIn, Audit: auditStore, Logger: logger,
		DoctorHost: doctorHost, AdminHost: "admin.example.org", Queues: svc})
	api := consultationapi.New(consultationapi.Params{Consultations: svc, Logger: logger})
	auth := consultationapi.Authenticator(staff.Authenticator(), svc)
	p := &process{name: name, pool: pool, hub: realtime.NewHub(), conns: &connTracker{conns: map[net.Conn]struct{}{}},
		stop: cancel, done: make(chan struct{})}
	h, _ := httpapi.NewHandler(httpapi.Params{
		Logger: logger, AppHosts: appHosts, Auth: auth,
		Mount: []func(*httpapi.Router){staff.Mount, api.Mount},
		Edge:  clientinfo.NewEdge(clientinfo.EdgeParams{Logger: logger}),
		Realtime: realtime.NewHandler(realtime.Params{Logger: logger, Hub: p.hub, AppHosts: appHosts,
			WriteError: httpapi.WriteError, Authenticate: consultationapi.SocketAuthenticator(auth),
			InboundRate: o.InboundRate, InboundBurst: int(o.InboundRate),
			Presence: func(ctx context.Context, pr authz.Principal, sockets int) error {
				return svc.SetPresence(ctx, name, pr, sockets)
			},
			Messages: api.SocketMessages()}),
	})

	lcfg := cfg.ConnConfig.Copy()
	lcfg.RuntimeParams["application_name"] = "hcw-events-" + name
	listening := make(chan struct{})
	var once sync.Once
	l := events.NewListener(events.ListenerParams{ConnConfig: lcfg, Sink: p.hub, Logger: logger,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		OnListen: func() { once.Do(func() { close(listening) }) }})
	go func() { _ = l.Run(ctx); close(p.done) }()

	p.srv = httptest.NewUnstartedServer(h)
	p.srv.Listener = &trackingListener{Listener: p.srv.Listener, t: p.conns}
	p.srv.Start()
	p.url = p.srv.URL
	p.wsURL = "ws" + strings.TrimPrefix(p.srv.URL, "http") + "/ws"
	t.Cleanup(func() {
		p.kill(e)
		p.hub.Shutdown()
	})
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatalf("replica %s: listener did not start", name)
	}
	return p
}

// kill ends the replica the way a crash would: every TCP connection of
// its server (sockets included) is cut, its database sessions (pool and
// LISTEN) are terminated, so transactions in flight roll back unless they
// already committed, and nothing of it runs again.
func (p *process) kill(e *env) {
	p.killOnce.Do(func() {
		p.srv.Listener.Close()
		p.conns.closeAll()
		p.stop()
		// Not with e.pool's context: kill also runs at cleanup.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = e.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name IN ($1, $2)`, "hcw-"+p.name, "hcw-events-"+p.name)
		<-p.done
		p.srv.Close()
		p.pool.Close()
	})
}

// dropListener terminates the replica's LISTEN connection only: it comes
// back and tells its sockets to resync.
func (p *process) dropListener(t *testing.T, e *env) {
	t.Helper()
	var n int
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, "hcw-events-"+p.name).Scan(&n))
	require.Equal(t, 1, n)
}

// connTracker remembers a server's accepted connections, which
// httptest.Server forgets once a socket hijacks them.
type connTracker struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	dead  bool
}

func (c *connTracker) add(conn net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return false
	}
	c.conns[conn] = struct{}{}
	return true
}

func (c *connTracker) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dead = true
	for conn := range c.conns {
		_ = conn.Close()
	}
	c.conns = map[net.Conn]struct{}{}
}

type trackingListener struct {
	net.Listener
	t *connTracker
}

func (l *trackingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.t.add(c) {
			return c, nil
		}
		_ = c.Close()
	}
}

// webClient is a browser talking to processes over real HTTP: it keeps
// its session cookie itself (the __Host- cookie is Secure, and these
// servers speak plain HTTP).
type webClient struct {
	host   string
	cookie string
	hc     *http.Client
}

func newWebClient(host, cookie string) *webClient {
	return &webClient{host: host, cookie: cookie, hc: &http.Client{Timeout: 15 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

// call sends one JSON request to p and returns the status and body; a
// session cookie in the answer replaces the client's.
func (c *webClient) call(ctx context.Context, p *process, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Host = c.host
	req.Header.Set("Origin", "https://"+c.host)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: signin.CookieName, Value: c.cookie})
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	for _, ck := range res.Cookies() {
		if ck.Name == signin.CookieName {
			c.cookie = ck.Value
		}
	}
	return res.StatusCode, b, err
}

// dial opens c's socket on p and reads its hello.
func (c *webClient) dial(ctx context.Context, p *process) (*websocket.Conn, error) {
	h := http.Header{"Origin": {"https://" + c.host}}
	h.Set("Cookie", signin.CookieName+"="+c.cookie)
	ws, _, err := websocket.Dial(ctx, p.wsURL, &websocket.DialOptions{Host: c.host, HTTPHeader: h})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	_, b, err := ws.Read(ctx)
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	var hello struct{ Type string }
	if json.Unmarshal(b, &hello) != nil || hello.Type != realtime.TypeHello {
		ws.CloseNow()
		return nil, errNoHello
	}
	return ws, nil
}

var errNoHello = errorString("first message is not hello")

type errorString string

func (e errorString) Error() string { return string(e) }
