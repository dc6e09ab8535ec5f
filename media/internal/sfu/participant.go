package sfu

import (
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/signal"
	"github.com/hcw-home/hcw/media/internal/pionanswer"
	"github.com/hcw-home/hcw/media/internal/sfu/forward"
)

const (
	webrtcOffer  = webrtc.SDPTypeOffer
	webrtcAnswer = webrtc.SDPTypeAnswer
	// maxPendingCandidates bounds candidates buffered before a remote
	// description.
	maxPendingCandidates = 64
)

// participant is one person in a room. Domain state is guarded by SFU.mu;
// everything touching its peer connections runs on its op goroutine, one
// operation at a time, which also serialises the "sub" negotiations.
type participant struct {
	s    *SFU
	room *room
	id   ParticipantID
	log  *slog.Logger

	// Guarded by SFU.mu.
	name, role string
	sess       *session
	state      string
	droppedAt  time.Time
	resumedAt  time.Time
	tracks     map[TrackID]*track
	subs       map[TrackID]*subscription
	prefs      map[TrackID]signal.Subscription
	down       *downlink // of the current "sub" connection
	pcGen      int
	gone       bool
	retired    []*forward.Receiver // closed, perhaps still reading (see keepRetired)
	quality    signal.Quality      // last announced

	pubPC              atomic.Pointer[webrtc.PeerConnection] // for key frame requests
	pubState, subState atomicState                           // of the current pair
	link               *linkStats                            // what RTCP says of its connection

	opMu    sync.Mutex
	ops     []func()
	wake    chan struct{}
	stopped bool

	// Candidates the node gathered for a target while the description
	// they belong to is not sent yet (guarded by SFU.mu).
	heldCands map[string][]*webrtc.ICECandidateInit

	// Owned by the op goroutine.
	pub, sub           *webrtc.PeerConnection
	pubGuard           *pionanswer.Guard // answers "pub" (see onPubOffer)
	pubNoise, subNoise *peerNoise        // when pion's complaints about closed things are expected
	subNegotiating     bool
	subPending         bool
	subWaiting         []*track    // to subscribe once the outstanding offer is answered
	subOffers          int         // offers made on "sub", numbering them for the answer timer
	subAnswerTimer     *time.Timer // ends the session if the outstanding offer is not answered
	subICERestart      bool        // the next "sub" offer restarts ICE
	subRestarting      bool        // an ICE restart of "sub" is under way
	pendingCands       map[string][]webrtc.ICECandidateInit
}

// subscription is one remote track a participant receives.
type subscription struct {
	track  *track
	down   *forward.DownTrack
	sender *webrtc.RTPSender
}

func newParticipant(s *SFU, r *room, c *grant.Claims) *participant {
	return &participant{
		s: s, room: r, id: ParticipantID(c.Participant()),
		log:  s.log.With("room", c.Room, "participant", c.Participant()),
		name: c.Name, role: c.Role, state: signal.StateActive,
		tracks: make(map[TrackID]*track),
		subs:   make(map[TrackID]*subscription),
		prefs:  make(map[TrackID]signal.Subscription),
		wake:   make(chan struct{}, 1),
		link:   newLinkStats(),
	}
}

// atomicState is a peer connection state read from other goroutines.
type atomicState struct{ v atomic.Int32 }

func (a *atomicState) Load() webrtc.PeerConnectionState {
	return webrtc.PeerConnectionState(a.v.Load())
}

func (a *atomicState) Store(st webrtc.PeerConnectionState) { a.v.Store(int32(st)) }

// do queues an operation on the participant's goroutine; it never blocks.
func (p *participant) do(f func()) {
	p.opMu.Lock()
	if p.stopped {
		p.opMu.Unlock()
		return
	}
	p.ops = append(p.ops, f)
	p.opMu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// stop queues the teardown as the last operation.
func (p *participant) stop() {
	p.opMu.Lock()
	if p.stopped {
		p.opMu.Unlock()
		return
	}
	p.stopped = true
	p.ops = append(p.ops, p.teardown, nil)
	p.opMu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *participant) run() {
	defer p.s.wg.Done()
	for range p.wake {
		for {
			p.opMu.Lock()
			if len(p.ops) == 0 {
				p.opMu.Unlock()
				break
			}
			f := p.ops[0]
			p.ops[0] = nil
			p.ops = p.ops[1:]
			p.opMu.Unlock()
			if f == nil {
				return
			}
			f()
		}
	}
}

// send queues a message on the participant's current socket, if any.
func (p *participant) send(typ, id string, data any) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if p.sess != nil {
		p.sess.send(typ, id, data)
	}
}

