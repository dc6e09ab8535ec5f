package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Sink receives what the Listener hears, in order, from one goroutine.
type Sink interface {
	// Deliver hands over one event.
	Deliver(Event)
	// Resync says events may have been missed (the listening connection
	// was lost and is back): subscribers must refetch their state.
	Resync()
}

// Back-off bounds of ListenerParams.
const (
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
)

// ListenerParams configures NewListener.
type ListenerParams struct {
	// ConnConfig is the dedicated connection's configuration (a copy of
	// the pool's, typically with its own application_name).
	ConnConfig *pgx.ConnConfig
	Sink       Sink
	Logger     *slog.Logger
	// MinBackoff and MaxBackoff bound the wait between reconnections,
	// doubling after each failure.
	MinBackoff, MaxBackoff time.Duration
	// OnListen, if set, is called each time LISTEN is in effect (tests).
	OnListen func()
}

// Listener holds one dedicated connection that LISTENs on Channel.
type Listener struct {
	p ListenerParams
}

// NewListener returns a Listener; Run starts it.
func NewListener(p ListenerParams) *Listener {
	if p.MinBackoff <= 0 {
		p.MinBackoff = DefaultMinBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultMaxBackoff
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	return &Listener{p: p}
}

// Run listens until ctx ends, reconnecting with back-off. After every
// successful LISTEN except one on the very first attempt it calls
// Sink.Resync, so nothing committed while nobody listened goes
// unnoticed. It returns ctx's error.
func (l *Listener) Run(ctx context.Context) error {
	wait := l.p.MinBackoff
	// Every LISTEN but the one of the very first attempt may follow a
	// time in which events went unheard.
	first := true
	for {
		err := l.listen(ctx, !first, func() { wait = l.p.MinBackoff })
		first = false
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.p.Logger.Warn("event listener disconnected; reconnecting", "error", err.Error(), "wait", wait.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, l.p.MaxBackoff)
	}
}

// listen runs one connection's life. onUp is called once LISTEN works.
func (l *Listener) listen(ctx context.Context, reconnect bool, onUp func()) error {
	conn, err := pgx.ConnectConfig(ctx, l.p.ConnConfig)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = conn.Close(cctx)
		cancel()
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{Channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	onUp()
	if l.p.OnListen != nil {
		l.p.OnListen()
	}
	if reconnect {
		l.p.Logger.Info("event listener reconnected; asking sockets to resync")
		l.p.Sink.Resync()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var ev Event
		if err := json.Unmarshal([]byte(n.Payload), &ev); err != nil || ev.Type == "" {
			if err == nil {
				err = errors.New("no type")
			}
			l.p.Logger.Error("event dropped: undecodable payload", "error", err.Error())
			continue
		}
		l.p.Sink.Deliver(ev)
	}
}
