package sfu

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/signal"
)

// waitRTP returns the first packet from ch matching pred.
func waitRTP(t *testing.T, ch <-chan *rtp.Packet, timeout time.Duration, pred func(*rtp.Packet) bool) *rtp.Packet {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case p, ok := <-ch:
			if !ok {
				t.Fatal("track ended")
			}
			if pred == nil || pred(p) {
				return p
			}
		case <-deadline:
			t.Fatalf("no matching RTP within %v", timeout)
		}
	}
}

// TestTwoParticipants: A publishes Opus and VP8 through the real signalling
// socket; B, already in the room, receives both tracks' RTP.
func TestTwoParticipants(t *testing.T) {
	reg := prometheus.NewRegistry()
	n := newTestNode(t, func(p *Params) { p.Registerer = reg })
	a := newClient(t, n, "a", n.grant(t, "a", "room-1", allSources))
	b := newClient(t, n, "b", n.grant(t, "b", "room-1", allSources))
	ja := a.join("room-1")
	require.Equal(t, "a", ja.Self.ID)
	require.Equal(t, signal.StateActive, ja.Self.State)
	jb := b.join("room-1")
	require.Len(t, jb.Participants, 1)
	require.Equal(t, "a", jb.Participants[0].ID)
	a.waitFor(signal.TypeParticipantJoined, nil)

	audio := a.addOpus("mic-1")
	defer audio.close()
	video := a.addVP8("cam-1", false)
	defer video.close()
	ta := a.publish("mic-1", "audio", grant.SourceMicrophone)
	tv := a.publish("cam-1", "video", grant.SourceCamera)
	a.offerPub()
	a.waitFor(signal.TypeAnswer, nil)
	video.run()

	b.waitFor(signal.TypeTrackPublished, func(e signal.Envelope) bool { return dataAs[signal.TrackInfo](t, e).ID == string(ta.ID) })
	b.waitFor(signal.TypeTrackPublished, func(e signal.Envelope) bool { return dataAs[signal.TrackInfo](t, e).ID == string(tv.ID) })

	got := map[string]*webrtc.TrackRemote{}
	for len(got) < 2 {
		tr := b.nextTrack(10 * time.Second)
		got[tr.ID()] = tr
		require.Equal(t, "a", tr.StreamID())
	}
	ra, rv := got[ta.ID], got[tv.ID]
	require.NotNil(t, ra)
	require.NotNil(t, rv)
	require.Equal(t, webrtc.MimeTypeOpus, ra.Codec().MimeType)
	require.Equal(t, webrtc.MimeTypeVP8, rv.Codec().MimeType)
	waitRTP(t, readPackets(ra), 5*time.Second, func(p *rtp.Packet) bool { return len(p.Payload) == 3 && p.Payload[0] == 0xf8 })
	waitRTP(t, readPackets(rv), 5*time.Second, func(p *rtp.Packet) bool { return len(p.Payload) == 5 && p.Payload[3] == 0xAA })

	// The loud Opus makes A the active speaker.
	b.waitFor(signal.TypeSpeakers, func(e signal.Envelope) bool {
		s := dataAs[signal.Speakers](t, e)
		return len(s.Speakers) == 1 && s.Speakers[0].Participant == "a"
	})

	load := n.sfu.Load()
	require.Equal(t, 1, load.Rooms)
	require.Equal(t, 2, load.Participants)
	require.Equal(t, 2, load.Tracks)
	rooms := n.sfu.Rooms()
	require.Len(t, rooms, 1)
	require.Equal(t, []string{"a", "b"}, rooms[0].Participants)

	// B's downlink has a send-side (GCC) estimate.
	n.sfu.mu.Lock()
	down := n.sfu.rooms["room-1"].participants["b"].down
	n.sfu.mu.Unlock()
	require.NotNil(t, down)
	require.Positive(t, down.bwe.GetTargetBitrate())

	families, err := reg.Gather()
	require.NoError(t, err)
	names := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			names[f.GetName()] += v
		}
	}
	require.Equal(t, 2.0, names["hcw_media_participants"])
	require.Equal(t, 2.0, names["hcw_media_tracks"])
	require.Positive(t, names["hcw_media_packets_total"])
	require.Contains(t, names, "hcw_media_layer_switches_total")
	require.Contains(t, names, "hcw_media_plis_total")
	require.Contains(t, names, "hcw_media_nacks_total")
}

