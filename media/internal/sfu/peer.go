package sfu

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/hcw-home/hcw/contract/signal"
	"github.com/hcw-home/hcw/media/internal/pionanswer"
	"github.com/hcw-home/hcw/media/internal/sfu/forward"
)

// The methods in this file run on the participant's op goroutine.

// restart gives the participant a fresh pub/sub pair (on join, resume or a
// replacing socket). On resume the tracks it had published before (earlier)
// stay, detached until republished; otherwise they end. A track published
// since the join (the client may publish before this runs) stays.
func (p *participant) restart(resume bool, earlier []*track) {
	p.closePCs()
	s := p.s
	s.mu.Lock()
	if p.gone {
		s.mu.Unlock()
		return
	}
	p.pcGen++
	gen := p.pcGen
	var ended []*track
	for _, t := range earlier {
		if p.tracks[t.id] != t {
			continue // ended meanwhile
		}
		if resume && t.recv != nil {
			t.detached = true
			continue
		}
		delete(p.tracks, t.id)
		ended = append(ended, t)
	}
	if resume {
		p.resumedAt = s.now()
	}
	s.mu.Unlock()
	for _, t := range ended {
		s.retireTrack(p, t)
	}

	pubNoise, subNoise := new(peerNoise), new(peerNoise)
	pub, _, err := s.newPeerConnection(rolePub, p.link, pubNoise)
	if err != nil {
		p.fail("create pub peer connection", err)
		return
	}
	sub, down, err := s.newPeerConnection(roleSub, p.link, subNoise)
	if err != nil {
		pubNoise.closing.Store(true)
		_ = pub.Close()
		p.fail("create sub peer connection", err)
		return
	}
	p.pub, p.sub = pub, sub
	p.pubGuard = pionanswer.New(pub)
	p.pubNoise, p.subNoise = pubNoise, subNoise
	p.pubPC.Store(pub)
	p.subNegotiating, p.subPending = false, false
	p.subWaiting = nil
	p.subICERestart, p.subRestarting = false, false
	p.pendingCands = make(map[string][]webrtc.ICECandidateInit)
	pub.OnICECandidate(func(c *webrtc.ICECandidate) { p.sendCandidate(gen, signal.TargetPub, c) })
	sub.OnICECandidate(func(c *webrtc.ICECandidate) { p.sendCandidate(gen, signal.TargetSub, c) })
	pub.OnTrack(func(tr *webrtc.TrackRemote, rr *webrtc.RTPReceiver) { p.onTrack(gen, tr, rr) })
	p.pubState.Store(webrtc.PeerConnectionStateNew)
	p.subState.Store(webrtc.PeerConnectionStateNew)
	pub.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		p.log.Debug("pub connection", "state", st.String())
		if st == webrtc.PeerConnectionStateClosed {
			pubNoise.closing.Store(true) // the client closed it (DTLS close_notify)
		}
		p.setState(gen, &p.pubState, st)
	})
	sub.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		p.log.Debug("sub connection", "state", st.String())
		if st == webrtc.PeerConnectionStateClosed {
			subNoise.closing.Store(true)
		}
		p.setState(gen, &p.subState, st)
		switch st {
		case webrtc.PeerConnectionStateConnected:
			// Forward from now on, each video from a key frame.
			p.do(func() { p.holdDownTracks(sub, false) })
		case webrtc.PeerConnectionStateDisconnected, webrtc.PeerConnectionStateFailed:
			// Whatever is written now is lost.
			p.do(func() { p.holdDownTracks(sub, true) })
		}
	})
	sub.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		switch st {
		case webrtc.ICEConnectionStateDisconnected, webrtc.ICEConnectionStateFailed:
			p.do(func() { p.restartSubICE(sub, st == webrtc.ICEConnectionStateFailed) })
		case webrtc.ICEConnectionStateConnected:
			subNoise.restarting.Store(false)
			p.do(func() {
				if p.sub == sub {
					p.subRestarting = false
				}
			})
		}
	})
	pub.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) {
		if st == webrtc.ICEConnectionStateConnected {
			pubNoise.restarting.Store(false)
		}
	})

	s.mu.Lock()
	down.log = p.log
	p.down = down
	var tracks []*track
	for _, o := range p.room.participants {
		if o == p {
			continue
		}
		for _, t := range o.sortedTracks() {
			if t.recv != nil && !t.retired {
				tracks = append(tracks, t)
			}
		}
	}
	s.mu.Unlock()
	for _, t := range tracks {
		p.subscribe(t, false)
	}
	p.negotiate()
}

