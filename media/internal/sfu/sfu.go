// Package sfu is the media node's selective forwarding unit: rooms of
// participants who publish audio and video over one peer connection
// ("pub", offered by the client) and receive everyone else's over another
// ("sub", offered by the node), signalled over one WebSocket each with the
// contract/signal protocol and admitted by a contract/grant grant.
//
// The domain (rooms, participants, tracks, signalling) lives here; the
// packet plane (reading, fan-out, simulcast layer switching, sequence
// rewriting) lives in package forward.
package sfu

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/nodeapi"
	"github.com/hcw-home/hcw/contract/signal"
	"github.com/hcw-home/hcw/media/internal/sfu/forward"
)

// DefaultGracePeriod is how long a dropped participant keeps its place.
const DefaultGracePeriod = 30 * time.Second

// Params are what New needs.
type Params struct {
	Logger *slog.Logger
	// NodeID names this node; the signalling path is /n/{NodeID}/signal.
	NodeID string
	// Verifier checks grants (room from the join message, node = NodeID).
	Verifier *grant.Verifier
	// UDPConn is the one UDP port all peers share (ICE UDP mux). Close
	// closes it.
	UDPConn net.PacketConn
	// TCPListener is the ICE-TCP port; nil disables ICE-TCP. Close closes it.
	TCPListener net.Listener
	// PublicIPs are announced as host candidates besides the local
	// addresses (which the TURN relay and same-network peers use).
	PublicIPs []string
	// Capacity is the most participants on this node; 0 is unlimited.
	Capacity int
	// GracePeriod is how long a participant whose socket dropped keeps its
	// place (others see it "reconnecting"); 0 means DefaultGracePeriod.
	GracePeriod time.Duration
	// RefreshKeys, when set, is called once for a grant signed by an
	// unknown key (a rotation newer than the last JWKS refresh); true means
	// the keys changed and the grant is checked again.
	RefreshKeys func(context.Context) bool
	// Registerer receives the SFU's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now is the clock for grants and the grace period; nil is time.Now.
	Now func() time.Time
	// NegotiationTimeout is how long the node waits for the answer to a
	// "sub" offer before it gives up on the session (error, then the socket
	// closes; the client resumes with fresh peer connections); 0 means
	// DefaultNegotiationTimeout.
	NegotiationTimeout time.Duration
	// ProbeMaxBitrate caps the rate (bits/s) to which a subscriber's
	// downlink is probed with padding, so that it can climb to the
	// simulcast layers it wants (see downlink.go); 0 means
	// DefaultProbeMaxBitrate, a negative value turns probing off.
	ProbeMaxBitrate int64

	// initialEstimate, when set, replaces a subscriber's starting
	// bandwidth estimate (tests).
	initialEstimate int
	// iceTimeouts, when set, replace pion's ICE disconnected, failed and
	// keepalive intervals (tests).
	iceTimeouts *iceTimeouts
	// noiseHold, when set, replaces noiseHold (tests; see pionLogs).
	noiseHold time.Duration
}

// iceTimeouts are pion's ICE intervals (SettingEngine.SetICETimeouts).
type iceTimeouts struct{ disconnected, failed, keepalive time.Duration }

// defaultICETimeouts: disconnected after 5 s without a packet, failed after
// 15 s, a keepalive every 2 s.
var defaultICETimeouts = iceTimeouts{5 * time.Second, 15 * time.Second, 2 * time.Second}

// DefaultNegotiationTimeout bounds the wait for an answer to a "sub" offer.
const DefaultNegotiationTimeout = 10 * time.Second