// TestGrantRefusal: the upgrade is refused with the grant's stable code.
func TestGrantRefusal(t *testing.T) {
	n := newTestNode(t, nil)
	_, otherKey, err := generateKey()
	require.NoError(t, err)
	tests := []struct {
		name   string
		token  func() string
		status int
		code   string
	}{
		{"none", func() string { return "" }, http.StatusUnauthorized, signal.ErrGrantInvalid},
		{"expired", func() string {
			return n.grant(t, "a", "room-1", allSources, func(c *grant.Claims) {
				c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Minute))
			})
		}, http.StatusUnauthorized, signal.ErrGrantExpired},
		{"wrong node", func() string {
			return n.grant(t, "a", "room-1", allSources, func(c *grant.Claims) { c.Node = "media-2" })
		}, http.StatusForbidden, signal.ErrWrongNode},
		{"bad signature", func() string {
			c := grant.Claims{
				RegisteredClaims: jwt.RegisteredClaims{Subject: "a", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute))},
				Room:             "room-1", Node: testNodeID, Role: "patient",
			}
			tok, err := grant.Sign(otherKey, c, time.Now())
			require.NoError(t, err)
			return tok
		}, http.StatusUnauthorized, signal.ErrGrantInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, resp, err := dialRaw(ctx, n.url, tt.token())
			if conn != nil {
				conn.CloseNow()
			}
			require.Error(t, err)
			require.NotNil(t, resp)
			require.Equal(t, tt.status, resp.StatusCode)
			body, _ := io.ReadAll(resp.Body)
			var got struct{ Code string }
			require.NoError(t, json.Unmarshal(body, &got), string(body))
			require.Equal(t, tt.code, got.Code)
		})
	}

	t.Run("wrong room", func(t *testing.T) {
		c := newClient(t, n, "a", n.grant(t, "a", "room-1", allSources))
		c.send(signal.TypeJoin, signal.Join{Room: "room-2"})
		e := c.waitFor(signal.TypeError, nil)
		require.Equal(t, signal.ErrWrongRoom, dataAs[signal.Error](t, e).Code)
		require.Eventually(t, c.isClosed, 5*time.Second, 10*time.Millisecond)
		require.Empty(t, n.sfu.Rooms())
	})

	t.Run("message before join", func(t *testing.T) {
		c := newClient(t, n, "a", n.grant(t, "a", "room-1", allSources))
		c.send(signal.TypePublish, signal.Publish{CID: "x", Kind: "audio", Source: grant.SourceMicrophone})
		e := c.waitFor(signal.TypeError, nil)
		require.Equal(t, signal.ErrBadMessage, dataAs[signal.Error](t, e).Code)
	})

	t.Run("oversize message", func(t *testing.T) {
		c := newClient(t, n, "a", n.grant(t, "a", "room-1", allSources))
		c.sendRaw(make([]byte, signal.MaxMessageBytes+1))
		require.Eventually(t, c.isClosed, 5*time.Second, 10*time.Millisecond)
	})

	t.Run("rate limited", func(t *testing.T) {
		c := newClient(t, n, "a", n.grant(t, "a", "room-1", allSources))
		b, err := signal.Encode("nonsense", "", nil)
		require.NoError(t, err)
		for range 300 {
			c.sendRaw(b)
		}
		c.waitFor(signal.TypeError, func(e signal.Envelope) bool {
			return dataAs[signal.Error](t, e).Code == signal.ErrRateLimited
		})
		require.Eventually(t, c.isClosed, 5*time.Second, 10*time.Millisecond)
	})
}

// TestSourceNotAllowed: a grant without camera cannot publish video (the
// screen, with media: TestScreenShare).
func TestSourceNotAllowed(t *testing.T) {
	n := newTestNode(t, nil)
	c := newClient(t, n, "a", n.grant(t, "a", "room-1", []string{grant.SourceMicrophone}))
	c.join("room-1")
	c.send(signal.TypePublish, signal.Publish{CID: "cam", Kind: "video", Source: grant.SourceCamera})
	e := c.waitFor(signal.TypeError, nil)
	require.Equal(t, signal.ErrSourceNotAllowed, dataAs[signal.Error](t, e).Code)
	// The microphone is fine.
	c.publish("mic", "audio", grant.SourceMicrophone)

	// An audio-only grant refuses the camera and the screen whatever its
	// sources say.
	d := newClient(t, n, "d", n.grant(t, "d", "room-1", append([]string{grant.SourceScreen}, allSources...), func(c *grant.Claims) { c.AudioOnly = true }))
	d.join("room-1")
	for i, source := range []string{grant.SourceCamera, grant.SourceScreen} {
		d.send(signal.TypePublish, signal.Publish{CID: source, Kind: "video", Source: source})
		require.Eventually(t, func() bool { return len(d.all(signal.TypeError)) == i+1 }, 5*time.Second, 10*time.Millisecond, source)
		require.Equal(t, signal.ErrSourceNotAllowed, dataAs[signal.Error](t, d.all(signal.TypeError)[i]).Code, source)
	}
	d.publish("mic", "audio", grant.SourceMicrophone)
}