// setState records a state of the pair gen, unless a newer pair replaced
// it.
func (p *participant) setState(gen int, st *atomicState, v webrtc.PeerConnectionState) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if p.pcGen == gen {
		st.Store(v)
	}
}

func (p *participant) fail(op string, err error) {
	p.log.Error(op, "error", err)
	p.send(signal.TypeError, "", signal.Error{Code: signal.ErrInternal, Message: op})
}

// closePCs closes both peer connections and the participant's down-tracks.
func (p *participant) closePCs() {
	s := p.s
	s.mu.Lock()
	subs := p.subs
	p.subs = make(map[TrackID]*subscription)
	down := p.down
	p.down = nil
	s.mu.Unlock()
	if down != nil {
		down.close()
	}
	for _, sub := range subs {
		sub.track.recv.RemoveDownTrack(sub.down)
	}
	p.pubPC.Store(nil)
	if p.subAnswerTimer != nil {
		p.subAnswerTimer.Stop()
		p.subAnswerTimer = nil
	}
	s.mu.Lock()
	p.heldCands = nil
	s.mu.Unlock()
	for _, n := range []*peerNoise{p.pubNoise, p.subNoise} {
		if n != nil {
			n.closing.Store(true)
		}
	}
	for _, pc := range []*webrtc.PeerConnection{p.pub, p.sub} {
		if pc != nil {
			if err := pc.GracefulClose(); err != nil {
				p.log.Debug("close peer connection", "error", err)
			}
		}
	}
	p.pub, p.sub = nil, nil
	p.pubGuard = nil
	p.pubNoise, p.subNoise = nil, nil
	for _, sub := range subs {
		sub.down.Close()
	}
}

// teardown is the participant's last operation.
func (p *participant) teardown() {
	p.closePCs()
	p.s.mu.Lock()
	recvs := p.retired
	p.retired = nil
	p.s.mu.Unlock()
	for _, r := range recvs {
		r.Close()
	}
	deadline := time.Now().Add(retiredWait)
	for _, r := range recvs {
		if !r.WaitUntil(deadline) {
			p.log.Warn("a retired track's reader did not end; leaving it", "wait", retiredWait)
		}
	}
}

// retiredWait bounds how long a leaving participant waits for the readers
// of its retired tracks, which end once the peer connection is closed.
const retiredWait = 5 * time.Second

func (p *participant) sendCandidate(gen int, target string, c *webrtc.ICECandidate) {
	var init *webrtc.ICECandidateInit
	if c != nil {
		x := c.ToJSON()
		init = &x
	}
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if p.pcGen != gen {
		return
	}
	if held, holding := p.heldCands[target]; holding {
		p.heldCands[target] = append(held, init)
		return
	}
	if p.sess != nil {
		p.sess.send(signal.TypeTrickle, "", signal.Trickle{Target: target, Candidate: init})
	}
}

// holdCandidates keeps the candidates gathered for target from now on
// until releaseCandidates: a description's candidates must not reach the
// client before the description (after an ICE restart, a browser refuses
// a candidate whose ufrag it does not know yet).
func (p *participant) holdCandidates(target string) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if p.heldCands == nil {
		p.heldCands = make(map[string][]*webrtc.ICECandidateInit)
	}
	if _, holding := p.heldCands[target]; !holding {
		p.heldCands[target] = []*webrtc.ICECandidateInit{}
	}
}

// releaseCandidates sends the candidates held for target (after the
// description they belong to) and stops holding.
func (p *participant) releaseCandidates(target string) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	held, holding := p.heldCands[target]
	if !holding {
		return
	}
	delete(p.heldCands, target)
	if p.sess == nil {
		return
	}
	for _, c := range held {
		p.sess.send(signal.TypeTrickle, "", signal.Trickle{Target: target, Candidate: c})
	}
}

func audioLevelExtID(rr *webrtc.RTPReceiver) uint8 {
	for _, e := range rr.GetParameters().HeaderExtensions {
		if e.URI == AudioLevelURI {
			return uint8(e.ID)
		}
	}
	return 0
}

