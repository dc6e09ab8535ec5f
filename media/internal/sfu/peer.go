package sfu

import (
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/hcw-home/hcw/contract/signal"
	"github.com/hcw-home/hcw/media/internal/sfu/forward"
)

// The methods in this file run on the participant's op goroutine.

// restart gives the participant a fresh pub/sub pair (on join, resume or a
// replacing socket). On resume its published tracks stay, detached until
// republished; otherwise they end.
func (p *participant) restart(resume bool) {
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
	for _, t := range p.sortedTracks() {
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

	pub, _, err := s.newPeerConnection(rolePub)
	if err != nil {
		p.fail("create pub peer connection", err)
		return
	}
	sub, bwe, err := s.newPeerConnection(roleSub)
	if err != nil {
		_ = pub.Close()
		p.fail("create sub peer connection", err)
		return
	}
	p.pub, p.sub = pub, sub
	p.pubPC.Store(pub)
	p.subNegotiating, p.subPending = false, false
	p.pendingCands = make(map[string][]webrtc.ICECandidateInit)
	pub.OnICECandidate(func(c *webrtc.ICECandidate) { p.sendCandidate(gen, signal.TargetPub, c) })
	sub.OnICECandidate(func(c *webrtc.ICECandidate) { p.sendCandidate(gen, signal.TargetSub, c) })
	pub.OnTrack(func(tr *webrtc.TrackRemote, rr *webrtc.RTPReceiver) { p.onTrack(gen, tr, rr) })
	pub.OnConnectionStateChange(func(st webrtc.PeerConnectionState) { p.log.Debug("pub connection", "state", st.String()) })
	sub.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		p.log.Debug("sub connection", "state", st.String())
		if st == webrtc.PeerConnectionStateConnected {
			// Whatever was written before the transport was up is lost: ask
			// for fresh key frames (throttled per layer).
			p.do(p.requestKeyframes)
		}
	})

	s.mu.Lock()
	p.bwe = bwe
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
	p.bwe = nil
	s.mu.Unlock()
	for _, sub := range subs {
		sub.track.recv.RemoveDownTrack(sub.down)
	}
	p.pubPC.Store(nil)
	for _, pc := range []*webrtc.PeerConnection{p.pub, p.sub} {
		if pc != nil {
			if err := pc.GracefulClose(); err != nil {
				p.log.Debug("close peer connection", "error", err)
			}
		}
	}
	p.pub, p.sub = nil, nil
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
		r.Wait()
	}
}

func (p *participant) sendCandidate(gen int, target string, c *webrtc.ICECandidate) {
	var init *webrtc.ICECandidateInit
	if c != nil {
		x := c.ToJSON()
		init = &x
	}
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if p.pcGen == gen && p.sess != nil {
		p.sess.send(signal.TypeTrickle, "", signal.Trickle{Target: target, Candidate: init})
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

// subscribe adds a down-track for t on the "sub" connection.
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

	down := forward.NewDownTrack(forward.DownTrackParams{
		TrackID: string(t.id), StreamID: string(t.owner.id),
		Receiver: recv, Codec: recv.Codec(), Metrics: s.fwd,
	})
	tr, err := p.sub.AddTransceiverFromTrack(down, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		down.Close()
		p.log.Error("add down-track", "track", t.id, "error", err)
		return
	}
	sender := tr.Sender()
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

// readSenderRTCP drains a sender's RTCP (the interceptors need it read)
// and forwards key frame requests to the publisher.
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
			}
		}
	}
}

func (p *participant) unsubscribe(id TrackID) {
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
// offers again once the answer arrives.
func (p *participant) negotiate() {
	if p.sub == nil || len(p.sub.GetTransceivers()) == 0 {
		return
	}
	if p.subNegotiating || p.sub.SignalingState() != webrtc.SignalingStateStable {
		p.subPending = true
		return
	}
	offer, err := p.sub.CreateOffer(nil)
	if err == nil {
		err = p.sub.SetLocalDescription(offer)
	}
	if err != nil {
		p.fail("offer sub", err)
		return
	}
	p.subNegotiating = true
	p.subPending = false
	p.send(signal.TypeOffer, "", signal.SDP{Target: signal.TargetSub, SDP: offer})
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
	p.flushCandidates(signal.TargetSub, p.sub)
	if p.subPending {
		p.negotiate()
	}
}

func (p *participant) onPubOffer(ss *session, id string, sdp webrtc.SessionDescription) {
	if p.pub == nil {
		return
	}
	err := p.pub.SetRemoteDescription(sdp)
	var answer webrtc.SessionDescription
	if err == nil {
		answer, err = p.pub.CreateAnswer(nil)
	}
	if err == nil {
		err = p.pub.SetLocalDescription(answer)
	}
	if err != nil {
		p.log.Info("pub offer refused", "error", err)
		ss.sendError(id, signal.ErrBadMessage, "bad pub offer")
		return
	}
	p.flushCandidates(signal.TargetPub, p.pub)
	ss.send(signal.TypeAnswer, id, signal.SDP{Target: signal.TargetPub, SDP: answer})
}

func (p *participant) onTrickle(m signal.Trickle) {
	pc := p.pub
	if m.Target == signal.TargetSub {
		pc = p.sub
	}
	if pc == nil || m.Candidate == nil || m.Candidate.Candidate == "" {
		return
	}
	if pc.RemoteDescription() == nil {
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

// requestKeyframes asks the publishers of every video track the participant
// receives for a key frame.
func (p *participant) requestKeyframes() {
	p.s.mu.Lock()
	downs := make([]*forward.DownTrack, 0, len(p.subs))
	for _, sub := range p.subs {
		downs = append(downs, sub.down)
	}
	p.s.mu.Unlock()
	for _, d := range downs {
		d.RequestKeyframe()
	}
}
