// Package housekeeping runs the backend's periodic clean-ups: expired
// sessions, audit rows past their retention. Every task is idempotent and
// safe to run on several replicas at once (each takes its own locks), so a
// plain ticker per replica is enough; a missed run is caught up by the next.
package housekeeping

import (
	"context"
	"log/slog"
	"time"
)

// Task is one clean-up. It returns how many rows it removed.
type Task struct {
	Name string
	Run  func(ctx context.Context) (int64, error)
}

// DefaultInterval is how often the tasks run.
const DefaultInterval = time.Hour

// taskTimeout bounds one task, so a stuck query cannot hold the loop.
const taskTimeout = 5 * time.Minute

// Run runs every task once at start, then every interval, until ctx ends.
// A failing task is logged and retried at the next tick; it never stops
// the others.
func Run(ctx context.Context, interval time.Duration, logger *slog.Logger, tasks ...Task) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		RunOnce(ctx, logger, tasks...)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce runs every task once.
func RunOnce(ctx context.Context, logger *slog.Logger, tasks ...Task) {
	for _, task := range tasks {
		if ctx.Err() != nil {
			return
		}
		tctx, cancel := context.WithTimeout(ctx, taskTimeout)
		n, err := task.Run(tctx)
		cancel()
		if err != nil {
			logger.Error("housekeeping task failed", "task", task.Name, "error", err.Error())
			continue
		}
		if n > 0 {
			logger.Info("housekeeping", "task", task.Name, "removed", n)
		}
	}
}