// onTrack runs on a pion goroutine: it ties an incoming track (or layer) to
// its publish announcement by CID and starts forwarding it.
func (p *participant) onTrack(gen int, tr *webrtc.TrackRemote, rr *webrtc.RTPReceiver) {
	s := p.s
	s.mu.Lock()
	if p.gone || p.pcGen != gen {
		s.mu.Unlock()
		return
	}
	if strings.EqualFold(tr.Codec().MimeType, webrtc.MimeTypeRTX) {
		// A layer's retransmissions that carry its rid instead of its
		// repaired rid (pion's NACK responder copies the rid a pion
		// publisher sets) reach us as a track of their own. Taken for
		// the layer, they would replace its source with a stream of
		// retransmissions. Ignored, like a track nobody announced.
		s.mu.Unlock()
		p.log.Debug("retransmission stream offered as a track, ignored", "cid", tr.ID(), "rid", tr.RID())
		return
	}
	var t *track
	for _, x := range p.tracks {
		if !x.retired && (x.cid == tr.ID() || x.cid == tr.StreamID()) {
			t = x
			break
		}
	}
	if t == nil || t.kind != tr.Kind().String() {
		s.mu.Unlock()
		p.log.Warn("track not announced by publish, ignored", "cid", tr.ID(), "kind", tr.Kind().String())
		return
	}
	announce := false
	if t.recv == nil {
		kind := forward.Video
		if t.kind == "audio" {
			kind = forward.Audio
		}
		codec := tr.Codec()
		t.recv = forward.NewReceiver(forward.ReceiverParams{
			Kind:            kind,
			Codec:           codec.RTPCodecCapability,
			AudioLevelExtID: audioLevelExtID(rr),
			RequestKeyframe: p.requestKeyframe,
			Metrics:         s.fwd,
		})
		announce = true
	}
	t.detached = false
	recv := t.recv
	var subscribers []*participant
	if announce {
		p.room.broadcast(p, signal.TypeTrackPublished, t.info())
		for _, o := range p.room.participants {
			if o != p {
				subscribers = append(subscribers, o)
			}
		}
	}
	s.wg.Add(1) // the RTCP drain below; added under the lock while p is not gone
	s.mu.Unlock()

	rid := tr.RID()
	recv.Start(layerOf(rid), uint32(tr.SSRC()), tr)
	go func() {
		defer s.wg.Done()
		for {
			var err error
			if rid != "" {
				_, _, err = rr.ReadSimulcastRTCP(rid)
			} else {
				_, _, err = rr.ReadRTCP()
			}
			if err != nil {
				return
			}
		}
	}()
	p.log.Debug("track receiving", "track", t.id, "rid", rid, "codec", tr.Codec().MimeType)
	for _, o := range subscribers {
		o.do(func() { o.subscribe(t, true) })
	}
}

// subscribe adds a down-track for t on the "sub" connection. While an
// offer is outstanding it waits for the answer (the track could only be
// offered after it anyway): by then the m-sections that offer turned
// inactive are free to carry it (see addDownTrack).
func (p *participant) subscribe(t *track, negotiate bool) {
	s := p.s
	s.mu.Lock()
	_, have := p.subs[t.id]
	if p.gone || p.sub == nil || t.retired || t.recv == nil || have {
		s.mu.Unlock()
		return
	}
	pref, hasPref := p.prefs[t.id]
	recv := t.recv
	s.mu.Unlock()
	if p.subNegotiating {
		if !slices.Contains(p.subWaiting, t) {
			p.subWaiting = append(p.subWaiting, t)
		}
		p.subPending = true
		return
	}

	down := forward.NewDownTrack(forward.DownTrackParams{
		TrackID: string(t.id), StreamID: string(t.owner.id),
		Receiver: recv, Codec: recv.Codec(), Metrics: s.fwd,
		// Until "sub" connects, what it would write is lost.
		Held: p.subState.Load() != webrtc.PeerConnectionStateConnected,
	})
	sender, err := p.addDownTrack(down)
	if err != nil {
		down.Close()
		p.log.Error("add down-track", "track", t.id, "error", err)
		return
	}
	s.mu.Lock()
	if p.gone || t.retired {
		s.mu.Unlock()
		_ = p.sub.RemoveTrack(sender)
		down.Close()
		return
	}
	p.subs[t.id] = &subscription{track: t, down: down, sender: sender}
	s.wg.Add(1)
	s.mu.Unlock()
	go p.readSenderRTCP(sender, down)

	if hasPref {
		p.apply(down, pref)
	}
	recv.AddDownTrack(down)
	if recv.Kind() == forward.Video && !down.Paused() {
		down.SelectLayer(p.videoBudget())
	}
	if negotiate {
		p.negotiate()
	}
}