// SFU is one media node's forwarding unit.
type SFU struct {
	p        Params
	log      *slog.Logger
	now      func() time.Time
	pionLogs pionLogs
	udpMux   ice.UDPMux
	tcpMux   ice.TCPMux
	loopback bool
	met      *metrics
	fwd      *forward.Metrics
	// probeLimit is ProbeMaxBitrate with its default; <= 0 is no probing.
	probeLimit int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // sessions, participants, housekeeping

	mu       sync.Mutex
	rooms    map[RoomID]*room
	sessions map[*session]struct{}
	count    int // participants, reconnecting ones included
	draining bool
	closed   bool
	// revoked holds when a participant was removed or a room ended (key
	// room+"\x00"+participant, or room+"\x00" for the whole room): a grant
	// issued before that is refused, since grants stay valid for minutes
	// and a room's id is reused by the consultation's next call.
	revoked map[string]time.Time

	bytesOut atomic.Int64
	bitrate  atomic.Int64
	// probeLoad is the padding of the probes in flight (bits/s; see
	// reserveProbe).
	probeLoad atomic.Int64
	// shuttingDown is set by Close: pion's complaints about closed things
	// are debug lines from then on.
	shuttingDown atomic.Bool
}

// New builds an SFU on the given sockets and starts its housekeeping.
func New(p Params) (*SFU, error) {
	switch {
	case p.Verifier == nil:
		return nil, ErrNoVerifier
	case p.UDPConn == nil:
		return nil, ErrNoUDP
	case !nodeapi.ValidID(p.NodeID):
		return nil, fmt.Errorf("%w: %q", ErrBadNodeID, p.NodeID)
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.GracePeriod <= 0 {
		p.GracePeriod = DefaultGracePeriod
	}
	if p.NegotiationTimeout <= 0 {
		p.NegotiationTimeout = DefaultNegotiationTimeout
	}
	if p.iceTimeouts == nil {
		p.iceTimeouts = &defaultICETimeouts
	}
	if p.noiseHold <= 0 {
		p.noiseHold = noiseHold
	}
	if p.initialEstimate <= 0 {
		p.initialEstimate = bweInitial
	}
	probeLimit := p.ProbeMaxBitrate
	if probeLimit == 0 {
		probeLimit = DefaultProbeMaxBitrate
	}
	s := &SFU{
		p:        p,
		log:      p.Logger.With("node", p.NodeID),
		now:      p.Now,
		pionLogs: pionLogs{log: p.Logger.With("component", "pion"), hold: p.noiseHold},
		rooms:    make(map[RoomID]*room),
		sessions: make(map[*session]struct{}),
		revoked:  make(map[string]time.Time),

		probeLimit: probeLimit,
	}
	s.pionLogs.node = &s.shuttingDown
	var err error
	if s.met, err = newMetrics(s, p.Registerer); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	s.fwd = s.met.forward(&s.bytesOut)
	if a, ok := p.UDPConn.LocalAddr().(*net.UDPAddr); ok && a.IP.IsLoopback() {
		s.loopback = true // a test or a single-host setup: loopback is all there is
	}
	s.udpMux = webrtc.NewICEUDPMux(s.pionLogs.NewLogger("udpmux"), p.UDPConn)
	if p.TCPListener != nil {
		s.tcpMux = webrtc.NewICETCPMux(s.pionLogs.NewLogger("tcpmux"), p.TCPListener, 64)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.housekeeping()
	return s, nil
}

// Rooms lists the rooms and their participants (reconnecting ones
// included), sorted.
func (s *SFU) Rooms() []nodeapi.Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]nodeapi.Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		nr := nodeapi.Room{ID: string(r.id), Participants: make([]string, 0, len(r.participants))}
		for id := range r.participants {
			nr.Participants = append(nr.Participants, string(id))
		}
		slices.Sort(nr.Participants)
		out = append(out, nr)
	}
	slices.SortFunc(out, func(a, b nodeapi.Room) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

type loadCounts struct{ rooms, participants, tracks int }

func (s *SFU) counts() loadCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := loadCounts{rooms: len(s.rooms), participants: s.count}
	for _, r := range s.rooms {
		for _, p := range r.participants {
			for _, t := range p.tracks {
				if t.recv != nil {
					l.tracks++
				}
			}
		}
	}
	return l
}

