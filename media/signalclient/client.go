// Package signalclient is a Go client of the media node's signalling
// protocol (package contract/signal): it joins a room with a grant, keeps
// the two peer connections (it offers "pub", the node offers "sub"), and
// publishes and receives tracks. The end-to-end tests, the load tester and
// anyone scripting a call use it; browsers speak the same protocol from
// the web apps.
package signalclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/webrtc/v4"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/signal"
	"github.com/hcw-home/hcw/media/internal/pionanswer"
)

// Options configure Dial.
type Options struct {
	// URL is the node's signalling URL (wss://<media host>/n/<node>/signal).
	URL string
	// Grant is the media grant from the backend's join API.
	Grant string
	// Room is the consultation id (must match the grant).
	Room string
	// ICEServers are the backend's TURN servers and credentials.
	ICEServers []webrtc.ICEServer
	// RelayOnly forces every path through TURN (iceTransportPolicy relay).
	RelayOnly bool
	// HTTPClient opens the WebSocket (its transport verifies the edge);
	// nil uses http.DefaultClient.
	HTTPClient *http.Client
	// API builds the peer connections; nil builds a default API with
	// Opus, VP8 and H.264 and the default interceptors.
	API *webrtc.API
	// Resume reconnects into a place kept within the grace period.
	Resume bool
	// Logger gets the client's own log lines; nil discards them.
	Logger *slog.Logger
}

// ErrClosed is returned by calls on a closed client.
var ErrClosed = errors.New("signalclient: closed")

// Error is a signalling error the node sent.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return "signal: " + e.Code + ": " + e.Message }

// Client is one participant's signalling session.
type Client struct {
	opts   Options
	log    *slog.Logger
	ws     *websocket.Conn
	writeM sync.Mutex
	pub    *peer
	sub    *peer
	joined signal.Joined
	// subGuard rewrites the node's "sub" offers and their answers (read
	// loop only).
	subGuard *pionanswer.Guard

	nextID  atomic.Int64
	mu      sync.Mutex
	waiters map[string]chan signal.Envelope
	onTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)

	events chan signal.Envelope
	done   chan struct{}
	err    error // why the session ended; set before done closes
	once   sync.Once
}

type peer struct {
	target  string
	pc      *webrtc.PeerConnection
	mu      sync.Mutex
	pending []webrtc.ICECandidateInit // candidates before the remote description
	hasRD   bool
	negM    sync.Mutex // one pub negotiation at a time
}

// Dial opens the signalling socket, joins and returns once the node has
// answered joined. The client then answers the node's "sub" offers by
// itself; remote tracks arrive through OnTrack (set it before the first
// track is expected: tracks arriving earlier are dropped after draining).
func Dial(ctx context.Context, opts Options) (*Client, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	api := opts.API
	if api == nil {
		var err error
		if api, err = DefaultAPI(); err != nil {
			return nil, err
		}
	}
	ws, resp, err := websocket.Dial(ctx, opts.URL, &websocket.DialOptions{
		HTTPClient:   opts.HTTPClient,
		Subprotocols: []string{grant.Subprotocol, grant.SubprotocolPrefix + opts.Grant},
	})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("signalclient: dial %s: HTTP %d: %w", opts.URL, resp.StatusCode, err)
		}
		return nil, fmt.Errorf("signalclient: dial %s: %w", opts.URL, err)
	}
	ws.SetReadLimit(signal.MaxMessageBytes)
	c := &Client{
		opts: opts, log: opts.Logger, ws: ws,
		waiters: map[string]chan signal.Envelope{},
		events:  make(chan signal.Envelope, 256),
		done:    make(chan struct{}),
	}
	cfg := webrtc.Configuration{ICEServers: opts.ICEServers}
	if opts.RelayOnly {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	for _, p := range []**peer{&c.pub, &c.sub} {
		target := signal.TargetPub
		if p == &c.sub {
			target = signal.TargetSub
		}
		pc, err := api.NewPeerConnection(cfg)
		if err != nil {
			c.shutdown(err)
			return nil, fmt.Errorf("signalclient: peer connection: %w", err)
		}
		*p = &peer{target: target, pc: pc}
		pr := *p
		pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
			if cand == nil {
				return
			}
			init := cand.ToJSON()
			_ = c.send(signal.TypeTrickle, "", signal.Trickle{Target: pr.target, Candidate: &init})
		})
	}
	c.subGuard = pionanswer.New(c.sub.pc)
	c.sub.pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		c.mu.Lock()
		h := c.onTrack
		c.mu.Unlock()
		if h != nil {
			h(t, r)
			return
		}
		go drain(t)
	})
	go c.readLoop()

	reply, err := c.request(ctx, signal.TypeJoin, signal.Join{Room: opts.Room, Resume: opts.Resume})
	if err != nil {
		c.shutdown(err)
		return nil, err
	}
	if err := signal.Into(reply, &c.joined); err != nil {
		c.shutdown(err)
		return nil, err
	}
	return c, nil
}

