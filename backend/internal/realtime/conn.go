// Package realtime serves the signalling WebSocket: origin check, envelope
// protocol, keepalive, and a hub of open sockets.
package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/version"
)

// Protocol limits.
const (
	// ReadLimit is the largest message accepted; larger ones close with 1009.
	ReadLimit = 64 << 10
	// Inbound message limits per socket (see Params).
	DefaultInboundRate    = 20
	DefaultInboundBurst   = 40
	DefaultMaxRateLimited = 100
	// DefaultPingInterval and DefaultPingTimeout detect dead peers.
	DefaultPingInterval = 20 * time.Second
	DefaultPingTimeout  = 10 * time.Second
	writeTimeout        = 10 * time.Second
	// SendQueue is how many events may wait for a slow socket; a socket
	// that falls further behind is closed with 1013 (the client
	// reconnects and refetches).
	SendQueue = 256
	// presenceTimeout bounds one presence update.
	presenceTimeout = 5 * time.Second
)

// Message types of the envelope.
const (
	TypeHello = "hello"
	TypePing  = "ping"
	TypePong  = "pong"
	TypeError = "error"
)

// Error codes sent in {"type":"error","data":{"code":...}}.
const (
	CodeUnknownType    = "unknown_type"
	CodeRateLimited    = "rate_limited"
	CodeInvalidMessage = "invalid_message"
	// CodeOriginRefused and CodeUnauthenticated are the HTTP error codes
	// of a refused handshake.
	CodeOriginRefused   = "origin_refused"
	CodeUnauthenticated = "unauthenticated"
)

// Envelope is every message in both directions.
type Envelope struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
	Data any    `json:"data,omitempty"`
}

// Inbound is a message from a client, its data left raw for the
// handler of its type.
type Inbound struct {
	Type string          `json:"type"`
	ID   string          `json:"id"`
	Data json.RawMessage `json:"data"`
}

// Envelope limits of ParseInbound.
const (
	maxTypeLen = 64
	maxIDLen   = 128
)

// ErrInvalidMessage is ParseInbound's refusal.
var ErrInvalidMessage = errors.New("invalid message")

// ParseInbound decodes one client message: a JSON object with a type of
// at most 64 bytes and an optional id of at most 128.
func ParseInbound(b []byte) (Inbound, error) {
	var in Inbound
	if err := json.Unmarshal(b, &in); err != nil || in.Type == "" || len(in.Type) > maxTypeLen || len(in.ID) > maxIDLen {
		return Inbound{}, ErrInvalidMessage
	}
	return in, nil
}

// ErrorWriter writes the API's JSON error shape.
type ErrorWriter func(w http.ResponseWriter, status int, code, message string)

// Params configures NewHandler.
type Params struct {
	Logger *slog.Logger
	Hub    *Hub
	// AppHosts are the doctor, patient and admin host names.
	AppHosts []string
	// WriteError answers a refused handshake.
	WriteError ErrorWriter
	// Authenticate resolves the caller from the request (the session
	// cookie). A refused caller gets 401 before any upgrade. Nil accepts
	// everyone (tests of the protocol alone).
	Authenticate func(r *http.Request) (authz.Principal, error)
	// InboundRate and InboundBurst bound the messages a client may send
	// (default 20 per second, bursts of 40). Beyond them a message gets
	// the error rate_limited; a client that keeps going past
	// MaxRateLimited refusals is disconnected with 1008.
	InboundRate    rate.Limit
	InboundBurst   int
	MaxRateLimited int
	// PingInterval and PingTimeout default to 20 s and 10 s.
	PingInterval, PingTimeout time.Duration
	// Presence, if set, is told a participant's number of open sockets on
	// this replica each time it changes, one call at a time per handler
	// (a participant is online while any replica counts one).
	Presence func(ctx context.Context, p authz.Principal, sockets int) error
	// Messages handles inbound message types beyond ping, by type. Each
	// is called from the socket's read loop, one message at a time, and
	// its answer is written before the next message is read; it must
	// authorise the message against the socket's principal itself.
	Messages map[string]MessageHandler
}

// MessageHandler answers one inbound message of its type: id is the
// client's message id (echoed in the answer), data the raw "data" field.
// The answer's ID is set to id when left empty.
type MessageHandler func(ctx context.Context, c *Conn, id string, data json.RawMessage) Envelope

