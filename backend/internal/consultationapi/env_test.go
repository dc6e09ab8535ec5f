package consultationapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/account"
	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/consultation"
	"github.com/hcw-home/hcw/backend/internal/consultationapi"
	"github.com/hcw-home/hcw/backend/internal/database"
	"github.com/hcw-home/hcw/backend/internal/database/dbtest"
	"github.com/hcw-home/hcw/backend/internal/events"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/mail"
	"github.com/hcw-home/hcw/backend/internal/medianode"
	"github.com/hcw-home/hcw/backend/internal/realtime"
	"github.com/hcw-home/hcw/backend/internal/sealed"
	"github.com/hcw-home/hcw/backend/internal/settings"
	"github.com/hcw-home/hcw/backend/internal/signin"
	"github.com/hcw-home/hcw/backend/internal/signin/totp"
	"github.com/hcw-home/hcw/backend/internal/staffapi"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const (
	doctorHost  = "doctor.example.org"
	patientHost = "patient.example.org"
)

var appHosts = []string{doctorHost, patientHost, "admin.example.org"}

// outbox records mails instead of sending them.
type outbox struct {
	mu   sync.Mutex
	msgs []mail.Message
	fail error
	// relay, when set, also receives every mail (a real SMTP sender to
	// the mail catcher).
	relay mail.Sender
}

func (o *outbox) Send(ctx context.Context, m mail.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return o.fail
	}
	o.msgs = append(o.msgs, m)
	if o.relay != nil {
		return o.relay.Send(ctx, m)
	}
	return nil
}

func (o *outbox) setRelay(s mail.Sender) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.relay = s
}

func (o *outbox) setFail(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fail = err
}

func (o *outbox) all() []mail.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]mail.Message(nil), o.msgs...)
}

// clock is the consultation service's injectable time. It starts at the
// real time, because cookies are dated by the real clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type env struct {
	t        *testing.T
	h        http.Handler
	rt       *httpapi.Router
	pool     *pgxpool.Pool
	accounts *account.Store
	svc      *consultation.Service
	mail     *outbox
	clock    *clock
	logs     *syncBuffer
	keys     *sealed.Keyring
	hub      *realtime.Hub
	// auth, api and logger build further replicas (newReplica).
	auth   httpapi.Authenticator
	api    *consultationapi.API
	logger *slog.Logger
	// wsURL is the socket address once live has started a server.
	wsURL string
	// nodes is the media node pool; grantKey signs grants (calls).
	nodes    *medianode.Service
	grantKey ed25519.PrivateKey
	// staff administers accounts (disable, in the call tests).
	staff *staffapi.API
	// settings are the instance settings, whose invite timing the
	// service reads, as in serve.
	settings *settings.Service
}

// Media settings of the test environment.
const (
	testNodeSecret = "a-node-secret-for-tests"
	testTURNSecret = "a-turn-secret-for-tests"
	testMediaHost  = "media.example.org"
	testTURNURL    = "turn:turn.example.org:3478?transport=udp"
	testGrantTTL   = 2 * time.Minute
	testRing       = 5 * time.Minute
	testMaxCall    = time.Hour
)

// replicaID is the test server's presence replica.
const replicaID = "r-test"

