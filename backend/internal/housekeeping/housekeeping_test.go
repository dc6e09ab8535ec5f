package housekeeping

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunOnceKeepsGoingAfterAFailure(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	var second atomic.Int32
	RunOnce(context.Background(), logger,
		Task{Name: "broken", Run: func(context.Context) (int64, error) { return 0, errors.New("boom") }},
		Task{Name: "sessions", Run: func(context.Context) (int64, error) { second.Add(1); return 3, nil }},
	)
	if second.Load() != 1 {
		t.Fatal("a failing task stopped the next one")
	}
	for _, want := range []string{`"task":"broken"`, `"error":"boom"`, `"task":"sessions"`, `"removed":3`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s: %s", want, logs.String())
		}
	}
}

func TestRunRepeatsUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var runs atomic.Int32
	done := make(chan struct{})
	go func() {
		Run(ctx, 10*time.Millisecond, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)),
			Task{Name: "count", Run: func(context.Context) (int64, error) { runs.Add(1); return 0, nil }})
		close(done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runs.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("ran %d times in 5 s", runs.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}
}