// Handler serves GET /ws.
type Handler struct {
	p      Params
	nextID atomic.Uint64
	// presenceLocks order the presence updates of one participant, so the
	// last update written carries the latest count; updates of different
	// participants (striped by id) run in parallel.
	presenceLocks [64]sync.Mutex
}

// NewHandler returns the WebSocket handler.
func NewHandler(p Params) *Handler {
	if p.PingInterval <= 0 {
		p.PingInterval = DefaultPingInterval
	}
	if p.InboundRate <= 0 {
		p.InboundRate = DefaultInboundRate
	}
	if p.InboundBurst <= 0 {
		p.InboundBurst = DefaultInboundBurst
	}
	if p.MaxRateLimited <= 0 {
		p.MaxRateLimited = DefaultMaxRateLimited
	}
	if p.PingTimeout <= 0 {
		p.PingTimeout = DefaultPingTimeout
	}
	return &Handler{p: p}
}

// Conn is one open socket.
type Conn struct {
	// ID is unique within the process, for logs.
	ID uint64
	// Client is where the socket comes from.
	Client clientinfo.Info
	// Principal is who it belongs to.
	Principal authz.Principal
	ws        *websocket.Conn
	// topics are the socket's subscriptions (Subscriptions).
	topics []string
	// send feeds the socket's writer; dead is set once it stopped.
	send chan outbound
	dead atomic.Bool
}

// outbound is one queued message, or the order to close after the
// messages queued before it.
type outbound struct {
	raw    []byte
	close  bool
	code   websocket.StatusCode
	reason string
}

func (c *Conn) close(code websocket.StatusCode, reason string) {
	_ = c.ws.Close(code, reason)
}

// enqueue hands m to the socket's writer without blocking the caller; a
// socket too far behind is closed.
// reply queues an answer behind the events already queued: one writer
// per socket keeps everything the client receives in the order the server
// decided it (an event delivered before a ping is read before its pong).
func (c *Conn) reply(e Envelope) {
	raw, err := json.Marshal(e)
	if err != nil {
		return
	}
	c.enqueue(outbound{raw: raw})
}

func (c *Conn) enqueue(m outbound) {
	if c.dead.Load() {
		return
	}
	select {
	case c.send <- m:
	default:
		if c.dead.CompareAndSwap(false, true) {
			go c.close(websocket.StatusTryAgainLater, "too far behind; reconnect")
		}
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info, ok := clientinfo.FromContext(r.Context())
	if !ok {
		info = clientinfo.FromRequest(r, nil)
	}
	if err := clientinfo.CheckOrigin(r.Header.Get("Origin"), info.Host, h.p.AppHosts); err != nil {
		h.p.Logger.Warn("websocket origin refused", "client_ip", info.IPString(), "reason", err.Error())
		h.p.WriteError(w, http.StatusForbidden, CodeOriginRefused, "origin not allowed")
		return
	}
	var principal authz.Principal
	if h.p.Authenticate != nil {
		p, err := h.p.Authenticate(r)
		if err != nil {
			h.p.WriteError(w, http.StatusUnauthorized, CodeUnauthenticated, "sign in first")
			return
		}
		principal = p
	}
	// Our check above is stricter than the library's (which compares with
	// r.Host, the edge-internal name behind a proxy), so skip the latter.
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		h.p.Logger.Info("websocket handshake failed", "client_ip", info.IPString(), "error", err.Error())
		return
	}
	ws.SetReadLimit(ReadLimit)
	c := &Conn{ID: h.nextID.Add(1), Client: info, Principal: principal, ws: ws,
		topics: Subscriptions(principal), send: make(chan outbound, SendQueue)}
	if !h.p.Hub.add(c) {
		_ = ws.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer h.p.Hub.release()
	// The socket's owner gets hello without waiting for the database:
	// presence reads the count when it runs, so running it late is safe.
	go h.presence(c)
	defer func() {
		h.p.Hub.remove(c)
		h.presence(c)
	}()

	start := time.Now()
	h.p.Logger.Info("websocket connected", "conn_id", c.ID, "client_ip", info.IPString(), "host", info.Host)
	err = h.serve(r.Context(), c)
	h.p.Logger.Info("websocket disconnected", "conn_id", c.ID, "client_ip", info.IPString(),
		"close_status", int(websocket.CloseStatus(err)), "duration_ms", time.Since(start).Milliseconds())
}

// serve runs the read loop and the keepalive until either ends.
func (h *Handler) serve(parent context.Context, c *Conn) error {
	// The request context ends when the server shuts down its listener
	// handling; hijacked sockets outlive it, so derive from a fresh one.
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	defer cancel()
	defer c.ws.CloseNow()

	go h.keepalive(ctx, cancel, c)

	if err := write(ctx, c.ws, Envelope{Type: TypeHello, Data: map[string]string{
		"server": version.Name, "version": version.Version,
	}}); err != nil {
		return err
	}
	go h.writer(ctx, cancel, c)
	limiter := rate.NewLimiter(h.p.InboundRate, h.p.InboundBurst)
	refused := 0
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			return err
		}
		if !limiter.Allow() {
			if refused++; refused > h.p.MaxRateLimited {
				h.p.Logger.Warn("websocket closed: too many messages", "conn_id", c.ID, "client_ip", c.Client.IPString())
				// Behind the queued refusals, so the client reads why.
				c.enqueue(outbound{close: true, code: websocket.StatusPolicyViolation, reason: "too many messages"})
				<-ctx.Done() // the writer cancels once it has closed
				return nil
			}
			c.reply(Envelope{Type: TypeError, Data: map[string]string{"code": CodeRateLimited}})
			continue
		}
		if typ != websocket.MessageText {
			c.reply(Envelope{Type: TypeError, Data: map[string]string{"code": CodeInvalidMessage}})
			continue
		}
		in, err := ParseInbound(data)
		if err != nil {
			c.reply(Envelope{Type: TypeError, Data: map[string]string{"code": CodeInvalidMessage}})
			continue
		}
		var out Envelope
		switch in.Type {
		case TypePing:
			out = Envelope{Type: TypePong, ID: in.ID}
		default:
			handle, ok := h.p.Messages[in.Type]
			if !ok {
				out = Envelope{Type: TypeError, ID: in.ID, Data: map[string]string{"code": CodeUnknownType}}
				break
			}
			out = handle(ctx, c, in.ID, in.Data)
			if out.ID == "" {
				out.ID = in.ID
			}
		}
		c.reply(out)
	}
}