func drain(t *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := t.Read(buf); err != nil {
			return
		}
	}
}

// DefaultAPI returns a webrtc API with the codecs the node forwards and
// pion's default interceptors (NACK, RTCP reports, TWCC); settings adjust
// its SettingEngine (a proxy dialer, a vnet). A lost packet is NACKed at
// most three times: pion's generator does not see packets repaired over
// RTX and would otherwise ask again every 100 ms, inflating the node's
// retransmissions in load tests. Simulcast retransmissions carry the
// layer's rid as a repaired rid, as a browser's do (see RepairedRID).
func DefaultAPI(settings ...func(*webrtc.SettingEngine)) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	for _, ext := range []string{"urn:ietf:params:rtp-hdrext:ssrc-audio-level"} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: ext}, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	}
	for _, ext := range []string{"urn:ietf:params:rtp-hdrext:sdes:mid", "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id", "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: ext}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	reg := &interceptor.Registry{}
	reg.Add(&RepairedRID{})
	if err := webrtc.RegisterDefaultInterceptorsWithOptions(m, reg,
		webrtc.WithNackGeneratorOptions(nack.GeneratorMaxNacksPerPacket(3))); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	for _, f := range settings {
		f(&se)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

// Joined returns the node's answer to join.
func (c *Client) Joined() signal.Joined { return c.joined }

// OnTrack sets the handler of remote tracks. The handler must read the
// track until it ends.
func (c *Client) OnTrack(h func(*webrtc.TrackRemote, *webrtc.RTPReceiver)) {
	c.mu.Lock()
	c.onTrack = h
	c.mu.Unlock()
}

// Events delivers the messages not consumed by the client itself
// (participants, tracks, speakers, quality, leave, errors without a
// waiting request). It is closed when the session ends.
func (c *Client) Events() <-chan signal.Envelope { return c.events }

// Done is closed when the session ends; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the session ended (a *Error, a leave reason, or a
// transport error); nil while it runs.
func (c *Client) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// PublisherPC and SubscriberPC expose the peer connections (for stats).
func (c *Client) PublisherPC() *webrtc.PeerConnection  { return c.pub.pc }
func (c *Client) SubscriberPC() *webrtc.PeerConnection { return c.sub.pc }

// Publish announces track (its ID() is the cid), adds it to the "pub"
// connection and negotiates. For simulcast, pass the other layers' tracks
// (same ID, each with its RID) in more and describe them in layers; a
// caller writing raw RTP to simulcast tracks must set the mid and rid
// header extensions itself (see SimulcastExtensions).
func (c *Client) Publish(ctx context.Context, source string, track webrtc.TrackLocal, layers []signal.Layer, more ...webrtc.TrackLocal) (signal.TrackInfo, *webrtc.RTPSender, error) {
	reply, err := c.request(ctx, signal.TypePublish, signal.Publish{
		CID: track.ID(), Kind: track.Kind().String(), Source: source, Layers: layers,
	})
	if err != nil {
		return signal.TrackInfo{}, nil, err
	}
	var pub signal.Published
	if err := signal.Into(reply, &pub); err != nil {
		return signal.TrackInfo{}, nil, err
	}
	sender, err := c.pub.pc.AddTrack(track)
	if err != nil {
		return signal.TrackInfo{}, nil, fmt.Errorf("signalclient: add track: %w", err)
	}
	for _, t := range more {
		if err := sender.AddEncoding(t); err != nil {
			return signal.TrackInfo{}, nil, fmt.Errorf("signalclient: add encoding: %w", err)
		}
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := sender.Read(buf); err != nil {
				return
			}
		}
	}()
	if err := c.negotiate(ctx); err != nil {
		return signal.TrackInfo{}, nil, err
	}
	return pub.Track, sender, nil
}

// SimulcastExtensions returns, for a negotiated sender, the header
// extension ids of the mid and the RTP stream id (rid) and the sender's
// mid: what each simulcast packet must carry for the node to tell its
// layers apart (a browser adds them by itself).
func (c *Client) SimulcastExtensions(sender *webrtc.RTPSender) (midID, ridID uint8, mid string) {
	for _, e := range sender.GetParameters().HeaderExtensions {
		switch e.URI {
		case "urn:ietf:params:rtp-hdrext:sdes:mid":
			midID = uint8(e.ID)
		case "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id":
			ridID = uint8(e.ID)
		}
	}
	for _, tr := range c.pub.pc.GetTransceivers() {
		if tr.Sender() == sender {
			mid = tr.Mid()
		}
	}
	return midID, ridID, mid
}

// negotiate runs one offer/answer on the "pub" connection.
func (c *Client) negotiate(ctx context.Context) error {
	c.pub.negM.Lock()
	defer c.pub.negM.Unlock()
	offer, err := c.pub.pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("signalclient: offer: %w", err)
	}
	if err := c.pub.pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("signalclient: set local: %w", err)
	}
	reply, err := c.request(ctx, signal.TypeOffer, signal.SDP{Target: signal.TargetPub, SDP: *c.pub.pc.LocalDescription()})
	if err != nil {
		return err
	}
	if reply.Type != signal.TypeAnswer {
		return fmt.Errorf("signalclient: offer answered with %s", reply.Type)
	}
	var ans signal.SDP
	if err := signal.Into(reply, &ans); err != nil {
		return err
	}
	return c.pub.setRemote(ans.SDP)
}