// TestRemoveParticipant: the removed client gets leave{removed} and its
// socket closes; the other gets participant_left, within 5 s.
func TestRemoveParticipant(t *testing.T) {
	n := newTestNode(t, nil)
	aGrant := n.grant(t, "a", "room-1", allSources)
	a := newClient(t, n, "a", aGrant)
	b := newClient(t, n, "b", n.grant(t, "b", "room-1", allSources))
	a.join("room-1")
	b.join("room-1")
	start := time.Now()
	require.True(t, n.sfu.RemoveParticipant("room-1", "a"))
	require.False(t, n.sfu.RemoveParticipant("room-1", "nobody"))
	e := a.waitFor(signal.TypeLeave, nil)
	require.Equal(t, signal.ReasonRemoved, dataAs[signal.Leave](t, e).Reason)
	require.Eventually(t, a.isClosed, 5*time.Second, 10*time.Millisecond)
	e = b.waitFor(signal.TypeParticipantLeft, nil)
	require.Equal(t, signal.ParticipantLeft{ID: "a", Reason: signal.ReasonRemoved}, dataAs[signal.ParticipantLeft](t, e))
	require.Less(t, time.Since(start), 5*time.Second)
	require.Equal(t, 1, n.sfu.Load().Participants)

	// The removed participant's grant is still unexpired: it no longer
	// opens a socket, and neither does a grant of an ended room.
	requireRefused(t, n, aGrant, http.StatusForbidden, signal.ErrRemoved)
	bGrant := n.grant(t, "b", "room-1", allSources)
	require.True(t, n.sfu.EndRoom("room-1"))
	requireRefused(t, n, bGrant, http.StatusForbidden, signal.ErrRoomEnded)
	// Another room is not affected.
	c := newClient(t, n, "c", n.grant(t, "c", "room-2", allSources))
	c.join("room-2")
}

func requireRefused(t *testing.T, n *testNode, token string, status int, code string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := dialRaw(ctx, n.url, token)
	if conn != nil {
		conn.CloseNow()
	}
	require.Error(t, err)
	require.NotNil(t, resp)
	require.Equal(t, status, resp.StatusCode)
	body, _ := io.ReadAll(resp.Body)
	var got struct{ Code string }
	require.NoError(t, json.Unmarshal(body, &got), string(body))
	require.Equal(t, code, got.Code)
}

// TestGracePeriod: a dropped socket shows "reconnecting"; a resume takes
// the place back; a second drop past the grace period ends in
// participant_left.
func TestGracePeriod(t *testing.T) {
	n := newTestNode(t, func(p *Params) { p.GracePeriod = 2 * time.Second })
	a := newClient(t, n, "a", n.grant(t, "a", "room-1", allSources))
	b := newClient(t, n, "b", n.grant(t, "b", "room-1", allSources))
	a.join("room-1")
	b.join("room-1")

	a.drop()
	e := b.waitFor(signal.TypeParticipantUpdated, nil)
	info := dataAs[signal.ParticipantInfo](t, e)
	require.Equal(t, "a", info.ID)
	require.Equal(t, signal.StateReconnecting, info.State)

	a2 := newClient(t, n, "a2", n.grant(t, "a", "room-1", allSources))
	a2.send(signal.TypeJoin, signal.Join{Room: "room-1", Resume: true})
	joined := dataAs[signal.Joined](t, a2.waitFor(signal.TypeJoined, nil))
	require.Equal(t, signal.StateActive, joined.Self.State)
	b.waitFor(signal.TypeParticipantUpdated, func(e signal.Envelope) bool {
		return dataAs[signal.ParticipantInfo](t, e).State == signal.StateActive
	})
	require.False(t, b.has(signal.TypeParticipantLeft, nil))

	// A second socket for the same participant replaces the first.
	a3 := newClient(t, n, "a3", n.grant(t, "a", "room-1", allSources))
	a3.join("room-1")
	e = a2.waitFor(signal.TypeLeave, nil)
	require.Equal(t, signal.ReasonDuplicate, dataAs[signal.Leave](t, e).Reason)
	require.Eventually(t, a2.isClosed, 5*time.Second, 10*time.Millisecond)

	a3.drop()
	e = b.waitFor(signal.TypeParticipantLeft, nil)
	require.Equal(t, signal.ParticipantLeft{ID: "a", Reason: signal.ReasonConnectionLost}, dataAs[signal.ParticipantLeft](t, e))
}