// writer writes the socket's queued events in order, or closes it when
// told to.
func (h *Handler) writer(ctx context.Context, cancel context.CancelFunc, c *Conn) {
	defer c.dead.Store(true)
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-c.send:
			if m.close {
				c.close(m.code, m.reason)
				cancel()
				return
			}
			wctx, wcancel := context.WithTimeout(ctx, writeTimeout)
			err := c.ws.Write(wctx, websocket.MessageText, m.raw)
			wcancel()
			if err != nil {
				cancel()
				_ = c.ws.CloseNow()
				return
			}
		}
	}
}

// presence reports a participant's socket count on this replica after a
// change. Failures are logged: the heartbeat's expiry bounds the damage.
func (h *Handler) presence(c *Conn) {
	if h.p.Presence == nil || c.Principal.Kind != "participant" {
		return
	}
	mu := &h.presenceLocks[stripe(c.Principal.ID, len(h.presenceLocks))]
	mu.Lock()
	defer mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), presenceTimeout)
	defer cancel()
	if err := h.p.Presence(ctx, c.Principal, h.p.Hub.ParticipantSockets(c.Principal.ID)); err != nil {
		h.p.Logger.Error("presence update failed", "conn_id", c.ID, "error", err.Error())
	}
}

// stripe maps an id to one of n locks.
func stripe(id string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(n))
}

// keepalive pings; a peer that does not answer within the timeout is dead
// and its socket is dropped so the read loop ends.
func (h *Handler) keepalive(ctx context.Context, cancel context.CancelFunc, c *Conn) {
	t := time.NewTicker(h.p.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, pcancel := context.WithTimeout(ctx, h.p.PingTimeout)
			err := c.ws.Ping(pctx)
			pcancel()
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					h.p.Logger.Info("websocket peer missed ping", "conn_id", c.ID, "client_ip", c.Client.IPString())
				}
				cancel()
				_ = c.ws.CloseNow()
				return
			}
		}
	}
}

// write sends one envelope; coder/websocket serialises concurrent writers.
func write(ctx context.Context, ws *websocket.Conn, e Envelope) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return ws.Write(ctx, websocket.MessageText, b)
}
