// Command turn is HCW@Home's TURN relay. With the argument "healthcheck" it
// instead probes a running relay's /healthz and exits 0 or 1 (for a Docker
// HEALTHCHECK in an image without curl).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hcw-home/hcw/turn/internal/config"
	"github.com/hcw-home/hcw/turn/internal/metrics"
	"github.com/hcw-home/hcw/turn/internal/peerpolicy"
	"github.com/hcw-home/hcw/turn/internal/probe"
	"github.com/hcw-home/hcw/turn/internal/relay"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck())
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func healthcheck() int {
	listen, err := config.LoadInternalListen(os.LookupEnv)
	if err == nil {
		err = probe.Check(context.Background(), listen)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func run() error {
	cfg, err := config.Load(os.LookupEnv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if cfg.PublicIPGuessed {
		log.Warn("relay address guessed from the host's interfaces; set "+config.EnvPublicIP+" to the address clients reach", "public_ip", cfg.PublicIP.String())
	}

	m := metrics.New()
	policy := peerpolicy.New(cfg.AllowPeers)
	if len(cfg.AllowPeerHosts) > 0 {
		watchCtx, cancelWatch := context.WithCancel(context.Background())
		defer cancelWatch()
		policy.WatchHosts(watchCtx, log, cfg.AllowPeerHosts, 15*time.Second, net.DefaultResolver.LookupNetIP)
	}
	srv, err := relay.New(relay.Params{
		Secret:         cfg.Secret,
		Realm:          cfg.Realm,
		ListenUDP:      cfg.ListenUDP,
		ListenTCP:      cfg.ListenTCP,
		ListenTLS:      cfg.TLSListen,
		TLSCertificate: cfg.TLSCertificate,
		PublicIP:       cfg.PublicIP,
		RelayPortMin:   cfg.RelayPortMin,
		RelayPortMax:   cfg.RelayPortMax,
		UserQuota:      cfg.UserQuota,
		Policy:         policy,
		Metrics:        m,
		Logger:         log,
	})
	if err != nil {
		return err
	}

	internal := &http.Server{
		Addr:              cfg.InternalListen,
		Handler:           probe.Handler(srv.Ready, m.Registry),
		ReadHeaderTimeout: 5 * time.Second,
	}
	ln, err := net.Listen("tcp", cfg.InternalListen)
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("listen internal %s: %w", cfg.InternalListen, err)
	}
	httpErr := make(chan error, 1)
	go func() { httpErr <- internal.Serve(ln) }()

	log.Info("turn relay started",
		"udp", addrString(srv.UDPAddr()), "tcp", addrString(srv.TCPAddr()), "tls", addrString(srv.TLSAddr()),
		"public_ip", cfg.PublicIP.String(), "realm", cfg.Realm,
		"relay_ports", fmt.Sprintf("%d-%d", cfg.RelayPortMin, cfg.RelayPortMax),
		"allow_peers", len(cfg.AllowPeers), "allow_peer_hosts", cfg.AllowPeerHosts, "user_quota", cfg.UserQuota, "internal", cfg.InternalListen)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	select {
	case <-ctx.Done():
		log.Info("turn relay stopping")
	case err := <-httpErr:
		log.Error("internal http server failed", "err", err)
	}

	closeErr := srv.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := internal.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		closeErr = errors.Join(closeErr, fmt.Errorf("shutdown internal http: %w", err))
	}
	return closeErr
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