// readSenderRTCP drains a sender's RTCP (the interceptors need it read),
// forwards key frame requests to the publisher and keeps the subscriber's
// reports on the stream for its connection quality.
func (p *participant) readSenderRTCP(sender *webrtc.RTPSender, down *forward.DownTrack) {
	defer p.s.wg.Done()
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch x := pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				down.RequestKeyframe()
			case *rtcp.TransportLayerNack:
				n := 0
				for _, pair := range x.Nacks {
					n += len(pair.PacketList())
				}
				p.s.met.nacks.Add(float64(n))
			case *rtcp.ReceiverReport:
				p.link.observeDown(time.Now(), down.SSRC(), x.Reports)
			case *rtcp.SenderReport:
				p.link.observeDown(time.Now(), down.SSRC(), x.Reports)
			}
		}
	}
}

// addDownTrack puts down on "sub": on a transceiver an earlier down-track
// left, if one is free (see freeTransceiver), else on a new sendonly one.
// Reusing keeps a long call's "sub" from growing by an m-section for every
// track that ever came and went (each screen share, each guest).
func (p *participant) addDownTrack(down *forward.DownTrack) (*webrtc.RTPSender, error) {
	if p.freeTransceiver(down.Kind()) {
		// AddTrack takes the first transceiver pion finds free, which with
		// no offer outstanding is one freeTransceiver finds free too.
		return p.sub.AddTrack(down)
	}
	tr, err := p.sub.AddTransceiverFromTrack(down, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, err
	}
	return tr.Sender(), nil
}

// freeTransceiver reports whether "sub" has a transceiver of kind that a
// new down-track may take over: its down-track was removed (no sender), and
// it was never offered or the client answered it inactive. Such a client
// saw its last track end and takes the next one on that mid as a new track
// (a track event, named by the new msid of the m-section). Called with no
// offer outstanding, this is the rule by which pion's AddTrack reuses a
// transceiver (RTPTransceiver.isSendAllowed: a sender-less transceiver of
// the kind whose negotiated direction does not send; the remote direction
// of an offerer's transceiver is never known).
func (p *participant) freeTransceiver(kind webrtc.RTPCodecType) bool {
	var inactive map[string]bool
	for _, tr := range p.sub.GetTransceivers() {
		if tr.Kind() != kind || tr.Sender() != nil {
			continue
		}
		if tr.Mid() == "" {
			return true
		}
		if inactive == nil {
			inactive = inactiveMids(p.sub.CurrentRemoteDescription())
		}
		if inactive[tr.Mid()] {
			return true
		}
	}
	return false
}

// inactiveMids are the mids of the m-sections of d marked inactive.
func inactiveMids(d *webrtc.SessionDescription) map[string]bool {
	mids := map[string]bool{}
	if d == nil {
		return mids
	}
	// Not d.Unmarshal: d is pion's own, which keeps the parsed form in it.
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(d.SDP); err != nil {
		return mids
	}
	for _, m := range parsed.MediaDescriptions {
		mid, _ := m.Attribute(sdp.AttrKeyMID)
		if _, inactive := m.Attribute(sdp.AttrKeyInactive); inactive && mid != "" {
			mids[mid] = true
		}
	}
	return mids
}

func (p *participant) unsubscribe(id TrackID) {
	p.subWaiting = slices.DeleteFunc(p.subWaiting, func(t *track) bool { return t.id == id })
	s := p.s
	s.mu.Lock()
	sub := p.subs[id]
	delete(p.subs, id)
	delete(p.prefs, id)
	s.mu.Unlock()
	if sub == nil {
		return
	}
	sub.track.recv.RemoveDownTrack(sub.down)
	if p.sub != nil {
		if err := p.sub.RemoveTrack(sub.sender); err != nil {
			p.log.Debug("remove down-track", "error", err)
		}
	}
	sub.down.Close()
	p.negotiate()
}

