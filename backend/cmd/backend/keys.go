package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/config"
	"github.com/hcw-home/hcw/backend/internal/keyrotation"
	"github.com/hcw-home/hcw/backend/internal/sealed"
)

const keysUsage = "usage: backend keys rotate [--batch 500]"

// Exit codes of "backend keys rotate" besides exitError (2): everything
// is sealed with HCW_DATA_KEY, or some values did not open.
const (
	exitRotated       = 0
	exitSomeNotOpened = 1
)

// keysCmd runs "backend keys rotate" and returns the process exit code: 0
// when every sealed value is now sealed with HCW_DATA_KEY, 1 when some did
// not open (listed on stderr), 2 on any other error. Stdout carries only
// the result line; progress, failures and logs go to stderr.
func keysCmd(args []string) int {
	if len(args) == 0 || args[0] != "rotate" {
		fmt.Fprintln(os.Stderr, keysUsage)
		return exitError
	}
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	batch := fs.Int("batch", keyrotation.DefaultBatchSize, "rows per transaction")
	if err := fs.Parse(args[1:]); err != nil {
		return exitError
	}
	if fs.NArg() != 0 || *batch < 1 || *batch > 100000 {
		fmt.Fprintln(os.Stderr, keysUsage+" (batch: 1 to 100000)")
		return exitError
	}
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintf(os.Stderr, "config: %v\n", err)
		return exitError
	}
	keys, err := sealed.NewKeyring(cfg.DataKey, cfg.PreviousDataKeys...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "keys rotate: %v\n", err)
		return exitError
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// Rotation never migrates: a schema behind the binary may lack sealed
	// columns the registry names, or hold them in an older shape.
	pool, err := openCurrent(ctx, cfg, logger)
	if err != nil {
		fmt.Fprintf(os.Stderr, "keys rotate: %v\n", err)
		return exitError
	}
	defer pool.Close()
	code, err := keysRotate(ctx, pool, keys, *batch, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "keys rotate: %v\n", err)
	}
	return code
}

// keysRotate re-seals every sealed column with the keyring's primary key,
// records the run in the audit trail as the system, and writes the counts
// as one JSON line to out; progress and the values that did not open go to
// log, one line each.
func keysRotate(ctx context.Context, pool *pgxpool.Pool, keys *sealed.Keyring, batch int, out, log io.Writer) (int, error) {
	fmt.Fprintf(log, "keys rotate: sealing with key %s, %d rows per batch\n", keys.Primary().ID(), batch)
	res, err := keyrotation.Rotate(ctx, pool, keys, batch, func(column string, done int) {
		fmt.Fprintf(log, "keys rotate: %s: %d rows\n", column, done)
	})
	for _, f := range res.Failures {
		fmt.Fprintf(log, "keys rotate: does not open: %s\n", f)
	}
	if res.Failed > len(res.Failures) {
		fmt.Fprintf(log, "keys rotate: and %d more that do not open\n", res.Failed-len(res.Failures))
	}
	outcome := audit.OutcomeSuccess
	if err != nil || res.Failed > 0 {
		outcome = audit.OutcomeFailure
	}
	// Recorded even when the run stopped: some values may have been
	// re-sealed. A cancelled context would refuse the insert, hence
	// WithoutCancel.
	recordErr := audit.NewStore(pool).Append(context.WithoutCancel(ctx), audit.Event{
		ActorType: audit.ActorSystem, Action: audit.ActionKeysRotated,
		ObjectType: "data_key", ObjectID: keys.Primary().ID().String(), Outcome: outcome,
	})
	if err != nil {
		return exitError, err
	}
	if err := json.NewEncoder(out).Encode(res); err != nil {
		return exitError, fmt.Errorf("write result: %w", err)
	}
	if recordErr != nil {
		return exitError, recordErr
	}
	if res.Failed > 0 {
		return exitSomeNotOpened, nil
	}
	return exitRotated, nil
}