// join admits the session's participant: a new one, or the same one back
// (resume within the grace period, or a second socket replacing the first).
func (s *SFU) join(ss *session, id string, j signal.Join) error {
	c := ss.claims
	pid := ParticipantID(c.Participant())
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	r := s.rooms[RoomID(c.Room)]
	var p *participant
	if r != nil {
		p = r.participants[pid]
	}
	var old *session
	if p == nil {
		if r == nil && s.draining {
			s.mu.Unlock()
			return ErrDraining
		}
		if s.p.Capacity > 0 && s.count >= s.p.Capacity {
			s.mu.Unlock()
			return ErrRoomFull
		}
		if r == nil {
			r = &room{id: RoomID(c.Room), participants: make(map[ParticipantID]*participant)}
			s.rooms[r.id] = r
		}
		p = newParticipant(s, r, c)
		r.participants[pid] = p
		s.count++
		s.wg.Add(1)
		go p.run()
		r.broadcast(p, signal.TypeParticipantJoined, p.info())
		p.log.Info("participant joined")
	} else {
		old = p.sess
		wasReconnecting := p.state == signal.StateReconnecting
		p.name, p.role = c.Name, c.Role
		p.state = signal.StateActive
		p.droppedAt = time.Time{}
		if wasReconnecting {
			r.broadcast(p, signal.TypeParticipantUpdated, p.info())
		}
		p.log.Info("participant back", "resume", j.Resume, "replaces_socket", old != nil)
	}
	p.sess = ss
	ss.p = p
	joined := signal.Joined{Self: p.info(), Participants: []signal.ParticipantInfo{}, GraceSeconds: s.graceSeconds()}
	for _, o := range r.participants {
		if o != p {
			joined.Participants = append(joined.Participants, o.info())
		}
	}
	slices.SortFunc(joined.Participants, func(a, b signal.ParticipantInfo) int { return strings.Compare(a.ID, b.ID) })
	ss.send(signal.TypeJoined, id, joined)
	// The tracks of the earlier connection: the restart below ends them
	// (or detaches them, on resume), not those this socket publishes
	// before it runs.
	earlier := p.sortedTracks()
	// The others' last connection quality (announced only on change).
	for _, pi := range joined.Participants {
		if q := r.participants[ParticipantID(pi.ID)].quality; q.Quality != "" {
			ss.send(signal.TypeQuality, "", q)
		}
	}
	s.mu.Unlock()
	if old != nil {
		old.end(signal.ReasonDuplicate, websocket.StatusPolicyViolation)
	}
	resume := j.Resume
	p.do(func() { p.restart(resume, earlier) })
	return nil
}

// sessionEnded handles a socket that closed: a leave removes the
// participant; a drop starts the grace period.
func (s *SFU) sessionEnded(p *participant, ss *session, left bool) {
	s.mu.Lock()
	if p.sess != ss || p.gone {
		s.mu.Unlock()
		return
	}
	p.sess = nil
	if left {
		s.mu.Unlock()
		s.removeParticipant(p, signal.ReasonClientLeft)
		return
	}
	p.state = signal.StateReconnecting
	p.droppedAt = s.now()
	p.room.broadcast(p, signal.TypeParticipantUpdated, p.info())
	s.mu.Unlock()
	p.log.Info("participant reconnecting")
}

// removeParticipant takes p out of its room for reason, telling p (leave)
// and the others (track_unpublished, participant_left).
func (s *SFU) removeParticipant(p *participant, reason string) {
	s.mu.Lock()
	if p.gone {
		s.mu.Unlock()
		return
	}
	p.gone = true
	r := p.room
	delete(r.participants, p.id)
	s.count--
	if len(r.participants) == 0 {
		delete(s.rooms, r.id)
	}
	sess := p.sess
	p.sess = nil
	var gone []TrackID
	for _, t := range p.sortedTracks() {
		t.retired = true
		if t.recv != nil {
			t.recv.Close()
			p.keepRetired(t.recv)
			gone = append(gone, t.id)
			r.broadcast(p, signal.TypeTrackUnpublished, signal.TrackUnpublished{ID: string(t.id), Participant: string(p.id)})
		}
	}
	r.broadcast(p, signal.TypeParticipantLeft, signal.ParticipantLeft{ID: string(p.id), Reason: reason})
	others := make([]*participant, 0, len(r.participants))
	for _, o := range r.participants {
		others = append(others, o)
	}
	s.mu.Unlock()
	p.log.Info("participant left", "reason", reason)
	if sess != nil {
		sess.end(reason, websocket.StatusNormalClosure)
	}
	for _, o := range others {
		for _, id := range gone {
			o.do(func() { o.unsubscribe(id) })
		}
	}
	p.stop()
}

