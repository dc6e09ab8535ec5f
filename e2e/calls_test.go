package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/media/signalclient"
)

// callConsultation makes an active consultation: a queue, a doctor in it, a
// link invite redeemed by a patient, accepted by the doctor.
func callConsultation(t *testing.T) (doctor, patient *http.Cookie, cid string) {
	t.Helper()
	admin := adminSession(t)
	var queue struct{ ID string }
	status, body, _ := apiCall(t, admin, "admin.localhost", "POST", "/api/v1/admin/queues", map[string]any{"name": fmt.Sprintf("Calls %d", time.Now().UnixNano())})
	mustJSON(t, status, body, 201, &queue)
	email := fmt.Sprintf("dr.call%d@clinic.example", time.Now().UnixNano())
	var created struct {
		User     struct{ ID string } `json:"user"`
		SetupURL string              `json:"setup_url"`
	}
	status, body, _ = apiCall(t, admin, "admin.localhost", "POST", "/api/v1/admin/users", map[string]any{
		"email": email, "first_name": "Callum", "last_name": "Caller", "role": "doctor"})
	mustJSON(t, status, body, 201, &created)
	status, body, _ = apiCall(t, admin, "admin.localhost", "PUT", "/api/v1/admin/queues/"+queue.ID+"/members", map[string]any{"user_ids": []string{created.User.ID}})
	if status != 200 && status != 204 {
		t.Fatalf("set members: %d %s", status, body)
	}
	doctor = staffSignIn(t, "doctor.localhost", email, setupLink.FindStringSubmatch(created.SetupURL)[1])
	var issued struct {
		Invite struct {
			ConsultationID string `json:"consultation_id"`
		} `json:"invite"`
		Link string `json:"link"`
	}
	status, body, _ = apiCall(t, doctor, "doctor.localhost", "POST", "/api/v1/invites", map[string]any{
		"first_name": "Paula", "last_name": "Patient", "email": fmt.Sprintf("paula%d@example.net", time.Now().UnixNano()), "language": "en", "queue_id": queue.ID, "delivery": "link"})
	mustJSON(t, status, body, 201, &issued)
	m := inviteLink.FindStringSubmatch(issued.Link)
	if m == nil {
		t.Fatalf("no link in %s", body)
	}
	status, body, h := apiCall(t, nil, "patient.localhost", "POST", "/api/v1/invites/redeem", map[string]string{"token": m[1]})
	mustJSON(t, status, body, 200, nil)
	patient = sessionCookie(t, h)
	cid = issued.Invite.ConsultationID
	status, body, _ = apiCall(t, doctor, "doctor.localhost", "POST", "/api/v1/consultations/"+cid+"/accept", nil)
	mustJSON(t, status, body, 200, nil)
	return doctor, patient, cid
}

// joinInfo is the backend's answer to a join.
type joinInfo struct {
	Room       string             `json:"room"`
	Node       string             `json:"node"`
	SignalURL  string             `json:"signal_url"`
	Grant      string             `json:"grant"`
	ICEServers []webrtc.ICEServer `json:"ice_servers"`
}

// Staff and participants share the call routes; the session says who.
const (
	doctorCall  = "/api/v1/consultations/%s/call"
	patientCall = doctorCall
)

func joinCall(t *testing.T, cookie *http.Cookie, host, prefix, cid string) joinInfo {
	t.Helper()
	var j joinInfo
	status, body, _ := apiCall(t, cookie, host, "POST", fmt.Sprintf(prefix, cid)+"/join", nil)
	mustJSON(t, status, body, 200, &j)
	if j.Room != cid || j.Grant == "" || !strings.HasPrefix(j.SignalURL, "wss://media.localhost/n/"+j.Node+"/signal") {
		t.Fatalf("join answer: %s", body)
	}
	return j
}

// callPeer is a pion participant: it publishes synthetic Opus and VP8 and
// counts what it receives per kind.
type callPeer struct {
	c            *signalclient.Client
	audio, video atomic.Int64
	stop         chan struct{}
}