// Send sends one message without waiting for a reply.
func (c *Client) Send(typ string, data any) error { return c.send(typ, "", data) }

// Close leaves the room and closes everything.
func (c *Client) Close() error {
	_ = c.send(signal.TypeLeave, "", signal.Leave{Reason: signal.ReasonClientLeft})
	c.shutdown(ErrClosed)
	return nil
}

// Drop closes the socket and the peer connections without leaving, as a
// network cut would (the node keeps the place for its grace period).
func (c *Client) Drop() { c.shutdown(ErrClosed) }

func (c *Client) shutdown(err error) {
	c.once.Do(func() {
		c.err = err
		_ = c.ws.Close(websocket.StatusNormalClosure, "")
		if c.pub != nil {
			_ = c.pub.pc.Close()
		}
		if c.sub != nil {
			_ = c.sub.pc.Close()
		}
		close(c.done)
		c.mu.Lock()
		for id, w := range c.waiters {
			close(w)
			delete(c.waiters, id)
		}
		c.mu.Unlock()
		close(c.events)
	})
}

func (c *Client) send(typ, id string, data any) error {
	b, err := signal.Encode(typ, id, data)
	if err != nil {
		return err
	}
	c.writeM.Lock()
	defer c.writeM.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// request sends a message with an id and waits for the reply carrying it.
func (c *Client) request(ctx context.Context, typ string, data any) (signal.Envelope, error) {
	id := strconv.FormatInt(c.nextID.Add(1), 10)
	w := make(chan signal.Envelope, 1)
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return signal.Envelope{}, c.err
	default:
	}
	c.waiters[id] = w
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiters, id)
		c.mu.Unlock()
	}()
	if err := c.send(typ, id, data); err != nil {
		return signal.Envelope{}, fmt.Errorf("signalclient: send %s: %w", typ, err)
	}
	select {
	case e, ok := <-w:
		if !ok {
			return signal.Envelope{}, c.err
		}
		if e.Type == signal.TypeError {
			var se signal.Error
			_ = signal.Into(e, &se)
			return e, &Error{Code: se.Code, Message: se.Message}
		}
		return e, nil
	case <-ctx.Done():
		return signal.Envelope{}, fmt.Errorf("signalclient: %s: %w", typ, ctx.Err())
	}
}

