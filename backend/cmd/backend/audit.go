package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/config"
)

// Exit codes of "backend audit verify".
const (
	exitIntact = 0
	exitBroken = 1
	exitError  = 2
)

// auditCmd runs "backend audit verify" and returns the process exit code:
// 0 intact, 1 broken, 2 on any error. Stdout carries only the result line;
// logs and errors go to stderr.
func auditCmd(args []string) int {
	if len(args) != 1 || args[0] != "verify" {
		fmt.Fprintln(os.Stderr, "usage: backend audit verify")
		return exitError
	}
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintf(os.Stderr, "config: %v\n", err)
		return exitError
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// Verification reads; it never migrates. A schema without the audit
	// tables is an error, not an empty chain.
	pool, err := openCurrent(ctx, cfg, logger)
	if err != nil {
		fmt.Fprintf(os.Stderr, "audit verify: %v\n", err)
		return exitError
	}
	defer pool.Close()
	code, err := auditVerify(ctx, audit.NewStore(pool), os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "audit verify: %v\n", err)
	}
	return code
}

// auditVerify verifies the chain, records that it did as the system, and
// writes the result as one JSON line to out.
func auditVerify(ctx context.Context, store *audit.Store, out io.Writer) (int, error) {
	res, err := store.Verify(ctx)
	if err != nil {
		return exitError, err
	}
	outcome := audit.OutcomeSuccess
	if !res.Intact {
		outcome = audit.OutcomeFailure
	}
	recordErr := store.Append(ctx, audit.Event{
		ActorType: audit.ActorSystem, Action: audit.ActionAuditVerified, Outcome: outcome,
	})
	if err := json.NewEncoder(out).Encode(res); err != nil {
		return exitError, fmt.Errorf("write result: %w", err)
	}
	if recordErr != nil {
		return exitError, recordErr
	}
	if !res.Intact {
		return exitBroken, nil
	}
	return exitIntact, nil
}
