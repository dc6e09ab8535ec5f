package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hcw-home/hcw/backend/internal/account"
	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/config"
	"github.com/hcw-home/hcw/backend/internal/consultation"
	"github.com/hcw-home/hcw/backend/internal/consultationapi"
	"github.com/hcw-home/hcw/backend/internal/database"
	"github.com/hcw-home/hcw/backend/internal/events"
	"github.com/hcw-home/hcw/backend/internal/housekeeping"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/mail"
	"github.com/hcw-home/hcw/backend/internal/mediaapi"
	"github.com/hcw-home/hcw/backend/internal/medianode"
	"github.com/hcw-home/hcw/backend/internal/realtime"
	"github.com/hcw-home/hcw/backend/internal/sealed"
	"github.com/hcw-home/hcw/backend/internal/settings"
	"github.com/hcw-home/hcw/backend/internal/signin"
	"github.com/hcw-home/hcw/backend/internal/staffapi"
	"github.com/hcw-home/hcw/backend/internal/statistics"
	"github.com/hcw-home/hcw/backend/internal/version"
)

func serve() error {
	cfg, err := config.FromEnv()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	slog.SetDefault(logger)
	logger.Info("starting", "version", version.Version, "commit", version.Commit, "listen", cfg.HTTPListen)
	// Built at start so that mail being off, or a bad relay setting, shows
	// in the first lines of the log.
	sender, err := newMailSender(cfg, logger)
	if err != nil {
		return err
	}
	keyring, err := sealed.NewKeyring(cfg.DataKey, cfg.PreviousDataKeys...)
	if err != nil {
		return fmt.Errorf("data key: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	edge := clientinfo.NewEdge(clientinfo.EdgeParams{
		Prefixes: cfg.EdgePrefixes, HostNames: cfg.EdgeHostNames, Logger: logger,
	})
	edge.Refresh(ctx)
	go edge.Run(ctx, clientinfo.DefaultRefresh)

	migrations, err := database.Load(database.Migrations())
	if err != nil {
		return err
	}
	// Liveness answers at once; readiness waits for the database and the
	// migrations, so compose dependants start only after both. Until then
	// the API answers from a boot handler that has the probes and nothing
	// that needs the database.
	readiness := database.NewReadiness(migrations)
	hub := realtime.NewHub()
	metrics := httpapi.NewMetrics()
	base := httpapi.Params{Logger: logger, Edge: edge, Ready: readiness.Check, AppHosts: cfg.AppHosts(), Metrics: metrics}
	boot, _ := httpapi.NewHandler(base)
	var current atomic.Pointer[http.Handler]
	current.Store(&boot)

	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*current.Load()).ServeHTTP(w, r) }),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// No WriteTimeout: it would cut WebSockets. Plain routes set a
		// per-response deadline instead.
	}
	ln, err := net.Listen("tcp", cfg.HTTPListen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HTTPListen, err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if cfg.MetricsListen != "off" {
		metricsSrv, err := serveMetrics(cfg.MetricsListen, metrics, logger)
		if err != nil {
			shutdown(srv, hub, cfg.ShutdownTimeout, logger)
			return err
		}
		defer metricsSrv.Close()
	}

	pool, err := database.Open(ctx, database.OpenParams{Config: cfg.Database, Logger: logger})
	if err == nil {
		defer pool.Close()
		err = database.Migrate(ctx, pool, database.Migrations(), logger)
	}
	if err != nil {
		shutdown(srv, hub, cfg.ShutdownTimeout, logger)
		return err
	}
	full, chores, err := apiHandler(ctx, cfg, base, pool, keyring, sender, hub, metrics, logger)
	if err != nil {
		shutdown(srv, hub, cfg.ShutdownTimeout, logger)
		return err
	}
	current.Store(&full)
	go housekeeping.Run(ctx, housekeeping.DefaultInterval, logger, chores...)
	readiness.SetPool(pool)
	metrics.RegisterPool(pool)
	logger.Info("ready")

	select {
	case <-ctx.Done():
		logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	}
	shutdown(srv, hub, cfg.ShutdownTimeout, logger)
	logger.Info("stopped")
	return nil
}

