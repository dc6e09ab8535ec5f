package pionanswer_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/media/internal/pionanswer"
)

// pair is an offerer sending to an answerer whose offers and answers go
// through a Guard, as the media node and a Go client do on "sub".
type pair struct {
	t        *testing.T
	off, ans *webrtc.PeerConnection
	guard    *pionanswer.Guard
	tracks   chan *webrtc.TrackRemote
	answers  []string // as sent to the offerer
	stop     chan struct{}
	wg       sync.WaitGroup
}

func newPair(t *testing.T) *pair {
	t.Helper()
	off, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	ans, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	p := &pair{t: t, off: off, ans: ans, guard: pionanswer.New(ans), tracks: make(chan *webrtc.TrackRemote, 4), stop: make(chan struct{})}
	ans.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { p.tracks <- tr })
	t.Cleanup(func() {
		close(p.stop)
		p.wg.Wait()
		require.NoError(t, off.Close())
		require.NoError(t, ans.Close())
	})
	return p
}

func (p *pair) negotiate() {
	t := p.t
	t.Helper()
	o, err := p.off.CreateOffer(nil)
	require.NoError(t, err)
	gathered := webrtc.GatheringCompletePromise(p.off)
	require.NoError(t, p.off.SetLocalDescription(o))
	<-gathered
	remote, err := p.guard.Offer(*p.off.LocalDescription())
	require.NoError(t, err)
	require.NoError(t, p.ans.SetRemoteDescription(remote))
	a, err := p.ans.CreateAnswer(nil)
	require.NoError(t, err)
	gathered = webrtc.GatheringCompletePromise(p.ans)
	require.NoError(t, p.ans.SetLocalDescription(a))
	<-gathered
	sent, err := p.guard.Answer(*p.ans.LocalDescription())
	require.NoError(t, err)
	p.answers = append(p.answers, sent.SDP)
	require.NoError(t, p.off.SetRemoteDescription(sent))
}

// send writes Opus-like packets on tr until the test ends.
func (p *pair) send(tr *webrtc.TrackLocalStaticRTP) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(1); ; seq++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			_ = tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: uint32(seq) * 960}, Payload: []byte{1, 2, 3}})
		}
	}()
}

func (p *pair) nextTrack() *webrtc.TrackRemote {
	p.t.Helper()
	select {
	case tr := <-p.tracks:
		return tr
	case <-time.After(5 * time.Second):
		p.t.Fatal("no track within 5 s")
		return nil
	}
}

// lastAnswerDirection is the direction of the only m-section of the last
// answer sent.
func (p *pair) lastAnswerDirection() string {
	last := p.answers[len(p.answers)-1]
	for _, dir := range []string{"sendrecv", "sendonly", "recvonly", "inactive"} {
		if strings.Contains(last, "\na="+dir+"\r") {
			return dir
		}
	}
	return ""
}

// TestReuseAfterInactiveOffers: the offerer reuses its one m-section for a
// new track after it was offered inactive once, twice, three times; the
// answerer gets each new track, and answers inactive to every inactive
// offer.
func TestReuseAfterInactiveOffers(t *testing.T) {
	p := newPair(t)
	opus := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}
	first, err := webrtc.NewTrackLocalStaticRTP(opus, "first", "s")
	require.NoError(t, err)
	x, err := p.off.AddTransceiverFromTrack(first, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	require.NoError(t, err)
	p.send(first)
	p.negotiate()
	require.Equal(t, "first", p.nextTrack().ID())
	sender := x.Sender()

	for k := 1; k <= 3; k++ {
		require.NoError(t, p.off.RemoveTrack(sender))
		for range k {
			p.negotiate()
			require.Equal(t, "inactive", p.lastAnswerDirection(), "round %d", k)
		}
		tr, err := webrtc.NewTrackLocalStaticRTP(opus, fmt.Sprintf("next-%d", k), "s")
		require.NoError(t, err)
		sender, err = p.off.AddTrack(tr)
		require.NoError(t, err)
		require.Len(t, p.off.GetTransceivers(), 1, "the m-section is reused")
		p.send(tr)
		p.negotiate()
		require.Equal(t, "recvonly", p.lastAnswerDirection())
		require.Equal(t, fmt.Sprintf("next-%d", k), p.nextTrack().ID(), "round %d", k)
	}
}
