package sfu

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/signal"
)

// Signalling socket limits.
const (
	pingInterval  = 10 * time.Second
	pingTimeout   = 10 * time.Second
	writeTimeout  = 10 * time.Second
	joinTimeout   = 10 * time.Second
	outboxSize    = 256
	rateLimit     = 50  // messages per second, sustained
	rateBurst     = 100 // messages at once
	maxTracks     = 8   // published tracks per participant
	maxCIDLength  = 128
	closeDeadline = 5 * time.Second
)

// serveSignal checks the path and the grant, then upgrades and runs the
// session on this goroutine.
func (s *SFU) serveSignal(w http.ResponseWriter, r *http.Request) {
	node, rest, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/n/"), "/")
	if r.Method != http.MethodGet || !ok || rest != "signal" || !strings.HasPrefix(r.URL.Path, "/n/") {
		http.NotFound(w, r)
		return
	}
	if node != s.p.NodeID {
		refuse(w, http.StatusNotFound, signal.ErrWrongNode)
		return
	}
	token, offered := grant.FromSubprotocols(r.Header.Values("Sec-WebSocket-Protocol"))
	if !offered {
		refuse(w, http.StatusBadRequest, signal.ErrBadMessage)
		return
	}
	claims, err := s.p.Verifier.Verify(token, s.now(), "", s.p.NodeID)
	if errors.Is(err, grant.ErrUnknownKey) && s.p.RefreshKeys != nil && s.p.RefreshKeys(r.Context()) {
		// A key rotated since the last JWKS refresh.
		claims, err = s.p.Verifier.Verify(token, s.now(), "", s.p.NodeID)
	}
	if err != nil {
		status := http.StatusUnauthorized
		if errors.Is(err, grant.ErrWrongNode) {
			status = http.StatusForbidden
		}
		s.log.Info("signalling upgrade refused", "code", grant.Code(err))
		refuse(w, status, grant.Code(err))
		return
	}
	if code, revoked := s.revokedGrant(claims); revoked {
		s.log.Info("signalling upgrade refused", "code", code)
		refuse(w, http.StatusForbidden, code)
		return
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if closed {
		refuse(w, http.StatusServiceUnavailable, signal.ErrNodeDraining)
		return
	}
	defer s.wg.Done()
	// The apps live on other hosts than the media host, so the browser's
	// Origin never equals ours. No origin check is needed: the socket is
	// authorised by the grant in the subprotocol, which a page on another
	// site cannot have (no cookie or ambient credential is involved).
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:       []string{grant.Subprotocol},
		InsecureSkipVerify: true,
	})
	if err != nil {
		s.log.Debug("signalling upgrade failed", "error", err)
		return
	}
	ss := newSession(s, conn, claims)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ss.end(signal.ReasonNodeShutdown, websocket.StatusGoingAway)
	} else {
		s.sessions[ss] = struct{}{}
		s.mu.Unlock()
	}
	ss.run()
	s.mu.Lock()
	delete(s.sessions, ss)
	s.mu.Unlock()
}

func refuse(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": code})
}

// session is one signalling socket. Its read loop runs on the HTTP handler's
// goroutine; one writer goroutine owns all writes, fed by a bounded outbox
// so a sender never blocks (a peer that cannot keep up is cut off).
type session struct {
	s      *SFU
	conn   *websocket.Conn
	claims *grant.Claims
	ctx    context.Context
	cancel context.CancelFunc

	outMu  sync.Mutex
	out    chan outMsg
	ending bool // no more messages after the closing one

	p *participant // set by join; owned by the read loop
}

type outMsg struct {
	b     []byte
	close bool // write nothing more, close the socket
	code  websocket.StatusCode
}

func newSession(s *SFU, conn *websocket.Conn, claims *grant.Claims) *session {
	ss := &session{s: s, conn: conn, claims: claims, out: make(chan outMsg, outboxSize)}
	// Not derived from the SFU's context: Close ends each session with a
	// leave that must still be written.
	ss.ctx, ss.cancel = context.WithCancel(context.Background())
	return ss
}