// Load is the node's current use.
func (s *SFU) Load() nodeapi.Load {
	c := s.counts()
	return nodeapi.Load{Rooms: c.rooms, Participants: c.participants, Tracks: c.tracks, Bitrate: s.bitrate.Load()}
}

// SetDraining refuses joins that would create a room (node_draining);
// existing rooms keep working and accept joins and rejoins.
func (s *SFU) SetDraining(draining bool) {
	s.mu.Lock()
	s.draining = draining
	s.mu.Unlock()
}

// RemoveParticipant sends the participant leave{removed}, closes its socket
// and peer connections, and tells the others. It reports whether the
// participant was there.
func (s *SFU) RemoveParticipant(room, participantID string) bool {
	s.mu.Lock()
	s.revokeLocked(room + "\x00" + participantID)
	var p *participant
	if r := s.rooms[RoomID(room)]; r != nil {
		p = r.participants[ParticipantID(participantID)]
	}
	s.mu.Unlock()
	if p == nil {
		return false
	}
	s.removeParticipant(p, signal.ReasonRemoved)
	return true
}

// EndRoom sends everyone in the room leave{room_ended} and removes the
// room. It reports whether the room was there.
func (s *SFU) EndRoom(room string) bool {
	s.mu.Lock()
	s.revokeLocked(room + "\x00")
	r := s.rooms[RoomID(room)]
	var ps []*participant
	if r != nil {
		for _, p := range r.participants {
			ps = append(ps, p)
		}
	}
	s.mu.Unlock()
	if r == nil {
		return false
	}
	for _, p := range ps {
		s.removeParticipant(p, signal.ReasonRoomEnded)
	}
	return true
}

// revocationKept is how long a revocation is remembered: longer than any
// grant lives (the backend allows at most 1 h).
const revocationKept = 70 * time.Minute

func (s *SFU) revokeLocked(key string) {
	now := s.now()
	for k, at := range s.revoked {
		if now.Sub(at) > revocationKept {
			delete(s.revoked, k)
		}
	}
	s.revoked[key] = now
}

// revokedGrant reports whether c was issued before its holder was removed
// or its room ended (within the verifier's clock-skew leeway: a grant
// issued a few seconds after is refused too, and its holder asks again).
func (s *SFU) revokedGrant(c *grant.Claims) (string, bool) {
	if c.IssuedAt == nil {
		return signal.ErrRemoved, true
	}
	iat := c.IssuedAt.Time
	s.mu.Lock()
	defer s.mu.Unlock()
	if at, ok := s.revoked[c.Room+"\x00"]; ok && !iat.After(at.Add(s.p.Verifier.Leeway)) {
		return signal.ErrRoomEnded, true
	}
	if at, ok := s.revoked[c.Room+"\x00"+c.Participant()]; ok && !iat.After(at.Add(s.p.Verifier.Leeway)) {
		return signal.ErrRemoved, true
	}
	return "", false
}

// Close sends everyone leave{node_shutdown}, closes every socket and peer
// connection and the ICE muxes (and with them UDPConn and TCPListener), and
// waits for all the SFU's goroutines to end.
func (s *SFU) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.shuttingDown.Store(true)
	var ps []*participant
	for _, r := range s.rooms {
		for _, p := range r.participants {
			ps = append(ps, p)
		}
	}
	s.mu.Unlock()
	for _, p := range ps {
		s.removeParticipant(p, signal.ReasonNodeShutdown)
	}
	s.mu.Lock()
	var unjoined []*session
	for ss := range s.sessions {
		unjoined = append(unjoined, ss)
	}
	s.mu.Unlock()
	for _, ss := range unjoined {
		ss.end(signal.ReasonNodeShutdown, websocket.StatusGoingAway)
	}
	s.cancel() // ends housekeeping
	s.wg.Wait()
	if err := s.udpMux.Close(); err != nil {
		s.log.Debug("close UDP mux", "error", err)
	}
	if s.tcpMux != nil {
		if err := s.tcpMux.Close(); err != nil {
			s.log.Debug("close TCP mux", "error", err)
		}
	}
}

