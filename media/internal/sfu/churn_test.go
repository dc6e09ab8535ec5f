package sfu

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/signal"
)

// churnCycles is how many times the churn tests share a screen, or let a
// participant come and go, in one call.
const churnCycles = 20

// participantLoad is what the node holds for one participant.
type participantLoad struct {
	Tracks      int // published tracks
	Retired     int // receivers of ended tracks kept
	Reading     int // of which still reading
	DownTracks  int // down-tracks fed by its published tracks
	Subs        int // tracks it receives
	PubTracks   int // "pub" transceivers with a track (inactive ones have none)
	SubSections int // "sub" transceivers (m-sections)
	SubSending  int // "sub" transceivers with a track
}

// load reads a participant's state on its op goroutine (which owns its
// peer connections).
func (n *testNode) load(t *testing.T, room, id string) participantLoad {
	t.Helper()
	s := n.sfu
	s.mu.Lock()
	p := s.rooms[RoomID(room)].participants[ParticipantID(id)]
	s.mu.Unlock()
	require.NotNil(t, p, "participant %s", id)
	ch := make(chan participantLoad, 1)
	p.do(func() {
		var l participantLoad
		s.mu.Lock()
		l.Tracks, l.Subs = len(p.tracks), len(p.subs)
		l.Retired = len(p.retired)
		for _, r := range p.retired {
			if r.Reading() {
				l.Reading++
			}
		}
		for _, tr := range p.tracks {
			if tr.recv != nil {
				l.DownTracks += len(tr.recv.DownTracks())
			}
		}
		s.mu.Unlock()
		if p.pub != nil {
			for _, x := range p.pub.GetTransceivers() {
				if r := x.Receiver(); r != nil && len(r.Tracks()) > 0 {
					l.PubTracks++
				}
			}
		}
		if p.sub != nil {
			for _, x := range p.sub.GetTransceivers() {
				l.SubSections++
				if x.Sender() != nil {
					l.SubSending++
				}
			}
		}
		ch <- l
	})
	select {
	case l := <-ch:
		return l
	case <-time.After(5 * time.Second):
		t.Fatalf("participant %s: op goroutine stuck", id)
		return participantLoad{}
	}
}

// lastOfferSections counts the m-sections of the last offer c got.
func (c *client) lastOfferSections() int {
	offers := c.all(signal.TypeOffer)
	if len(offers) == 0 {
		return 0
	}
	m := dataAs[signal.SDP](c.t, offers[len(offers)-1])
	return strings.Count(m.SDP.SDP, "\nm=")
}

// settledGoroutines waits until the goroutine count is at most want.
func settledGoroutines(t *testing.T, want int, what string) {
	t.Helper()
	var got int
	ok := eventually(10*time.Second, func() bool {
		got = runtime.NumGoroutine()
		return got <= want
	})
	if !ok {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Logf("goroutines:\n%s", buf)
	}
	require.True(t, ok, "%s: %d goroutines, want at most %d", what, got, want)
	t.Logf("%s: %d goroutines (at most %d)", what, got, want)
}

// eventually polls cond until it holds or within passes; it reports
// whether it held (for a failure message made of what was seen last).
func eventually(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// goroutineSlack absorbs goroutines that come and go whatever the test
// does (pion's timers, the sockets' writers). A share or a guest runs
// about ten on the node and the clients together: a cycle that left even
// one behind leaves churnCycles.
const goroutineSlack = 6

// plainVP8 is a packet of the harness's VP8 publishers.
func plainVP8(p *rtp.Packet) bool { return len(p.Payload) == 5 && p.Payload[3] == 0xAA }

// waitEnded waits for a remote track's packets to stop (its m-section went
// inactive, and the client's receiver stopped).
func waitEnded(t *testing.T, ch <-chan *rtp.Packet, what string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("%s: still receiving", what)
		}
	}
}

// discardTracks reads and drops the media of every track c receives from
// now on (a client whose tracks nobody reads would stall its OnTrack).
func (c *client) discardTracks() {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case tr := <-c.tracks:
				readPackets(tr) // ends with the track
			case <-stop:
				return
			}
		}
	}()
	c.t.Cleanup(func() { close(stop); <-done })
}