// send queues a message; it never blocks. A full outbox closes the socket.
func (ss *session) send(typ, id string, data any) {
	b, err := signal.Encode(typ, id, data)
	if err != nil {
		ss.s.log.Error("encode signalling message", "type", typ, "error", err)
		return
	}
	ss.outMu.Lock()
	defer ss.outMu.Unlock()
	if ss.ending {
		return
	}
	select {
	case ss.out <- outMsg{b: b}:
	default:
		ss.ending = true
		ss.cancel()
	}
}

func (ss *session) sendError(id, code, msg string) {
	ss.send(signal.TypeError, id, signal.Error{Code: code, Message: msg})
}

// end sends leave (if reason is set) after what is queued, then closes the
// socket.
func (ss *session) end(reason string, code websocket.StatusCode) {
	var b []byte
	if reason != "" {
		b, _ = signal.Encode(signal.TypeLeave, "", signal.Leave{Reason: reason})
	}
	ss.outMu.Lock()
	defer ss.outMu.Unlock()
	if ss.ending {
		return
	}
	ss.ending = true
	if b != nil {
		select {
		case ss.out <- outMsg{b: b}:
		default:
		}
	}
	select {
	case ss.out <- outMsg{close: true, code: code}:
	default:
		ss.cancel()
	}
}

func (ss *session) writer(done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-ss.ctx.Done():
			return
		case m := <-ss.out:
			if m.close {
				// Close waits for the peer's close frame, which the read loop
				// consumes; bound it.
				ctx, cancel := context.WithTimeout(ss.ctx, closeDeadline)
				go func() { <-ctx.Done(); ss.conn.CloseNow() }()
				_ = ss.conn.Close(m.code, "")
				cancel()
				ss.cancel()
				return
			}
			ctx, cancel := context.WithTimeout(ss.ctx, writeTimeout)
			err := ss.conn.Write(ctx, websocket.MessageText, m.b)
			cancel()
			if err != nil {
				ss.cancel()
				return
			}
		}
	}
}

func (ss *session) pinger(done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	for {
		select {
		case <-ss.ctx.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(ss.ctx, pingTimeout)
			err := ss.conn.Ping(ctx)
			cancel()
			if err != nil {
				ss.s.log.Debug("signalling peer dead", "error", err)
				ss.cancel()
				return
			}
		}
	}
}

// tokenBucket limits inbound messages.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

