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