// TestScreenShareChurn: in one call A, with camera and microphone on,
// shares its screen and stops sharing churnCycles times the way a browser
// does (publish and a new m-section; unpublish and that m-section
// inactive). B receives every share, media included, with the track
// events in order, and each stopped share ends on B's side. Afterwards the
// node holds for A and B what a camera and a microphone need: no track,
// down-track, receiver or goroutine left from the shares, and B's "sub"
// offers carry the camera, the microphone and one m-section the shares
// took turns on, not one per share.
func TestScreenShareChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("media test")
	}
	n := newTestNode(t, nil)
	withScreen := append([]string{grant.SourceScreen}, allSources...)
	a := newClient(t, n, "a", n.grant(t, "a", "room-1", withScreen))
	b := newClient(t, n, "b", n.grant(t, "b", "room-1", allSources))
	a.join("room-1")
	b.join("room-1")

	mic := a.addOpus("mic")
	defer mic.close()
	cam := a.addVP8("cam", false)
	defer cam.close()
	micInfo := a.publish("mic", "audio", grant.SourceMicrophone)
	camInfo := a.publish("cam", "video", grant.SourceCamera)
	a.negotiatePub()
	cam.run()
	got := map[string]*webrtc.TrackRemote{}
	for len(got) < 2 {
		tr := b.nextTrack(10 * time.Second)
		got[tr.ID()] = tr
	}
	camPkts := readPackets(got[camInfo.ID])
	micPkts := readPackets(got[micInfo.ID])
	waitRTP(t, camPkts, 5*time.Second, plainVP8)
	waitRTP(t, micPkts, 5*time.Second, nil)
	before := runtime.NumGoroutine()
	idle := n.load(t, "room-1", "a")

	var shares []string
	for i := range churnCycles {
		cid := fmt.Sprintf("screen-%d", i)
		screen := a.addScreen(cid)
		info := a.publish(cid, "video", grant.SourceScreen)
		a.negotiatePub()
		screen.run()
		shares = append(shares, info.ID)

		tr := b.nextTrack(10 * time.Second)
		require.Equal(t, info.ID, tr.ID(), "share %d", i)
		require.Equal(t, "a", tr.StreamID())
		pkts := readPackets(tr)
		waitRTP(t, pkts, 5*time.Second, plainVP8)

		a.stopScreen(screen, info.ID)
		b.waitFor(signal.TypeTrackUnpublished, func(e signal.Envelope) bool {
			return dataAs[signal.TrackUnpublished](t, e).ID == info.ID
		})
		waitEnded(t, pkts, fmt.Sprintf("share %d", i))
	}

	// B heard of every share, in order.
	var want []string
	for _, id := range shares {
		want = append(want, "+"+id, "-"+id)
	}
	require.Equal(t, want, screenEvents(t, b))

	// The camera and the microphone still flow.
	waitRTP(t, camPkts, 5*time.Second, plainVP8)
	waitRTP(t, micPkts, 5*time.Second, nil)

	// The last share's receiver may stay listed, done reading, until the
	// next track ends (see keepRetired).
	var la participantLoad
	settled := eventually(10*time.Second, func() bool {
		la = n.load(t, "room-1", "a")
		return la.Tracks == 2 && la.Retired <= 1 && la.Reading == 0 && la.DownTracks == 2 && la.PubTracks == idle.PubTracks
	})
	lb := n.load(t, "room-1", "b")
	t.Logf("after %d shares: A %+v, B %+v, B's last sub offer %d m-sections", churnCycles, la, lb, b.lastOfferSections())
	require.True(t, settled, "A: %+v, before the shares %+v", la, idle)
	require.Equal(t, 2, lb.Subs)
	require.Equal(t, 2, lb.SubSending)
	require.Equal(t, 3, lb.SubSections, "B's sub m-sections")
	require.Equal(t, 3, b.lastOfferSections(), "B's last sub offer")
	settledGoroutines(t, before+goroutineSlack, "after the shares")
}

