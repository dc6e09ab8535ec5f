package signalclient_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/signal"
	"github.com/hcw-home/hcw/media/internal/sfu"
	"github.com/hcw-home/hcw/media/signalclient"
)

// node runs the real SFU behind an HTTP server on loopback.
func node(t *testing.T) (url string, key ed25519.PrivateKey, s *sfu.SFU) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err = sfu.New(sfu.Params{Logger: slog.New(slog.DiscardHandler), NodeID: "media-1", Verifier: grant.NewVerifier(pub), UDPConn: udp})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /n/{node}/signal", s.SignalHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { s.Close(); srv.Close() })
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/n/media-1/signal", key, s
}

func dial(t *testing.T, url string, key ed25519.PrivateKey, id string, sources ...string) *signalclient.Client {
	t.Helper()
	g, err := grant.Sign(key, grant.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: id},
		Room:             "c-1", Node: "media-1", Name: id, Role: "patient", Sources: sources,
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := signalclient.Dial(ctx, signalclient.Options{URL: url, Grant: g, Room: "c-1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestPublishAndReceiveThroughTheSFU(t *testing.T) {
	url, key, s := node(t)
	a := dial(t, url, key, "p-a", grant.SourceMicrophone)
	b := dial(t, url, key, "p-b")
	var got atomic.Int64
	b.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
			got.Add(1)
		}
	})
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", "p-a")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, _, err := a.Publish(ctx, grant.SourceMicrophone, track, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Participant != "p-a" || info.Kind != "audio" {
		t.Fatalf("published %+v", info)
	}
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("b received %d packets in 10 s", got.Load())
		}
		_ = track.WriteSample(media.Sample{Data: make([]byte, 40), Duration: 20 * time.Millisecond})
		time.Sleep(20 * time.Millisecond)
	}

	// A source the grant lacks is refused with its stable code.
	cam, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "cam", "p-a")
	_, _, err = a.Publish(ctx, grant.SourceCamera, cam, nil)
	var se *signalclient.Error
	if !errors.As(err, &se) || se.Code != "source_not_allowed" {
		t.Fatalf("camera without grant: %v", err)
	}

	// Removal ends the removed client's session with the reason.
	if !s.RemoveParticipant("c-1", "p-b") {
		t.Fatal("p-b not found")
	}
	select {
	case <-b.Done():
		if !strings.Contains(b.Err().Error(), "removed") {
			t.Fatalf("ended with %v", b.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still connected 5 s after removal")
	}
}

// feed writes 20 ms samples to track until the test ends. Zero bytes make
// every VP8 frame a key frame.
func feed(t *testing.T, track *webrtc.TrackLocalStaticSample) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = track.WriteSample(media.Sample{Data: make([]byte, 40), Duration: 20 * time.Millisecond})
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// TestTracksOnReusedSections: the node reuses B's "sub" m-section that
// A's microphone left (when A left) for D's microphone, after another
// offer (C's camera) had already marked it inactive again; B still gets
// D's track, through the guard pion's answerer needs for that
// (internal/pionanswer), and B's "sub" has two m-sections, not three.
func TestTracksOnReusedSections(t *testing.T) {
	url, key, _ := node(t)
	b := dial(t, url, key, "p-b")
	tracks := make(chan *webrtc.TrackRemote, 8)
	b.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		tracks <- tr
		drainTrack(tr)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	next := func(want string) *webrtc.TrackRemote {
		t.Helper()
		select {
		case tr := <-tracks:
			if tr.ID() != want {
				t.Fatalf("got track %s, want %s", tr.ID(), want)
			}
			return tr
		case <-time.After(10 * time.Second):
			t.Fatalf("no track %s within 10 s", want)
			return nil
		}
	}
	publish := func(c *signalclient.Client, source, mime, cid string) signal.TrackInfo {
		t.Helper()
		tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: mime}, cid, "s")
		if err != nil {
			t.Fatal(err)
		}
		info, _, err := c.Publish(ctx, source, tr, nil)
		if err != nil {
			t.Fatal(err)
		}
		feed(t, tr)
		return info
	}

	a := dial(t, url, key, "p-a", grant.SourceMicrophone)
	next(publish(a, grant.SourceMicrophone, webrtc.MimeTypeOpus, "mic").ID)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	c := dial(t, url, key, "p-c", grant.SourceCamera)
	next(publish(c, grant.SourceCamera, webrtc.MimeTypeVP8, "cam").ID)
	d := dial(t, url, key, "p-d", grant.SourceMicrophone)
	next(publish(d, grant.SourceMicrophone, webrtc.MimeTypeOpus, "mic").ID)
	if n := len(b.SubscriberPC().GetTransceivers()); n != 2 {
		t.Fatalf("B's sub has %d m-sections, want 2", n)
	}
}

// drainTrack reads tr until it ends, on its own goroutine.
func drainTrack(tr *webrtc.TrackRemote) {
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
		}
	}()
}