// apiHandler builds the services on the database, the handler with every
// route, and the services' periodic clean-ups, and starts the services'
// workers.
func apiHandler(ctx context.Context, cfg *config.Options, base httpapi.Params, pool *pgxpool.Pool, keyring *sealed.Keyring,
	sender mail.Sender, hub *realtime.Hub, metrics *httpapi.Metrics, logger *slog.Logger) (http.Handler, []housekeeping.Task, error) {
	api, err := buildAPI(ctx, cfg, base, pool, keyring, sender, hub, metrics, logger)
	if err != nil {
		return nil, nil, err
	}
	api.start(ctx)
	return api.handler, api.chores, nil
}

// builtAPI is the API with every route mounted, before any worker runs.
type builtAPI struct {
	handler http.Handler
	router  *httpapi.Router
	chores  []housekeeping.Task
	// start runs the workers: the event listener, presence heartbeat,
	// media control and call timers, until ctx ends.
	start func(ctx context.Context)
}

// buildAPI builds the services and mounts every route. It connects to
// nothing and starts nothing, so `backend openapi` can build the same
// router without a database.
func buildAPI(ctx context.Context, cfg *config.Options, base httpapi.Params, pool *pgxpool.Pool, keyring *sealed.Keyring,
	sender mail.Sender, hub *realtime.Hub, metrics *httpapi.Metrics, logger *slog.Logger) (*builtAPI, error) {
	auditStore := audit.NewStore(pool)
	accounts := account.NewStore(account.Params{Pool: pool, Keys: keyring, Audit: auditStore})
	nodes := medianode.New(medianode.Params{Pool: pool, Secret: cfg.Media.NodeSecret, MediaHost: cfg.Media.Host, Logger: logger})
	// Instance settings, cached per replica: the public branding route
	// and every invite read them.
	instance := settings.New(settings.Params{Pool: pool, Audit: auditStore, Logger: logger,
		InviteTTL: cfg.InviteTTL, InviteEarly: cfg.InviteEarly})
	var consultations *consultation.Service
	signIn, err := signin.New(signin.Params{
		Pool: pool, Accounts: staffapi.Accounts(accounts), Audit: auditStore, Keyring: keyring,
		IdleTimeout: cfg.SessionIdleTimeout, AbsoluteLifetime: cfg.SessionLifetime,
		// Passkeys bind to the staff apps' hosts, never the patient host.
		PasskeyHosts: []string{cfg.DoctorHost, cfg.AdminHost},
		// Sessions that end take their sockets and their places in calls
		// with them, within seconds.
		OnRevoke: func(userID string) {
			go hub.CloseUser(userID)
			go func() {
				if err := consultations.RemoveUserFromCalls(context.WithoutCancel(ctx), userID); err != nil {
					logger.Error("remove user from calls", "user", userID, "error", err.Error())
				}
			}()
		},
	})
	if err != nil {
		return nil, fmt.Errorf("sign-in: %w", err)
	}
	consultations = consultation.New(consultation.Params{
		Pool: pool, Keys: keyring, Audit: auditStore, Mail: sender, Logger: logger,
		PatientHost: cfg.PatientHost, InviteTTL: cfg.InviteTTL, InviteEarly: cfg.InviteEarly, InviteTiming: instance, Languages: instance,
		InterpreterRequestTTL: cfg.InterpreterRequestTTL,
		Media: consultation.MediaParams{Nodes: nodes, GrantKey: cfg.Media.GrantKey, GrantTTL: cfg.Media.GrantTTL,
			TURNSecret: cfg.Media.TURNSecret, TURNURLs: cfg.Media.TURNURLs, TURNTTL: cfg.Media.TURNCredentialTTL,
			RingTimeout: cfg.Media.RingTimeout, MaxDuration: cfg.Media.MaxDuration},
	})
	staff := staffapi.New(staffapi.Params{
		Accounts: accounts, SignIn: signIn, Audit: auditStore, Mail: sender, Logger: logger,
		DoctorHost: cfg.DoctorHost, AdminHost: cfg.AdminHost, Metrics: metrics,
		NurseSelfRegistration: cfg.NurseSelfRegistration, Queues: consultations, MediaNodes: nodes,
	})
	consultationAPI := consultationapi.New(consultationapi.Params{Consultations: consultations, Logger: logger})
	mediaAPI := mediaapi.New(mediaapi.Params{Nodes: nodes, NodeSecret: cfg.Media.NodeSecret,
		GrantPublicKeys: cfg.Media.GrantPublicKeys(), Logger: logger})
	// Staff sessions first, then participant sessions: they share the
	// cookie.
	auth := consultationapi.Authenticator(staff.Authenticator(), consultations)
	p := base
	p.Auth = auth
	statisticsAPI := statistics.NewAPI(statistics.Params{Reports: statistics.NewStore(pool), Audit: auditStore, Logger: logger})
	settingsAPI := settings.NewAPI(settings.APIParams{Settings: instance, Logger: logger})
	p.Mount = []func(*httpapi.Router){staff.Mount, consultationAPI.Mount, mediaAPI.Mount, statisticsAPI.Mount, settingsAPI.Mount}
	// Real-time: this replica's sockets hear every replica's events through
	// LISTEN/NOTIFY, and presence is counted per replica in the database.
	replica := newReplicaID()
	p.Realtime = realtime.NewHandler(realtime.Params{
		Logger: logger, Hub: hub, AppHosts: cfg.AppHosts(), WriteError: httpapi.WriteError,
		Authenticate: consultationapi.SocketAuthenticator(auth),
		Presence: func(ctx context.Context, p authz.Principal, sockets int) error {
			return consultations.SetPresence(ctx, replica, p, sockets)
		},
		Messages: consultationAPI.SocketMessages(),
	})
	h, rt := httpapi.NewHandler(p)
	chores := []housekeeping.Task{
		{Name: "expired staff sessions", Run: signIn.PurgeExpired},
		{Name: "stale media nodes", Run: nodes.Purge},
		{Name: "expired feedback tokens", Run: consultations.PurgeFeedbackTokens},
		// Closed consultations go after the retention the administrators
		// set (closed_consultation_retention_days); their anonymous
		// statistics and the audit trail stay.
		{Name: "closed consultation retention", Run: func(ctx context.Context) (int64, error) {
			days, err := instance.RetentionDays(ctx)
			if err != nil {
				return 0, err
			}
			return consultations.PurgeClosed(ctx, time.Now().AddDate(0, 0, -days))
		}},
		{Name: "audit retention", Run: func(ctx context.Context) (int64, error) {
			return auditStore.Purge(ctx, time.Now().AddDate(0, 0, -cfg.AuditRetentionDays))
		}},
	}
	start := func(ctx context.Context) {
		startEvents(ctx, pool, hub, replica, logger)
		go consultations.RunPresenceHeartbeat(ctx, replica)
		// Calls: control commands for media nodes, and the ring and
		// duration limits, both kept in the database so a restart loses
		// neither.
		go nodes.RunControl(ctx)
		go consultations.RunCallTimeouts(ctx, consultation.DefaultCallSweep)
		go consultations.RunInterpreterRequestExpiry(ctx, consultation.DefaultInterpreterSweep)
	}
	return &builtAPI{handler: h, router: rt, chores: chores, start: start}, nil
}