// dialCall joins through the edge. relay forces TURN: "udp" through the
// TURN port, "tls" through the edge's 443 (TURN over TLS by SNI).
func dialCall(t *testing.T, j joinInfo, relay string) *callPeer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := url.Parse(j.SignalURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = "media.localhost:" + stack.httpsPort(t)
	hc := &http.Client{Transport: &http.Transport{
		DialContext:     stack.dialer(t, "443/tcp"),
		TLSClientConfig: &tls.Config{RootCAs: stack.caPool, MinVersion: tls.VersionTLS12},
	}}
	var servers []webrtc.ICEServer
	settings := []func(*webrtc.SettingEngine){}
	switch relay {
	case "udp":
		// turn.localhost does not resolve here: the published TURN port.
		for _, s := range j.ICEServers {
			for _, su := range s.URLs {
				if strings.HasPrefix(su, "turn:") && strings.Contains(su, "transport=udp") {
					servers = append(servers, webrtc.ICEServer{URLs: []string{"turn:" + stack.hostPort(t, "turn", "3478/udp") + "?transport=udp"}, Username: s.Username, Credential: s.Credential})
				}
			}
		}
	case "tls":
		// pion hands a turns: TCP connection to the proxy dialer as is, so
		// the dialer does the TLS: SNI turn.localhost to the edge's 443,
		// verified against the edge's CA, exactly what a browser does.
		for _, s := range j.ICEServers {
			for _, su := range s.URLs {
				if strings.HasPrefix(su, "turns:") {
					servers = append(servers, webrtc.ICEServer{URLs: []string{su}, Username: s.Username, Credential: s.Credential})
				}
			}
		}
		dial := stack.dialer(t, "443/tcp")
		settings = append(settings, func(se *webrtc.SettingEngine) {
			se.SetICEProxyDialer(tlsDialer{dial: dial, cfg: &tls.Config{RootCAs: stack.caPool, ServerName: "turn.localhost", MinVersion: tls.VersionTLS12}})
		})
	default:
		servers = nil
	}
	if relay != "" && len(servers) == 0 {
		t.Fatalf("no %s TURN server in %+v", relay, j.ICEServers)
	}
	api, err := signalclient.DefaultAPI(settings...)
	if err != nil {
		t.Fatal(err)
	}
	c, err := signalclient.Dial(ctx, signalclient.Options{
		URL: u.String(), Grant: j.Grant, Room: j.Room, HTTPClient: hc, API: api,
		ICEServers: servers, RelayOnly: relay != "",
	})
	if err != nil {
		t.Fatalf("signal dial: %v", err)
	}
	p := &callPeer{c: c, stop: make(chan struct{})}
	c.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		n := &p.audio
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			n = &p.video
		}
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
			n.Add(1)
		}
	})
	audio, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic-"+j.Node, "s")
	if err != nil {
		t.Fatal(err)
	}
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "cam-"+j.Node, "s")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Publish(ctx, grant.SourceMicrophone, audio, nil); err != nil {
		t.Fatalf("publish audio: %v", err)
	}
	if _, _, err := c.Publish(ctx, grant.SourceCamera, video, nil); err != nil {
		t.Fatalf("publish video: %v", err)
	}
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		opus := make([]byte, 60)
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-c.Done():
				return
			case <-tick.C:
			}
			_ = audio.WriteSample(media.Sample{Data: opus, Duration: 20 * time.Millisecond})
			if i%2 == 0 {
				frame := make([]byte, 800)
				if i%60 != 0 {
					frame[0] = 0x01 // VP8 frame tag: an interframe (bit 0 set)
				}
				_ = video.WriteSample(media.Sample{Data: frame, Duration: 40 * time.Millisecond})
			}
		}
	}()
	t.Cleanup(func() { close(p.stop); c.Close() })
	return p
}

type tlsDialer struct {
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	cfg  *tls.Config
}

func (d tlsDialer) Dial(network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := d.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := tls.Client(raw, d.cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

func (p *callPeer) waitMedia(t *testing.T, who string) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		if a, v := p.audio.Load(), p.video.Load(); a < 50 || v < 20 {
			return fmt.Errorf("%s received %d audio and %d video packets", who, a, v)
		}
		return nil
	})
}

