package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hcw-home/hcw/backend/internal/config"
	"github.com/hcw-home/hcw/backend/internal/database"
)

// cliDBWait bounds the wait for the database in an operator's command: a
// person at a terminal should get an answer, not a minute of retries.
const cliDBWait = 15 * time.Second

// openCurrent opens the database for a command that reads or rewrites
// data but never migrates: a schema behind the binary is an error that
// tells the operator to start the service once.
func openCurrent(ctx context.Context, cfg *config.Options, logger *slog.Logger) (*pgxpool.Pool, error) {
	pool, err := database.Open(ctx, database.OpenParams{Config: cfg.Database, Logger: logger, Wait: cliDBWait})
	if err != nil {
		return nil, err
	}
	migrations, err := database.Load(database.Migrations())
	if err == nil {
		err = database.CheckReady(ctx, pool, migrations)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("%w (start the service once with this version to apply them)", err)
	}
	return pool, nil
}