// TestEndRoomDrainClose: EndRoom, draining, and a Close that leaves no
// goroutine behind.
func TestEndRoomDrainClose(t *testing.T) {
	n := newTestNode(t, nil)
	a := newClient(t, n, "a", n.grant(t, "a", "room-1", allSources))
	b := newClient(t, n, "b", n.grant(t, "b", "room-1", allSources))
	a.join("room-1")
	b.join("room-1")
	require.True(t, n.sfu.EndRoom("room-1"))
	require.False(t, n.sfu.EndRoom("room-1"))
	for _, c := range []*client{a, b} {
		e := c.waitFor(signal.TypeLeave, nil)
		require.Equal(t, signal.ReasonRoomEnded, dataAs[signal.Leave](t, e).Reason)
		require.Eventually(t, c.isClosed, 5*time.Second, 10*time.Millisecond)
	}
	require.Empty(t, n.sfu.Rooms())

	c := newClient(t, n, "c", n.grant(t, "c", "room-2", allSources))
	c.join("room-2")
	n.sfu.SetDraining(true)
	d := newClient(t, n, "d", n.grant(t, "d", "room-3", allSources))
	d.send(signal.TypeJoin, signal.Join{Room: "room-3"})
	e := d.waitFor(signal.TypeError, nil)
	require.Equal(t, signal.ErrNodeDraining, dataAs[signal.Error](t, e).Code)
	e2 := newClient(t, n, "e", n.grant(t, "e", "room-2", allSources))
	e2.join("room-2") // an existing room still takes joins
	require.Equal(t, 2, n.sfu.Load().Participants)

	n.sfu.Close()
	for _, cl := range []*client{c, e2} {
		e := cl.waitFor(signal.TypeLeave, nil)
		require.Equal(t, signal.ReasonNodeShutdown, dataAs[signal.Leave](t, e).Reason)
	}
	// After Close the node refuses upgrades.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := dialRaw(ctx, n.url, n.grant(t, "f", "room-2", allSources))
	if conn != nil {
		conn.CloseNow()
	}
	require.Error(t, err)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

// TestCapacity: the node refuses a participant beyond its capacity.
func TestCapacity(t *testing.T) {
	n := newTestNode(t, func(p *Params) { p.Capacity = 1 })
	a := newClient(t, n, "a", n.grant(t, "a", "room-1", allSources))
	a.join("room-1")
	b := newClient(t, n, "b", n.grant(t, "b", "room-1", allSources))
	b.send(signal.TypeJoin, signal.Join{Room: "room-1"})
	require.Equal(t, signal.ErrRoomFull, dataAs[signal.Error](t, b.waitFor(signal.TypeError, nil)).Code)
}

// TestPublishBeforeRestart: a second socket for a participant joins and
// publishes at once, before the node has rebuilt the participant's
// connections (closing the first socket's takes a while). The track it
// announced survives the rebuild, and its media reaches b.
func TestPublishBeforeRestart(t *testing.T) {
	n := newTestNode(t, nil)
	a := newClient(t, n, "a", n.grant(t, "a", "room-1", allSources))
	b := newClient(t, n, "b", n.grant(t, "b", "room-1", allSources))
	a.join("room-1")
	b.join("room-1")
	// Up and connected, so that closing a's connections takes time.
	audio := a.addOpus("mic-1")
	t.Cleanup(audio.close)
	a.publish("mic-1", "audio", grant.SourceMicrophone)
	a.negotiatePub()
	first := b.nextTrack(10 * time.Second)

	a2 := newClient(t, n, "a2", n.grant(t, "a", "room-1", allSources))
	a2.send(signal.TypeJoin, signal.Join{Room: "room-1"})
	a2.send(signal.TypePublish, signal.Publish{CID: "mic-2", Kind: "audio", Source: grant.SourceMicrophone})
	a2.waitFor(signal.TypeJoined, nil)
	a2.waitFor(signal.TypePublished, nil)
	audio2 := a2.addOpus("mic-2")
	t.Cleanup(audio2.close)
	a2.negotiatePub()
	for {
		tr := b.nextTrack(10 * time.Second)
		if tr != first {
			waitRTP(t, readPackets(tr), 5*time.Second, func(*rtp.Packet) bool { return true })
			return
		}
	}
}