func startCall(t *testing.T, doctor, patient *http.Cookie, cid, kind string) {
	t.Helper()
	status, body, _ := apiCall(t, doctor, "doctor.localhost", "POST", fmt.Sprintf(doctorCall, cid), map[string]string{"kind": kind})
	if status != 200 && status != 201 {
		t.Fatalf("start call: %d %s", status, body)
	}
	status, body, _ = apiCall(t, patient, "patient.localhost", "POST", fmt.Sprintf(patientCall, cid)+"/accept", nil)
	if status != 200 && status != 204 {
		t.Fatalf("accept call: %d %s", status, body)
	}
}

// TestCallThroughEdge: a doctor and a patient of one consultation get
// grants from the backend's join API, signal through the edge to the node
// the backend chose, and receive each other's audio and video. Closing the
// consultation disconnects both within 5 s.
func TestCallThroughEdge(t *testing.T) {
	doctor, patient, cid := callConsultation(t)
	startCall(t, doctor, patient, cid, "video")
	dj := joinCall(t, doctor, "doctor.localhost", doctorCall, cid)
	pj := joinCall(t, patient, "patient.localhost", patientCall, cid)
	if dj.Node != pj.Node {
		t.Fatalf("one call on two nodes: %s and %s", dj.Node, pj.Node)
	}
	d := dialCall(t, dj, "")
	p := dialCall(t, pj, "")
	d.waitMedia(t, "doctor")
	p.waitMedia(t, "patient")

	status, body, _ := apiCall(t, doctor, "doctor.localhost", "POST", "/api/v1/consultations/"+cid+"/close", nil)
	if status != 200 && status != 204 {
		t.Fatalf("close: %d %s", status, body)
	}
	for who, c := range map[string]*signalclient.Client{"doctor": d.c, "patient": p.c} {
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("the %s was still in the call 5 s after the close", who)
		}
	}
}

// TestCallRelayOnly: with relay-only ICE, media still flows, through our
// TURN over UDP, and over TLS on the edge's 443.
func TestCallRelayOnly(t *testing.T) {
	for _, relay := range []string{"udp", "tls"} {
		t.Run(relay, func(t *testing.T) {
			doctor, patient, cid := callConsultation(t)
			startCall(t, doctor, patient, cid, "video")
			d := dialCall(t, joinCall(t, doctor, "doctor.localhost", doctorCall, cid), "")
			p := dialCall(t, joinCall(t, patient, "patient.localhost", patientCall, cid), relay)
			p.waitMedia(t, "patient")
			d.waitMedia(t, "doctor")
			pair, err := selectedPair(p.c.SubscriberPC())
			if err != nil {
				t.Fatal(err)
			}
			if pair != "relay" {
				t.Fatalf("the relay-only patient's local candidate is %s", pair)
			}
		})
	}
}

// selectedPair returns the type of the local candidate of the nominated
// pair.
func selectedPair(pc *webrtc.PeerConnection) (string, error) {
	stats := pc.GetStats()
	for _, s := range stats {
		cp, ok := s.(webrtc.ICECandidatePairStats)
		if !ok || !cp.Nominated {
			continue
		}
		if lc, ok := stats[cp.LocalCandidateID].(webrtc.ICECandidateStats); ok {
			return string(lc.CandidateType.String()), nil
		}
	}
	b, _ := json.Marshal(stats)
	return "", fmt.Errorf("no nominated pair in %s", b)
}