func (b *tokenBucket) allow(now time.Time) bool {
	if b.last.IsZero() {
		b.tokens = rateBurst
	} else {
		b.tokens = min(rateBurst, b.tokens+now.Sub(b.last).Seconds()*rateLimit)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (ss *session) run() {
	ss.conn.SetReadLimit(signal.MaxMessageBytes)
	wdone, pdone := make(chan struct{}), make(chan struct{})
	go ss.writer(wdone)
	go ss.pinger(pdone)
	joinTimer := time.AfterFunc(joinTimeout, func() {
		ss.s.mu.Lock()
		joined := ss.p != nil
		ss.s.mu.Unlock()
		if !joined {
			ss.cancel()
		}
	})
	left := ss.readLoop()
	joinTimer.Stop()
	ss.cancel()
	<-wdone
	<-pdone
	ss.conn.CloseNow()
	ss.s.mu.Lock()
	p := ss.p
	ss.s.mu.Unlock()
	if p != nil {
		ss.s.sessionEnded(p, ss, left)
	}
}

// readLoop handles messages until the socket ends; it reports whether the
// client said leave.
func (ss *session) readLoop() (left bool) {
	var bucket tokenBucket
	for {
		typ, b, err := ss.conn.Read(ss.ctx)
		if err != nil {
			return false
		}
		if !bucket.allow(time.Now()) {
			ss.sendError("", signal.ErrRateLimited, "too many messages")
			ss.end("", websocket.StatusPolicyViolation)
			// Keep reading until the close completes, discarding.
			continue
		}
		if typ != websocket.MessageText {
			ss.sendError("", signal.ErrBadMessage, "text messages only")
			continue
		}
		env, err := signal.Decode(b)
		if err != nil {
			ss.sendError("", signal.ErrBadMessage, "not a signalling message")
			continue
		}
		if env.Type == signal.TypeLeave {
			return true
		}
		if err := ss.handle(env); err != nil {
			code := errorCode(err)
			ss.sendError(env.ID, code, err.Error())
			if code == signal.ErrWrongRoom || code == signal.ErrRoomFull || code == signal.ErrNodeDraining || code == signal.ErrRoomEnded {
				ss.end("", websocket.StatusPolicyViolation)
			}
		}
	}
}

// errorCode maps an error to its stable signalling code.
func errorCode(err error) string {
	switch {
	case errors.Is(err, ErrWrongRoom):
		return signal.ErrWrongRoom
	case errors.Is(err, ErrRoomFull):
		return signal.ErrRoomFull
	case errors.Is(err, ErrDraining), errors.Is(err, ErrClosed):
		return signal.ErrNodeDraining
	case errors.Is(err, ErrSourceNotAllowed):
		return signal.ErrSourceNotAllowed
	case errors.Is(err, ErrRateLimited):
		return signal.ErrRateLimited
	case errors.Is(err, ErrNotJoined), errors.Is(err, ErrAlreadyJoined), errors.Is(err, ErrUnknownTrack),
		errors.Is(err, ErrBadTarget), errors.Is(err, ErrUnknownType), errors.Is(err, ErrBadKind), errors.Is(err, errBadMessage):
		return signal.ErrBadMessage
	default:
		return signal.ErrInternal
	}
}

// handle dispatches one message.
func (ss *session) handle(env signal.Envelope) error {
	if env.Type == signal.TypeJoin {
		if ss.p != nil {
			return ErrAlreadyJoined
		}
		var j signal.Join
		if err := signal.Into(env, &j); err != nil {
			return errors.Join(errBadMessage, err)
		}
		if j.Room != ss.claims.Room {
			return ErrWrongRoom
		}
		return ss.s.join(ss, env.ID, j)
	}
	p := ss.p
	if p == nil {
		return ErrNotJoined
	}
	switch env.Type {
	case signal.TypeOffer, signal.TypeAnswer:
		var m signal.SDP
		if err := signal.Into(env, &m); err != nil {
			return errors.Join(errBadMessage, err)
		}
		switch {
		case env.Type == signal.TypeOffer && m.Target == signal.TargetPub && m.SDP.Type == webrtcOffer:
			p.do(func() { p.onPubOffer(ss, env.ID, m.SDP) })
		case env.Type == signal.TypeAnswer && m.Target == signal.TargetSub && m.SDP.Type == webrtcAnswer:
			p.do(func() { p.onSubAnswer(m.SDP) })
		default:
			return ErrBadTarget
		}
	case signal.TypeTrickle:
		var m signal.Trickle
		if err := signal.Into(env, &m); err != nil {
			return errors.Join(errBadMessage, err)
		}
		if m.Target != signal.TargetPub && m.Target != signal.TargetSub {
			return ErrBadTarget
		}
		p.do(func() { p.onTrickle(m) })
	case signal.TypePublish:
		var m signal.Publish
		if err := signal.Into(env, &m); err != nil {
			return errors.Join(errBadMessage, err)
		}
		return ss.s.publish(ss, p, env.ID, m)
	case signal.TypeUnpublish:
		var m signal.Unpublish
		if err := signal.Into(env, &m); err != nil {
			return errors.Join(errBadMessage, err)
		}
		return ss.s.unpublish(p, TrackID(m.TrackID))
	case signal.TypeMute:
		var m signal.Mute
		if err := signal.Into(env, &m); err != nil {
			return errors.Join(errBadMessage, err)
		}
		return ss.s.mute(p, TrackID(m.TrackID), m.Muted)
	case signal.TypeSubscription:
		var m signal.Subscription
		if err := signal.Into(env, &m); err != nil {
			return errors.Join(errBadMessage, err)
		}
		return ss.s.setSubscription(p, m)
	default:
		return ErrUnknownType
	}
	return nil
}
