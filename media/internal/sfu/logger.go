package sfu

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
)

// pionLogs routes pion's scoped loggers into slog; pion's trace level maps
// below debug so it stays off unless asked for.
//
// Closing a peer connection makes pion complain about everything it was
// still reading or writing ("Failed to read from candidate ...: io:
// read/write on closed pipe", "Failed to accept RTP stream is already
// closed", a dozen lines per connection), and an ICE restart does the same
// for the old candidates. A warning or error about something closed is
// therefore debug when its peer connection is closing or restarting ICE,
// or the node shuts down. When the other side ended the connection, pion
// may complain before the node learns of it: such a line waits (hold) for
// its connection to be found closing before it is logged, as a warning
// only if it was not. Any other warning stays a warning.
type pionLogs struct {
	log *slog.Logger
	// node is set when the node shuts down; nil is never.
	node *atomic.Bool
	// peer is the peer connection logging through this factory; nil for
	// the node's own pion objects (the ICE muxes).
	peer *peerNoise
	// hold is how long a complaint about something closed waits for its
	// peer connection to be closing.
	hold time.Duration
}

// noiseHold is pionLogs.hold outside tests: the time between the peer's
// DTLS close and pion closing the connection, with room to spare.
const noiseHold = 2 * time.Second

// peerNoise says when pion's complaints about closed things are expected
// from one peer connection.
type peerNoise struct {
	closing    atomic.Bool // the node closes it, or it closed itself
	restarting atomic.Bool // an ICE restart is closing the old candidates
}

const levelTrace = slog.LevelDebug - 4

// forPeer returns the factory for one peer connection's pion objects (its
// ICE agent, DTLS and SRTP, interceptors).
func (f pionLogs) forPeer(n *peerNoise) pionLogs {
	f.peer = n
	return f
}

// NewLogger implements logging.LoggerFactory.
func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	f.log = f.log.With("pion", scope)
	return pionLogger{f}
}

type pionLogger struct{ f pionLogs }

// shutdownNoise reports whether a pion message is about something closed
// under it.
func shutdownNoise(msg string) bool {
	for _, s := range []string{"closed", "EOF", "context canceled", "no endpoint for packet"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// expected reports whether complaints about closed things are expected.
func (f pionLogs) expected() bool {
	return (f.node != nil && f.node.Load()) ||
		(f.peer != nil && (f.peer.closing.Load() || f.peer.restarting.Load()))
}

func (l pionLogger) logf(level slog.Level, format string, args ...any) {
	ctx := context.Background()
	h := l.f.log.Handler()
	if level < slog.LevelWarn {
		if h.Enabled(ctx, level) {
			l.emit(h, time.Now(), level, fmt.Sprintf(format, args...))
		}
		return
	}
	at, msg := time.Now(), fmt.Sprintf(format, args...)
	switch {
	case !shutdownNoise(msg):
		l.emit(h, at, level, msg)
	case l.f.expected():
		l.emit(h, at, slog.LevelDebug, msg)
	case l.f.peer != nil && l.f.hold > 0:
		time.AfterFunc(l.f.hold, func() {
			if l.f.expected() {
				level = slog.LevelDebug
			}
			l.emit(h, at, level, msg)
		})
	default:
		l.emit(h, at, level, msg)
	}
}

func (l pionLogger) emit(h slog.Handler, at time.Time, level slog.Level, msg string) {
	ctx := context.Background()
	if h.Enabled(ctx, level) {
		_ = h.Handle(ctx, slog.NewRecord(at, level, msg, 0))
	}
}

func (l pionLogger) Trace(msg string)                  { l.logf(levelTrace, "%s", msg) }
func (l pionLogger) Tracef(format string, args ...any) { l.logf(levelTrace, format, args...) }
func (l pionLogger) Debug(msg string)                  { l.logf(slog.LevelDebug, "%s", msg) }
func (l pionLogger) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }
func (l pionLogger) Info(msg string)                   { l.logf(slog.LevelInfo, "%s", msg) }
func (l pionLogger) Infof(format string, args ...any)  { l.logf(slog.LevelInfo, format, args...) }
func (l pionLogger) Warn(msg string)                   { l.logf(slog.LevelWarn, "%s", msg) }
func (l pionLogger) Warnf(format string, args ...any)  { l.logf(slog.LevelWarn, format, args...) }
func (l pionLogger) Error(msg string)                  { l.logf(slog.LevelError, "%s", msg) }
func (l pionLogger) Errorf(format string, args ...any) { l.logf(slog.LevelError, format, args...) }