// SignalHandler serves GET /n/{node}/signal WebSocket upgrades.
func (s *SFU) SignalHandler() http.Handler { return http.HandlerFunc(s.serveSignal) }

// Intervals of the housekeeping loop.
const (
	speakerInterval    = 400 * time.Millisecond
	allocationInterval = time.Second
)

func (s *SFU) housekeeping() {
	defer s.wg.Done()
	speakers := time.NewTicker(speakerInterval)
	defer speakers.Stop()
	alloc := time.NewTicker(allocationInterval)
	defer alloc.Stop()
	quality := time.NewTicker(qualityInterval)
	defer quality.Stop()
	last := time.Now()
	var lastBytes int64
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-speakers.C:
			s.updateSpeakers()
		case <-quality.C:
			s.updateQuality()
		case now := <-alloc.C:
			elapsed := now.Sub(last)
			last = now
			b := s.bytesOut.Load()
			s.bitrate.Store(int64(float64(b-lastBytes) * 8 / elapsed.Seconds()))
			lastBytes = b
			s.sampleAndAllocate(elapsed)
			s.expireGrace()
		}
	}
}

// expireGrace removes participants whose socket dropped more than the grace
// period ago.
func (s *SFU) expireGrace() {
	now := s.now()
	var expired []*participant
	s.mu.Lock()
	for _, r := range s.rooms {
		for _, p := range r.participants {
			if p.sess == nil && !p.droppedAt.IsZero() && now.Sub(p.droppedAt) >= s.p.GracePeriod {
				expired = append(expired, p)
			}
		}
	}
	// A resumed participant's tracks it did not republish within the grace
	// period end.
	type stale struct {
		p *participant
		t *track
	}
	var stales []stale
	for _, r := range s.rooms {
		for _, p := range r.participants {
			if p.resumedAt.IsZero() || now.Sub(p.resumedAt) < s.p.GracePeriod {
				continue
			}
			for _, t := range p.sortedTracks() {
				if t.detached {
					delete(p.tracks, t.id)
					stales = append(stales, stale{p, t})
				}
			}
			p.resumedAt = time.Time{}
		}
	}
	s.mu.Unlock()
	for _, st := range stales {
		s.retireTrack(st.p, st.t)
	}
	for _, p := range expired {
		s.log.Info("participant did not come back within the grace period", "room", p.room.id, "participant", p.id)
		s.removeParticipant(p, signal.ReasonConnectionLost)
	}
}

// sampleAndAllocate measures each track's layers, gives each subscriber
// the layers its estimated downlink holds, and probes for more where the
// layers it wants need more.
func (s *SFU) sampleAndAllocate(elapsed time.Duration) {
	var recvs []*forward.Receiver
	var plans []allocPlan
	s.mu.Lock()
	for _, r := range s.rooms {
		for _, p := range r.participants {
			for _, t := range p.tracks {
				if t.recv != nil {
					recvs = append(recvs, t.recv)
				}
			}
			if pl, ok := planLocked(p); ok {
				plans = append(plans, pl)
			}
		}
	}
	s.mu.Unlock()
	for _, r := range recvs {
		r.SampleRates(elapsed)
	}
	now := time.Now()
	for i := range plans {
		pl := &plans[i]
		budget := pl.dl.observe(now, pl.link, pl.media())
		if len(pl.downs) == 0 {
			continue
		}
		pl.apply(budget)
		pl.dl.maybeProbe(now, pl, budget)
	}
}

// reallocate gives p the layers its downlink holds now (a probe just
// proved more), without waiting for the next interval.
func (s *SFU) reallocate(p *participant) {
	s.mu.Lock()
	pl, ok := planLocked(p)
	s.mu.Unlock()
	if ok && len(pl.downs) > 0 {
		pl.apply(pl.dl.estimate())
	}
}