// screenEvents lists c's track_published (+id) and track_unpublished (-id)
// messages for screen tracks, in arrival order.
func screenEvents(t *testing.T, c *client) []string {
	c.mu.Lock()
	msgs := append([]signal.Envelope(nil), c.msgs...)
	c.mu.Unlock()
	screens := map[string]bool{}
	var out []string
	for _, e := range msgs {
		switch e.Type {
		case signal.TypeTrackPublished:
			if info := dataAs[signal.TrackInfo](t, e); info.Source == grant.SourceScreen {
				screens[info.ID] = true
				out = append(out, "+"+info.ID)
			}
		case signal.TypeTrackUnpublished:
			if id := dataAs[signal.TrackUnpublished](t, e).ID; screens[id] {
				out = append(out, "-"+id)
			}
		}
	}
	return out
}

// TestParticipantChurn: B, in a call with A (camera and microphone), sees
// churnCycles guests come one after the other, each with a camera and a
// microphone, and leave. B receives every guest's media, with the
// announcements in order, and each guest's tracks end on B's side when it
// leaves. Afterwards the node holds for B what A's two tracks need, and
// B's "sub" offers carry A's two m-sections and the two the guests took
// turns on.
func TestParticipantChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("media test")
	}
	n := newTestNode(t, nil)
	a := newClient(t, n, "a", n.grant(t, "a", "room-1", allSources))
	b := newClient(t, n, "b", n.grant(t, "b", "room-1", allSources))
	a.join("room-1")
	b.join("room-1")
	mic := a.addOpus("mic")
	defer mic.close()
	cam := a.addVP8("cam", false)
	defer cam.close()
	a.publish("mic", "audio", grant.SourceMicrophone)
	a.publish("cam", "video", grant.SourceCamera)
	a.negotiatePub()
	cam.run()
	// B's microphone: A's "sub" is up before the goroutines are counted.
	bMic := b.addOpus("mic")
	defer bMic.close()
	b.publish("mic", "audio", grant.SourceMicrophone)
	b.negotiatePub()
	waitRTP(t, readPackets(a.nextTrack(10*time.Second)), 5*time.Second, nil)
	a.discardTracks() // the guests'
	var aPkts []<-chan *rtp.Packet
	for range 2 {
		tr := b.nextTrack(10 * time.Second)
		aPkts = append(aPkts, readPackets(tr))
	}
	for _, ch := range aPkts {
		waitRTP(t, ch, 5*time.Second, nil)
	}
	before := runtime.NumGoroutine()

	for i := range churnCycles {
		id := fmt.Sprintf("guest-%d", i)
		g := newClient(t, n, id, n.grant(t, id, "room-1", allSources))
		g.join("room-1")
		gMic := g.addOpus("mic")
		gCam := g.addVP8("cam", false)
		micInfo := g.publish("mic", "audio", grant.SourceMicrophone)
		camInfo := g.publish("cam", "video", grant.SourceCamera)
		g.negotiatePub()
		gCam.run()

		got := map[string]<-chan *rtp.Packet{}
		for len(got) < 2 {
			tr := b.nextTrack(10 * time.Second)
			require.Equal(t, id, tr.StreamID(), "guest %d", i)
			got[tr.ID()] = readPackets(tr)
		}
		require.Contains(t, got, micInfo.ID)
		require.Contains(t, got, camInfo.ID)
		waitRTP(t, got[camInfo.ID], 5*time.Second, plainVP8)
		waitRTP(t, got[micInfo.ID], 5*time.Second, nil)

		g.send(signal.TypeLeave, signal.Leave{Reason: signal.ReasonClientLeft})
		b.waitFor(signal.TypeParticipantLeft, func(e signal.Envelope) bool {
			return dataAs[signal.ParticipantLeft](t, e).ID == id
		})
		gMic.close()
		gCam.close()
		g.close()
		gMic.done.Wait()
		gCam.done.Wait()
		for tid, ch := range got {
			waitEnded(t, ch, fmt.Sprintf("guest %d track %s", i, tid))
		}
	}

	// B heard of each guest in order: joined, its two tracks, their end,
	// left.
	var events []string
	b.mu.Lock()
	msgs := append([]signal.Envelope(nil), b.msgs...)
	b.mu.Unlock()
	for _, e := range msgs {
		switch e.Type {
		case signal.TypeParticipantJoined:
			events = append(events, "joined "+dataAs[signal.ParticipantInfo](t, e).ID)
		case signal.TypeTrackPublished:
			if info := dataAs[signal.TrackInfo](t, e); info.Participant != "a" {
				events = append(events, "published "+info.Participant)
			}
		case signal.TypeTrackUnpublished:
			events = append(events, "unpublished "+dataAs[signal.TrackUnpublished](t, e).Participant)
		case signal.TypeParticipantLeft:
			events = append(events, "left "+dataAs[signal.ParticipantLeft](t, e).ID)
		}
	}
	var want []string
	for i := range churnCycles {
		id := fmt.Sprintf("guest-%d", i)
		want = append(want, "joined "+id, "published "+id, "published "+id, "unpublished "+id, "unpublished "+id, "left "+id)
	}
	require.Equal(t, want, events)

	for _, ch := range aPkts {
		waitRTP(t, ch, 5*time.Second, nil)
	}
	require.Equal(t, 2, n.sfu.Load().Participants)
	lb := n.load(t, "room-1", "b")
	t.Logf("after %d guests: B %+v, B's last sub offer %d m-sections", churnCycles, lb, b.lastOfferSections())
	require.Equal(t, 2, lb.Subs)
	require.Equal(t, 2, lb.SubSending)
	require.Equal(t, 4, lb.SubSections, "B's sub m-sections")
	require.Equal(t, 4, b.lastOfferSections(), "B's last sub offer")
	settledGoroutines(t, before+goroutineSlack, "after the guests")
}

