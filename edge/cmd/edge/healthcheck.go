package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "healthcheck",
		Usage: "[--address <host:port>] [--admin <url>]",
		Short: "Exits 0 when the edge's admin API answers and its HTTPS listener completes a TLS handshake",
		Long: `
The image is FROM scratch (no curl), so the container's HEALTHCHECK runs the
edge binary itself. Healthy means: the admin API answers on its local address
(the config is loaded) and the HTTPS listener accepts a TLS handshake for the
doctor host (certificates are in place).`,
		Flags: func() *flag.FlagSet {
			fs := flag.NewFlagSet("healthcheck", flag.ExitOnError)
			fs.String("address", "127.0.0.1:443", "HTTPS listener to handshake with")
			fs.String("admin", "http://127.0.0.1:2019/config/", "admin API URL that must answer 200")
			fs.String("server-name", "", "SNI for the handshake (default $HCW_DOCTOR_HOST or doctor.localhost)")
			return fs
		}(),
		Func: healthcheck,
	})
}

func healthcheck(fl caddycmd.Flags) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fl.String("admin"), nil)
	if err != nil {
		return caddycmdExitError, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return caddycmdExitError, fmt.Errorf("admin API: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return caddycmdExitError, fmt.Errorf("admin API: status %d", resp.StatusCode)
	}

	name := fl.String("server-name")
	if name == "" {
		name = envOr("HCW_DOCTOR_HOST", "doctor.localhost")
	}
	d := tls.Dialer{NetDialer: &net.Dialer{}, Config: &tls.Config{
		ServerName: name,
		// The check proves the listener and a certificate are there; it
		// does not need to trust the chain (an ACME certificate may still
		// be on its way while the internal one is served).
		InsecureSkipVerify: true, //nolint:gosec
	}}
	conn, err := d.DialContext(ctx, "tcp", fl.String("address"))
	if err != nil {
		return caddycmdExitError, fmt.Errorf("tls handshake with %s: %w", name, err)
	}
	conn.Close()
	return 0, nil
}

// caddycmdExitError is the exit status for a failed check (Docker treats any
// non-zero status as unhealthy).
const caddycmdExitError = 1
