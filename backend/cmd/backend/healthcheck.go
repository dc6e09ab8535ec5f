package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/hcw-home/hcw/backend/internal/config"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
)

// healthcheck probes /healthz, or /readyz with --ready, on the port of
// HCW_HTTP_LISTEN. The image is FROM scratch, so there is no curl.
func healthcheck(args []string) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	ready := fs.Bool("ready", false, "probe /readyz (database reachable, migrations applied) instead of /healthz")
	if err := fs.Parse(args); err != nil {
		return err
	}
	port, err := config.ListenPort(os.LookupEnv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return httpapi.Probe(context.Background(), port, *ready)
}