// TestScreenShareReusedSection: a client may share again on the pub
// m-section an earlier share left inactive (pion's AddTrack, a browser's
// replaceTrack with the direction back to sendonly) rather than add one,
// even after that m-section went through more than one offer inactive.
// The node takes the new share: B gets it, and A's pub keeps three
// m-sections.
func TestScreenShareReusedSection(t *testing.T) {
	if testing.Short() {
		t.Skip("media test")
	}
	n := newTestNode(t, nil)
	withScreen := append([]string{grant.SourceScreen}, allSources...)
	a := newClient(t, n, "a", n.grant(t, "a", "room-1", withScreen))
	b := newClient(t, n, "b", n.grant(t, "b", "room-1", allSources))
	a.join("room-1")
	b.join("room-1")
	mic := a.addOpus("mic")
	defer mic.close()
	cam := a.addVP8("cam", false)
	defer cam.close()
	a.publish("mic", "audio", grant.SourceMicrophone)
	a.publish("cam", "video", grant.SourceCamera)
	a.negotiatePub()
	cam.run()
	for range 2 {
		readPackets(b.nextTrack(10 * time.Second))
	}

	for i := range 3 {
		cid := fmt.Sprintf("screen-%d", i)
		var screen *vp8Publisher
		if i == 0 {
			screen = a.addScreen(cid)
		} else {
			screen = a.addVP8(cid, false) // AddTrack takes the inactive m-section
		}
		info := a.publish(cid, "video", grant.SourceScreen)
		a.negotiatePub()
		screen.run()
		require.Len(t, a.pub.GetTransceivers(), 3, "share %d", i)
		tr := b.nextTrack(10 * time.Second)
		require.Equal(t, info.ID, tr.ID(), "share %d", i)
		pkts := readPackets(tr)
		waitRTP(t, pkts, 5*time.Second, plainVP8)

		a.stopScreen(screen, info.ID)
		waitEnded(t, pkts, fmt.Sprintf("share %d", i))
		// Another offer (an ICE restart, a camera switched) with the
		// m-section inactive again.
		a.negotiatePub()
	}
}