// negotiate offers "sub" unless an offer is outstanding, in which case it
// offers again once the answer arrives. An offer not answered within the
// negotiation timeout ends the session.
func (p *participant) negotiate() {
	if p.sub == nil || len(p.sub.GetTransceivers()) == 0 {
		return
	}
	if p.subNegotiating || p.sub.SignalingState() != webrtc.SignalingStateStable {
		p.subPending = true
		return
	}
	var opts *webrtc.OfferOptions
	if p.subICERestart {
		opts = &webrtc.OfferOptions{ICERestart: true}
		p.subNoise.restarting.Store(true) // the old candidates close
	}
	p.holdCandidates(signal.TargetSub)
	defer p.releaseCandidates(signal.TargetSub)
	offer, err := p.sub.CreateOffer(opts)
	if err == nil {
		err = p.sub.SetLocalDescription(offer)
	}
	if errors.Is(err, webrtc.ErrConnectionClosed) {
		// The client closed "sub" (a track ended meanwhile); a resume
		// brings a new one.
		p.log.Debug("offer sub", "error", err)
		return
	}
	if err != nil {
		p.fail("offer sub", err)
		return
	}
	if p.subICERestart {
		p.subICERestart, p.subRestarting = false, true
		p.s.met.iceRestarts.WithLabelValues(signal.TargetSub).Inc()
	}
	p.subNegotiating = true
	p.subPending = false
	p.send(signal.TypeOffer, "", signal.SDP{Target: signal.TargetSub, SDP: offer})
	p.subOffers++
	n := p.subOffers
	if p.subAnswerTimer != nil {
		p.subAnswerTimer.Stop()
	}
	p.subAnswerTimer = time.AfterFunc(p.s.p.NegotiationTimeout, func() {
		p.do(func() { p.subAnswerLate(n) })
	})
}

// subAnswerLate runs when offer n's answer is overdue: a client that does
// not answer would stall every later track, so the session ends with an
// error; the client comes back (resume) and both connections start afresh.
func (p *participant) subAnswerLate(n int) {
	if !p.subNegotiating || p.subOffers != n {
		return
	}
	p.s.mu.Lock()
	sess := p.sess
	p.s.mu.Unlock()
	if sess == nil {
		return // nobody to ask; a resume rebuilds the connections
	}
	p.log.Warn("sub offer not answered, ending the session", "timeout", p.s.p.NegotiationTimeout)
	p.s.met.negotiationTimeouts.Inc()
	sess.sendError("", signal.ErrInternal, "sub offer not answered in time")
	// Not 1008: the client is expected to reconnect.
	sess.end("", websocket.StatusInternalError)
}

func (p *participant) onSubAnswer(sdp webrtc.SessionDescription) {
	if p.sub == nil || !p.subNegotiating {
		p.send(signal.TypeError, "", signal.Error{Code: signal.ErrBadMessage, Message: "no sub offer outstanding"})
		return
	}
	if err := p.sub.SetRemoteDescription(sdp); err != nil {
		p.log.Info("sub answer refused", "error", err)
		p.send(signal.TypeError, "", signal.Error{Code: signal.ErrBadMessage, Message: "bad sub answer"})
		return
	}
	p.subNegotiating = false
	if p.subAnswerTimer != nil {
		p.subAnswerTimer.Stop()
		p.subAnswerTimer = nil
	}
	p.flushCandidates(signal.TargetSub, p.sub)
	waiting := p.subWaiting
	p.subWaiting = nil
	for _, t := range waiting {
		p.subscribe(t, false)
	}
	if p.subPending {
		p.negotiate()
	}
}

// restartSubICE offers "sub" with new ICE credentials after its ICE went
// disconnected or failed (the node offers "sub", so restarting it is the
// node's job; the client restarts "pub"). One restart at a time, unless
// the restarted connection fails too.
func (p *participant) restartSubICE(pc *webrtc.PeerConnection, failed bool) {
	if p.sub != pc || (p.subRestarting && !failed) {
		return
	}
	p.s.mu.Lock()
	connected := p.sess != nil
	p.s.mu.Unlock()
	if !connected {
		return // a resume rebuilds both connections
	}
	p.log.Info("sub ICE lost, restarting it", "failed", failed)
	p.subICERestart = true
	p.negotiate()
}