func (c *Client) readLoop() {
	var end error = ErrClosed
	defer func() { c.shutdown(end) }()
	for {
		_, b, err := c.ws.Read(context.Background())
		if err != nil {
			if end == ErrClosed { // a leave or error already said why
				end = fmt.Errorf("signalclient: socket: %w", err)
			}
			return
		}
		e, err := signal.Decode(b)
		if err != nil {
			c.log.Warn("bad message from node", "error", err)
			continue
		}
		if e.ID != "" {
			c.mu.Lock()
			w, ok := c.waiters[e.ID]
			c.mu.Unlock()
			if ok {
				w <- e
				continue
			}
		}
		switch e.Type {
		case signal.TypeOffer:
			var o signal.SDP
			if err := signal.Into(e, &o); err != nil || o.Target != signal.TargetSub {
				c.log.Warn("bad offer from node", "error", err)
				continue
			}
			if err := c.answerSub(o.SDP); err != nil {
				c.log.Warn("answer node offer", "error", err)
			}
			continue
		case signal.TypeTrickle:
			var t signal.Trickle
			if err := signal.Into(e, &t); err != nil || t.Candidate == nil {
				continue
			}
			p := c.pub
			if t.Target == signal.TargetSub {
				p = c.sub
			}
			p.addCandidate(*t.Candidate)
			continue
		case signal.TypeLeave:
			var l signal.Leave
			_ = signal.Into(e, &l)
			end = fmt.Errorf("signalclient: left: %s", l.Reason)
		case signal.TypeError:
			var se signal.Error
			_ = signal.Into(e, &se)
			end = &Error{Code: se.Code, Message: se.Message}
		}
		select {
		case c.events <- e:
		default:
			c.log.Warn("event dropped: Events not read", "type", e.Type)
		}
	}
}

// answerSub answers the node's "sub" offer (on the read loop, one at a
// time), through the guard that keeps the m-sections the node reuses
// able to receive (see package pionanswer).
func (c *Client) answerSub(offer webrtc.SessionDescription) error {
	offer, err := c.subGuard.Offer(offer)
	if err != nil {
		return fmt.Errorf("signalclient: sub offer: %w", err)
	}
	if err := c.sub.setRemote(offer); err != nil {
		return err
	}
	ans, err := c.sub.pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := c.sub.pc.SetLocalDescription(ans); err != nil {
		return err
	}
	ans, err = c.subGuard.Answer(*c.sub.pc.LocalDescription())
	if err != nil {
		return fmt.Errorf("signalclient: sub answer: %w", err)
	}
	return c.send(signal.TypeAnswer, "", signal.SDP{Target: signal.TargetSub, SDP: ans})
}

func (p *peer) setRemote(sd webrtc.SessionDescription) error {
	if err := p.pc.SetRemoteDescription(sd); err != nil {
		return fmt.Errorf("signalclient: %s remote description: %w", p.target, err)
	}
	p.mu.Lock()
	p.hasRD = true
	pending := p.pending
	p.pending = nil
	p.mu.Unlock()
	for _, cand := range pending {
		_ = p.pc.AddICECandidate(cand)
	}
	return nil
}

func (p *peer) addCandidate(cand webrtc.ICECandidateInit) {
	p.mu.Lock()
	if !p.hasRD {
		p.pending = append(p.pending, cand)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	_ = p.pc.AddICECandidate(cand)
}