// newReplicaID names this process in presence rows and its listening
// connection.
func newReplicaID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "r-" + hex.EncodeToString(b[:])
}

// startEvents starts this replica's event listener on a dedicated
// connection and waits (up to 10 s) until it listens, so that the first
// sockets miss nothing; later outages make the hub ask sockets to resync.
func startEvents(ctx context.Context, pool *pgxpool.Pool, hub *realtime.Hub, replica string, logger *slog.Logger) {
	cfg := pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "hcw-events-" + replica
	listening := make(chan struct{})
	var once sync.Once
	l := events.NewListener(events.ListenerParams{ConnConfig: cfg, Sink: hub, Logger: logger,
		OnListen: func() { once.Do(func() { close(listening) }) }})
	go func() { _ = l.Run(ctx) }()
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		logger.Warn("event listener not listening yet; starting anyway")
	case <-ctx.Done():
	}
}

// shutdown stops accepting, closes sockets with 1001 and drains requests,
// all within timeout. The pool is closed by the caller afterwards.
func shutdown(srv *http.Server, hub *realtime.Hub, timeout time.Duration, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	hubDone := make(chan struct{})
	go func() { hub.Shutdown(); close(hubDone) }()
	if err := srv.Shutdown(ctx); err != nil {
		logger.Warn("http drain incomplete", "error", err.Error())
	}
	select {
	case <-hubDone:
	case <-ctx.Done():
		logger.Warn("websockets still open at shutdown deadline", "open", hub.Len())
	}
}

// serveMetrics starts the internal Prometheus endpoint (GET /metrics).
func serveMetrics(addr string, metrics *httpapi.Metrics, logger *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen metrics %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			logger.Error("metrics server stopped", "error", err.Error())
		}
	}()
	logger.Info("metrics listening", "listen", addr)
	return srv, nil
}