func (p *participant) onPubOffer(ss *session, id string, sdp webrtc.SessionDescription) {
	if p.pub == nil {
		return
	}
	restart := false
	if cur := p.pub.RemoteDescription(); cur != nil {
		restart = iceUfrag(cur.SDP) != iceUfrag(sdp.SDP)
	}
	if restart {
		p.pubNoise.restarting.Store(true) // the old candidates close
	}
	// The answer's candidates (new ones after an ICE restart) follow it.
	p.holdCandidates(signal.TargetPub)
	defer p.releaseCandidates(signal.TargetPub)
	// Through the guard: a client may publish again on an m-section it
	// left inactive (see package pionanswer).
	sdp, err := p.pubGuard.Offer(sdp)
	if err == nil {
		err = p.pub.SetRemoteDescription(sdp)
	}
	var answer webrtc.SessionDescription
	if err == nil {
		answer, err = p.pub.CreateAnswer(nil)
	}
	if err == nil {
		err = p.pub.SetLocalDescription(answer)
	}
	if err == nil {
		answer, err = p.pubGuard.Answer(answer)
	}
	if err != nil {
		p.log.Info("pub offer refused", "error", err)
		ss.sendError(id, signal.ErrBadMessage, "bad pub offer")
		return
	}
	if restart {
		p.log.Info("pub ICE restarted by the client")
		p.s.met.iceRestarts.WithLabelValues(signal.TargetPub).Inc()
	}
	p.flushCandidates(signal.TargetPub, p.pub)
	ss.send(signal.TypeAnswer, id, signal.SDP{Target: signal.TargetPub, SDP: answer})
}

// candidateUfrag is the ICE username fragment a trickled candidate names
// (its usernameFragment, or the "ufrag" in its attribute line), if any.
func candidateUfrag(c webrtc.ICECandidateInit) string {
	if c.UsernameFragment != nil && *c.UsernameFragment != "" {
		return *c.UsernameFragment
	}
	f := strings.Fields(c.Candidate)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "ufrag" {
			return f[i+1]
		}
	}
	return ""
}

// iceUfrag is the first ICE username fragment in an SDP (with BUNDLE, all
// sections share it).
func iceUfrag(sdp string) string {
	const attr = "a=ice-ufrag:"
	i := strings.Index(sdp, attr)
	if i < 0 {
		return ""
	}
	rest := sdp[i+len(attr):]
	if j := strings.IndexAny(rest, "\r\n"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

func (p *participant) onTrickle(m signal.Trickle) {
	pc := p.pub
	if m.Target == signal.TargetSub {
		pc = p.sub
	}
	if pc == nil || m.Candidate == nil || m.Candidate.Candidate == "" {
		return
	}
	// Kept for the next remote description: none yet, or the candidate is
	// of credentials that description will bring (a client that restarts
	// ICE may trickle before its offer arrives).
	rd := pc.RemoteDescription()
	if ufrag := candidateUfrag(*m.Candidate); rd == nil || (ufrag != "" && ufrag != iceUfrag(rd.SDP)) {
		if len(p.pendingCands[m.Target]) < maxPendingCandidates {
			p.pendingCands[m.Target] = append(p.pendingCands[m.Target], *m.Candidate)
		}
		return
	}
	if err := pc.AddICECandidate(*m.Candidate); err != nil {
		p.log.Debug("add ICE candidate", "target", m.Target, "error", err)
	}
}

func (p *participant) flushCandidates(target string, pc *webrtc.PeerConnection) {
	for _, c := range p.pendingCands[target] {
		if err := pc.AddICECandidate(c); err != nil {
			p.log.Debug("add ICE candidate", "target", target, "error", err)
		}
	}
	delete(p.pendingCands, target)
}

// holdDownTracks holds or releases the down-tracks of the "sub"
// connection pc (see forward.DownTrack.SetHeld).
func (p *participant) holdDownTracks(pc *webrtc.PeerConnection, held bool) {
	if p.sub != pc {
		return
	}
	p.s.mu.Lock()
	downs := make([]*forward.DownTrack, 0, len(p.subs))
	for _, sub := range p.subs {
		downs = append(downs, sub.down)
	}
	p.s.mu.Unlock()
	for _, d := range downs {
		d.SetHeld(held)
	}
}