// publish registers an announced track; media ties to it by CID.
func (s *SFU) publish(ss *session, p *participant, id string, m signal.Publish) error {
	switch {
	case m.CID == "" || len(m.CID) > maxCIDLength || len(m.Layers) > forward.MaxLayers:
		return errBadMessage
	case m.Source != grant.SourceCamera && m.Source != grant.SourceMicrophone && m.Source != grant.SourceScreen:
		return errBadMessage
	case kindOf(m.Source) != m.Kind:
		return ErrBadKind
	case !ss.claims.Allows(m.Source):
		return ErrSourceNotAllowed
	}
	for _, l := range m.Layers {
		if l.RID != "q" && l.RID != "h" && l.RID != "f" {
			return errBadMessage
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var t *track
	for _, x := range p.tracks {
		if x.cid == m.CID && !x.retired {
			t = x
		}
	}
	if t == nil {
		// A resumed participant republishing: the same source keeps its
		// track id, and subscribers keep their down-tracks.
		for _, x := range p.sortedTracks() {
			if x.detached && x.source == m.Source && x.kind == m.Kind {
				t = x
				t.cid = m.CID
				break
			}
		}
	}
	if t == nil {
		if len(p.tracks) >= maxTracks {
			return errBadMessage
		}
		t = &track{id: TrackID(newID("TR_")), owner: p, cid: m.CID, kind: m.Kind, source: m.Source}
		p.tracks[t.id] = t
	}
	t.muted = m.Muted
	t.layers = m.Layers
	ss.send(signal.TypePublished, id, signal.Published{CID: m.CID, Track: t.info()})
	return nil
}

func (s *SFU) unpublish(p *participant, id TrackID) error {
	s.mu.Lock()
	t := p.tracks[id]
	if t == nil {
		s.mu.Unlock()
		return ErrUnknownTrack
	}
	delete(p.tracks, id)
	s.mu.Unlock()
	s.retireTrack(p, t)
	return nil
}

// retireTrack ends a published track for everyone.
func (s *SFU) retireTrack(p *participant, t *track) {
	s.mu.Lock()
	t.retired = true
	if t.recv == nil {
		s.mu.Unlock()
		return
	}
	t.recv.Close()
	p.keepRetired(t.recv)
	p.room.broadcast(p, signal.TypeTrackUnpublished, signal.TrackUnpublished{ID: string(t.id), Participant: string(p.id)})
	var others []*participant
	for _, o := range p.room.participants {
		if o != p {
			others = append(others, o)
		}
	}
	s.mu.Unlock()
	for _, o := range others {
		o.do(func() { o.unsubscribe(t.id) })
	}
}

// keepRetired keeps a closed receiver until its readers end (they end with
// their source: the m-section going inactive, or the peer connection
// closing), so that teardown can wait for them. Those already done are
// forgotten here, or a long call would keep every track it ever ended (a
// screen shared and stopped again and again). The caller holds SFU.mu.
func (p *participant) keepRetired(r *forward.Receiver) {
	p.retired = slices.DeleteFunc(p.retired, func(x *forward.Receiver) bool { return !x.Reading() })
	p.retired = append(p.retired, r)
}

func (s *SFU) mute(p *participant, id TrackID, muted bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := p.tracks[id]
	if t == nil {
		return ErrUnknownTrack
	}
	t.muted = muted
	p.room.broadcast(p, signal.TypeParticipantUpdated, p.info())
	return nil
}

func (s *SFU) setSubscription(p *participant, m signal.Subscription) error {
	id := TrackID(m.TrackID)
	s.mu.Lock()
	var t *track
	for _, o := range p.room.participants {
		if x := o.tracks[id]; x != nil && o != p {
			t = x
		}
	}
	if t == nil {
		s.mu.Unlock()
		return ErrUnknownTrack
	}
	p.prefs[id] = m
	sub := p.subs[id]
	s.mu.Unlock()
	if sub != nil {
		p.apply(sub.down, m)
	}
	return nil
}

// apply sets a subscriber's preference on its down-track. Asking for more
// (a higher quality, or video again) lets a probe go at once.
func (p *participant) apply(d *forward.DownTrack, m signal.Subscription) {
	more := d.Paused() && !m.Paused
	if m.Quality != "" {
		l := qualityLayer(m.Quality)
		more = more || l > d.MaxLayer()
		d.SetMaxLayer(l)
	}
	d.SetPaused(m.Paused)
	if m.Paused || d.Receiver().Kind() != forward.Video {
		return
	}
	d.SelectLayer(p.videoBudget())
	p.s.mu.Lock()
	dl := p.down
	p.s.mu.Unlock()
	if more && dl != nil {
		dl.resetBackoff()
	}
}

// videoBudget is an even share of the estimated downlink per video track.
func (p *participant) videoBudget() int64 {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if p.down == nil {
		return 0
	}
	n := 0
	for _, sub := range p.subs {
		if sub.down.Receiver().Kind() == forward.Video && !sub.down.Paused() {
			n++
		}
	}
	return p.down.estimate() / int64(max(n, 1))
}

// requestKeyframe sends a PLI for ssrc on the current "pub" connection.
func (p *participant) requestKeyframe(ssrc uint32) {
	if pc := p.pubPC.Load(); pc != nil {
		if err := pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
			p.log.Debug("send PLI", "error", err)
		}
	}
}
