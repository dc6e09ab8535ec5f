// Command media is a media node of the appliance: an SFU with its
// signalling, the backend's control API, health and metrics.
//
// The first SIGTERM or SIGINT drains the node (readiness 503, no new rooms,
// calls in progress continue up to HCW_MEDIA_DRAIN_TIMEOUT); a second one
// ends the remaining calls and exits at once.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hcw-home/hcw/media/internal/config"
	"github.com/hcw-home/hcw/media/internal/node"
	"github.com/hcw-home/hcw/media/internal/sfu"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck())
	}
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	os.Exit(run(cfg, log))
}

func run(cfg *config.Config, log *slog.Logger) int {
	n, err := node.New(node.Params{Config: cfg, Logger: log, Version: version, NewRooms: newRooms})
	if err != nil {
		log.Error("start media node", "error", err)
		return 1
	}

	// One channel takes both signals for the process's whole life, so no
	// signal ever meets Go's default action (exit without leaving the
	// backend's registry): the first drains, the second aborts the drain.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	drain, startDrain := context.WithCancel(context.Background())
	defer startDrain()
	abort, stopAbort := context.WithCancel(context.Background())
	defer stopAbort()
	go func() {
		select {
		case <-sigs:
			startDrain()
		case <-abort.Done():
			return
		}
		select {
		case <-sigs:
			log.Warn("second signal: ending the remaining calls now")
			stopAbort()
		case <-abort.Done():
		}
	}()

	code := 0
	if err := n.Run(drain); err != nil {
		log.Error("media node failed", "error", err)
		code = 1
		stopAbort() // nothing to drain for: the node cannot serve
	} else {
		log.Info("signal received: draining", "timeout", cfg.DrainTimeout.String())
	}
	if err := n.Shutdown(abort); err != nil {
		log.Error("media node shutdown", "error", err)
		code = 1
	}
	return code
}

// newRooms builds the node's SFU.
func newRooms(p node.RoomsParams) (node.Rooms, error) {
	probeMax := p.ProbeMaxBitrate
	if probeMax == 0 {
		probeMax = -1 // off; sfu reads 0 as its default
	}
	s, err := sfu.New(sfu.Params{
		Logger: p.Logger, NodeID: p.NodeID, Verifier: p.Verifier,
		UDPConn: p.UDPConn, TCPListener: p.TCPListener, PublicIPs: p.PublicIPs,
		Capacity: p.Capacity, GracePeriod: p.GracePeriod,
		Registerer: p.Registerer, Now: p.Now, RefreshKeys: p.RefreshKeys,
		ProbeMaxBitrate: probeMax,
	})
	if err != nil {
		return nil, err // not s: a nil *sfu.SFU in a node.Rooms is not nil
	}
	return s, nil
}

// healthcheck is the container's HEALTHCHECK (the image has no curl): the
// node is healthy when it is ready (grant keys loaded, not draining). It
// reads only HCW_MEDIA_HTTP_LISTEN, so a probe never fails on another
// variable.
func healthcheck() int {
	port, err := config.HTTPPort(os.LookupEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://127.0.0.1:" + port + "/readyz")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "readyz:", resp.Status)
		return 1
	}
	return 0
}