// TestCallsSpreadOverNodes: with the second node of compose/media2.yml, a
// second consultation's call goes to the node the first is not on (the
// least loaded one).
func TestCallsSpreadOverNodes(t *testing.T) {
	admin := adminSession(t)
	doctor, patient, cid := callConsultation(t)
	startCall(t, doctor, patient, cid, "video")
	first := joinCall(t, doctor, "doctor.localhost", doctorCall, cid)
	dialCall(t, first, "")
	dialCall(t, joinCall(t, patient, "patient.localhost", patientCall, cid), "")
	// The node reports its load with its next heartbeat.
	eventually(t, 15*time.Second, func() error {
		status, body, _ := apiCall(t, admin, "admin.localhost", "GET", "/api/v1/admin/media-nodes", nil)
		if status != 200 {
			return fmt.Errorf("media nodes: %d %s", status, body)
		}
		var nodes struct {
			Nodes []struct {
				ID      string `json:"id"`
				Healthy bool   `json:"healthy"`
				Load    struct {
					Participants int `json:"participants"`
				} `json:"load"`
			} `json:"nodes"`
		}
		if err := json.Unmarshal(body, &nodes); err != nil {
			return err
		}
		healthy := 0
		for _, n := range nodes.Nodes {
			if n.Healthy {
				healthy++
			}
			if n.ID == first.Node && n.Load.Participants < 2 {
				return fmt.Errorf("%s reports %d participants", n.ID, n.Load.Participants)
			}
			// Calls of earlier tests have ended; their node's heartbeat
			// says so within 2 s.
			if n.ID != first.Node && n.Load.Participants != 0 {
				return fmt.Errorf("%s still reports %d participants", n.ID, n.Load.Participants)
			}
		}
		if healthy != 2 {
			return fmt.Errorf("%d healthy nodes: %s", healthy, body)
		}
		return nil
	})
	doctor2, patient2, cid2 := callConsultation(t)
	startCall(t, doctor2, patient2, cid2, "audio")
	second := joinCall(t, doctor2, "doctor.localhost", doctorCall, cid2)
	if second.Node == first.Node {
		t.Fatalf("both calls on %s", first.Node)
	}
}

// TestMediaHostRefusals: the edge refuses signalling without a valid grant
// before any node sees it, routes only /n/<node>/ paths, and never exposes
// a node's control API or the backend's internal node API.
func TestMediaHostRefusals(t *testing.T) {
	doctor, patient, cid := callConsultation(t)
	startCall(t, doctor, patient, cid, "video")
	j := joinCall(t, patient, "patient.localhost", patientCall, cid)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{
		DialContext:     stack.dialer(t, "443/tcp"),
		TLSClientConfig: &tls.Config{RootCAs: stack.caPool, MinVersion: tls.VersionTLS12},
	}}
	base := "wss://media.localhost:" + stack.httpsPort(t)
	for _, tc := range []struct {
		name, path, grant string
		status            int
	}{
		{"no grant", "/n/" + j.Node + "/signal", "", 401},
		{"forged grant", "/n/" + j.Node + "/signal", j.Grant[:len(j.Grant)-4] + "AAAA", 401},
		{"grant for another node", "/n/media-9/signal", j.Grant, 403},
	} {
		_, err := signalclient.Dial(ctx, signalclient.Options{URL: base + tc.path, Grant: tc.grant, Room: cid, HTTPClient: hc})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d", tc.status)) {
			t.Errorf("%s: %v, want HTTP %d", tc.name, err, tc.status)
		}
	}
	for _, path := range []string{"/", "/control/v1/rooms", "/internal/v1/media/nodes", "/n/" + j.Node + "/control/v1/rooms"} {
		resp, err := stack.client(t).Get(stack.url(t, "media.localhost", path))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("GET media.localhost%s: %d", path, resp.StatusCode)
		}
	}
	for _, host := range []string{"doctor.localhost", "patient.localhost", "admin.localhost"} {
		resp, err := stack.client(t).Get(stack.url(t, host, "/internal/v1/media/nodes"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// The SPA answers unknown paths with its page; never the registry.
		if ct := resp.Header.Get("Content-Type"); strings.Contains(ct, "json") {
			t.Errorf("%s/internal/v1/media/nodes answered %d %s", host, resp.StatusCode, ct)
		}
	}
	// The grant itself still works (the refusals above were not the node's).
	c := dialCall(t, j, "")
	if len(c.c.Joined().Self.ID) == 0 {
		t.Fatal("joined without an identity")
	}
}
