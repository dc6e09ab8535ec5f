// Package node runs a media node's listeners. Until the SFU lands (its own
// issue) the node reserves its two media ports, so the firewall story and
// the compose wiring are real from day one, and answers health checks.
package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hcw-home/hcw/media/internal/config"
)

// Node holds a media node's sockets.
type Node struct {
	log      *slog.Logger
	udp      net.PacketConn
	tcp      net.Listener
	http     *http.Server
	httpLn   net.Listener
	draining atomic.Bool
}

// Params are what New needs.
type Params struct {
	Config *config.Config
	Logger *slog.Logger
}

// New binds the node's ports. It fails when a port is taken, naming it.
func New(p Params) (*Node, error) {
	n := &Node{log: p.Logger}
	var err error
	if n.udp, err = net.ListenPacket("udp", fmt.Sprintf(":%d", p.Config.UDPPort)); err != nil {
		return nil, fmt.Errorf("bind media UDP port: %w", err)
	}
	if n.tcp, err = net.Listen("tcp", fmt.Sprintf(":%d", p.Config.TCPPort)); err != nil {
		n.udp.Close()
		return nil, fmt.Errorf("bind ICE-TCP port: %w", err)
	}
	if n.httpLn, err = net.Listen("tcp", p.Config.HTTPListen); err != nil {
		n.udp.Close()
		n.tcp.Close()
		return nil, fmt.Errorf("bind HTTP %s: %w", p.Config.HTTPListen, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if n.draining.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	n.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return n, nil
}

// HTTPAddr is the bound address of the HTTP server.
func (n *Node) HTTPAddr() net.Addr { return n.httpLn.Addr() }

// Run serves until ctx ends, then drains and closes.
func (n *Node) Run(ctx context.Context) error {
	go n.discard(ctx)
	errc := make(chan error, 1)
	go func() { errc <- n.http.Serve(n.httpLn) }()
	n.log.Info("media node listening", "http", n.httpLn.Addr().String(), "udp", n.udp.LocalAddr().String(), "tcp", n.tcp.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	n.draining.Store(true)
	n.udp.Close()
	n.tcp.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.http.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// discard drains the reserved media sockets so nothing queues in the
// kernel until the SFU owns them.
func (n *Node) discard(ctx context.Context) {
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := n.udp.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	for {
		c, err := n.tcp.Accept()
		if err != nil {
			return
		}
		c.Close()
		if ctx.Err() != nil {
			return
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