func newEnv(t *testing.T) *env {
	t.Helper()
	pool := dbtest.NewPool(t)
	require.NoError(t, database.Migrate(t.Context(), pool, database.Migrations(), slog.New(slog.NewTextHandler(io.Discard, nil))))
	key, err := sealed.ParseKey("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
	require.NoError(t, err)
	keyring, err := sealed.NewKeyring(key)
	require.NoError(t, err)
	e := &env{t: t, pool: pool, mail: &outbox{}, clock: &clock{t: time.Now().UTC().Truncate(time.Second)}, logs: &syncBuffer{}, keys: keyring}
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	auditStore := audit.NewStore(pool)
	e.accounts = account.NewStore(account.Params{Pool: pool, Keys: keyring, Audit: auditStore,
		Hash: account.HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	// Ended sessions take the user's places in calls with them, as in
	// serve.
	signIn, err := signin.New(signin.Params{Pool: pool, Accounts: staffapi.Accounts(e.accounts), Audit: auditStore,
		Keyring: keyring, PasskeyHosts: []string{doctorHost}, OnRevoke: func(userID string) {
			go func() { _ = e.svc.RemoveUserFromCalls(context.Background(), userID) }()
		}})
	require.NoError(t, err)
	e.nodes = medianode.New(medianode.Params{Pool: pool, Secret: testNodeSecret, MediaHost: testMediaHost, Logger: logger,
		Now: e.clock.now, PollInterval: 100 * time.Millisecond})
	_, e.grantKey, err = ed25519.GenerateKey(nil)
	require.NoError(t, err)
	e.settings = settings.New(settings.Params{Pool: pool, Audit: auditStore, Logger: logger,
		InviteTTL: consultation.DefaultInviteTTL, InviteEarly: consultation.DefaultInviteEarly})
	e.svc = consultation.New(consultation.Params{Pool: pool, Keys: keyring, Audit: auditStore, Mail: e.mail,
		Logger: logger, PatientHost: patientHost, Now: e.clock.now, InviteTiming: e.settings, Languages: e.settings,
		Media: consultation.MediaParams{Nodes: e.nodes, GrantKey: e.grantKey, GrantTTL: testGrantTTL,
			TURNSecret: []byte(testTURNSecret), TURNURLs: []string{testTURNURL}, RingTimeout: testRing, MaxDuration: testMaxCall}})
	staff := staffapi.New(staffapi.Params{Accounts: e.accounts, SignIn: signIn, Audit: auditStore, Mail: e.mail,
		Logger: logger, DoctorHost: doctorHost, AdminHost: "admin.example.org", Queues: e.svc, MediaNodes: e.nodes})
	e.staff = staff
	api := consultationapi.New(consultationapi.Params{Consultations: e.svc, Logger: logger})
	auth := consultationapi.Authenticator(staff.Authenticator(), e.svc)
	e.auth, e.api, e.logger = auth, api, logger
	e.hub = realtime.NewHub()
	e.h, e.rt = httpapi.NewHandler(httpapi.Params{
		Logger: logger, AppHosts: appHosts, Auth: auth,
		Mount: []func(*httpapi.Router){staff.Mount, api.Mount},
		Edge:  clientinfo.NewEdge(clientinfo.EdgeParams{Logger: logger}),
		Realtime: realtime.NewHandler(realtime.Params{Logger: logger, Hub: e.hub, AppHosts: appHosts,
			WriteError: httpapi.WriteError, Authenticate: consultationapi.SocketAuthenticator(auth),
			Presence: func(ctx context.Context, p authz.Principal, sockets int) error {
				return e.svc.SetPresence(ctx, replicaID, p, sockets)
			},
			Messages: api.SocketMessages()}),
	})
	return e
}

// live starts what a replica runs besides its routes: a server for
// sockets and the event listener feeding the hub.
func (e *env) live() {
	e.t.Helper()
	cfg := e.pool.Config().ConnConfig.Copy()
	listening := make(chan struct{})
	var once sync.Once
	l := events.NewListener(events.ListenerParams{ConnConfig: cfg, Sink: e.hub,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnListen: func() { once.Do(func() { close(listening) }) }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = l.Run(ctx); close(done) }()
	srv := httptest.NewServer(e.h)
	e.t.Cleanup(func() {
		e.hub.Shutdown()
		srv.Close()
		cancel()
		<-done
	})
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		e.t.Fatal("listener did not start")
	}
	e.wsURL = "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

// dial opens a socket as c from the app on host and reads its hello.
func (e *env) dial(c *caller, host string) *websocket.Conn {
	e.t.Helper()
	h := http.Header{"Origin": {"https://" + host}}
	h.Set("Cookie", signin.CookieName+"="+c.cookie)
	ctx, cancel := context.WithTimeout(e.t.Context(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.wsURL, &websocket.DialOptions{Host: host, HTTPHeader: h})
	require.NoError(e.t, err)
	e.t.Cleanup(func() { ws.CloseNow() })
	require.Equal(e.t, "hello", readMsg(e.t, ws)["type"])
	return ws
}

// readMsg reads one envelope.
func readMsg(t *testing.T, ws *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, b, err := ws.Read(ctx)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// waitMsg reads until an envelope of type typ arrives, skipping others.
func waitMsg(t *testing.T, ws *websocket.Conn, typ string) map[string]any {
	t.Helper()
	for {
		m := readMsg(t, ws)
		if m["type"] == typ {
			d, _ := m["data"].(map[string]any)
			return d
		}
	}
}

// caller is a browser (one session cookie) or an API client.
type caller struct {
	cookie string
	bearer string
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), string(r.body))
}

func (r response) code() string {
	var e struct{ Error struct{ Code string } }
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (e *env) do(c *caller, method, path string, body any) response {
	e.t.Helper()
	return e.doAt(doctorHost, c, method, path, body)
}

func (e *env) doAt(host string, c *caller, method, path string, body any) response {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(e.t, err)
		rd = bytes.NewReader(raw)
	}
	r := httptest.NewRequest(method, "https://"+host+path, rd)
	r.Host = host
	r.Header.Set("Origin", "https://"+host)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if c != nil && c.cookie != "" {
		r.AddCookie(&http.Cookie{Name: signin.CookieName, Value: c.cookie})
	}
	if c != nil && c.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if c != nil {
		for _, ck := range w.Result().Cookies() {
			if ck.Name == signin.CookieName {
				c.cookie = ck.Value
			}
		}
	}
	return response{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
}

// user creates an active user with a password.
func (e *env) user(role account.Role, email string) account.User {
	e.t.Helper()
	u, err := e.accounts.Create(context.Background(), account.SystemActor(), account.NewUser{
		Email: email, FirstName: "Test", LastName: string(role), Role: role, Status: account.StatusActive})
	require.NoError(e.t, err)
	require.NoError(e.t, e.accounts.SetPassword(context.Background(), account.SystemActor(), u.ID, "a long test passphrase"))
	return u
}

// signIn signs u in through the API, enrolling TOTP when the role needs it.
func (e *env) signIn(u account.User) *caller {
	e.t.Helper()
	c := &caller{}
	res := e.do(c, "POST", "/api/v1/auth/sign-in", map[string]string{"email": u.Email, "password": "a long test passphrase"})
	require.Equal(e.t, 200, res.status, string(res.body))
	var sess struct{ Level string }
	res.json(e.t, &sess)
	if sess.Level == "full" {
		return c
	}
	res = e.do(c, "POST", "/api/v1/auth/totp/enrolment", nil)
	require.Equal(e.t, 201, res.status, string(res.body))
	var enr struct{ Secret string }
	res.json(e.t, &enr)
	code, err := totp.Code(enr.Secret, totp.Step(time.Now()))
	require.NoError(e.t, err)
	res = e.do(c, "POST", "/api/v1/auth/totp/confirmation", map[string]string{"code": code})
	require.Equal(e.t, 200, res.status, string(res.body))
	return c
}

// apiKey creates an API key for u with role.
func (e *env) apiKey(u account.User, role account.Role) *caller {
	e.t.Helper()
	_, key, err := e.accounts.CreateAPIKey(context.Background(), account.SystemActor(), u.ID, "test", role)
	require.NoError(e.t, err)
	return &caller{bearer: key}
}

// fixture is a clinic: one queue, its doctor, a doctor elsewhere, a
// nurse, an admin and a scheduler key.
type fixture struct {
	queueID, otherQueueID       string
	admin, doctorIn, doctorOut  *caller
	nurse, scheduler            *caller
	doctorInUser, doctorOutUser account.User
	adminUser                   account.User
}

func (e *env) clinic() fixture {
	e.t.Helper()
	var f fixture
	f.adminUser = e.user(account.RoleAdmin, "admin@example.org")
	f.doctorInUser = e.user(account.RoleDoctor, "doctor.in@example.org")
	f.doctorOutUser = e.user(account.RoleDoctor, "doctor.out@example.org")
	nurse := e.user(account.RoleNurse, "nurse@example.org")
	sched := e.user(account.RoleScheduler, "scheduler@example.org")
	f.admin = e.signIn(f.adminUser)
	f.doctorIn = e.signIn(f.doctorInUser)
	f.doctorOut = e.signIn(f.doctorOutUser)
	f.nurse = e.signIn(nurse)
	f.scheduler = e.apiKey(sched, account.RoleScheduler)

	res := e.do(f.admin, "POST", "/api/v1/admin/queues", map[string]any{"name": "General practice"})
	require.Equal(e.t, 201, res.status, string(res.body))
	var q struct{ ID string }
	res.json(e.t, &q)
	f.queueID = q.ID
	res = e.do(f.admin, "PUT", "/api/v1/admin/queues/"+q.ID+"/members", map[string]any{"user_ids": []string{f.doctorInUser.ID, nurse.ID}})
	require.Equal(e.t, 200, res.status, string(res.body))
	res = e.do(f.admin, "POST", "/api/v1/admin/queues", map[string]any{"name": "Dermatology"})
	require.Equal(e.t, 201, res.status, string(res.body))
	res.json(e.t, &q)
	f.otherQueueID = q.ID
	res = e.do(f.admin, "PUT", "/api/v1/admin/queues/"+q.ID+"/members", map[string]any{"user_ids": []string{f.doctorOutUser.ID}})
	require.Equal(e.t, 200, res.status, string(res.body))
	return f
}

type issued struct {
	Invite struct {
		ID, Status         string
		ConsultationID     string    `json:"consultation_id"`
		ParticipantID      string    `json:"participant_id"`
		ConsultationStatus string    `json:"consultation_status"`
		DeliveryError      string    `json:"delivery_error"`
		ExpiresAt          time.Time `json:"expires_at"`
	}
	Link string
}

// invite creates an invite as c and returns it with its token.
func (e *env) invite(c *caller, body map[string]any) (issued, string) {
	e.t.Helper()
	req := map[string]any{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org"}
	for k, v := range body {
		req[k] = v
	}
	res := e.do(c, "POST", "/api/v1/invites", req)
	require.Equal(e.t, 201, res.status, string(res.body))
	var out issued
	res.json(e.t, &out)
	prefix := "https://" + patientHost + "/i/"
	require.True(e.t, strings.HasPrefix(out.Link, prefix), out.Link)
	return out, strings.TrimPrefix(out.Link, prefix)
}

// redeem posts token from the patient app as a fresh browser.
func (e *env) redeem(token string) (response, *caller) {
	e.t.Helper()
	c := &caller{}
	return e.doAt(patientHost, c, "POST", "/api/v1/invites/redeem", map[string]string{"token": token}), c
}
