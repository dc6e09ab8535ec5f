// Package pionslog routes pion's logs into slog, so the TURN server writes
// one JSON log stream instead of pion's own text format on stderr.
package pionslog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// LevelTrace is below slog's debug level; pion's trace output is per packet.
const LevelTrace = slog.LevelDebug - 4

// Factory implements logging.LoggerFactory on top of a slog.Logger.
type Factory struct {
	Logger *slog.Logger
}

// NewLogger returns a pion logger whose records carry the pion scope.
func (f Factory) NewLogger(scope string) logging.LeveledLogger {
	return &leveled{l: f.Logger.With("component", "pion/"+scope)}
}

type leveled struct {
	l *slog.Logger
}

func (l *leveled) log(level slog.Level, msg string) {
	l.l.Log(context.Background(), level, msg)
}

// logf formats only when the level is enabled: pion logs every packet at
// debug and trace, and formatting those would dominate a busy relay.
func (l *leveled) logf(level slog.Level, format string, args ...any) {
	if !l.l.Enabled(context.Background(), level) {
		return
	}
	l.l.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

func (l *leveled) Trace(msg string)                  { l.log(LevelTrace, msg) }
func (l *leveled) Tracef(format string, args ...any) { l.logf(LevelTrace, format, args...) }
func (l *leveled) Debug(msg string)                  { l.log(slog.LevelDebug, msg) }
func (l *leveled) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }
func (l *leveled) Info(msg string)                   { l.log(slog.LevelInfo, msg) }
func (l *leveled) Infof(format string, args ...any)  { l.logf(slog.LevelInfo, format, args...) }
func (l *leveled) Warn(msg string)                   { l.log(slog.LevelWarn, msg) }
func (l *leveled) Warnf(format string, args ...any)  { l.logf(slog.LevelWarn, format, args...) }
func (l *leveled) Error(msg string)                  { l.log(slog.LevelError, msg) }
func (l *leveled) Errorf(format string, args ...any) { l.logf(slog.LevelError, format, args...) }

var _ logging.LoggerFactory = Factory{}
