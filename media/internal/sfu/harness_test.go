package sfu

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/signal"
	"github.com/hcw-home/hcw/media/internal/pionanswer"
	"github.com/hcw-home/hcw/media/signalclient"
)

const testNodeID = "media-1"

// testNode is an SFU behind a real HTTP server on loopback.
type testNode struct {
	sfu *SFU
	srv *httptest.Server
	key ed25519.PrivateKey
	url string
}

func testLogger() *slog.Logger {
	level := slog.LevelError
	if os.Getenv("SFU_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func newTestNode(t *testing.T, mutate func(*Params)) *testNode {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	p := Params{
		Logger:   testLogger(),
		NodeID:   testNodeID,
		Verifier: grant.NewVerifier(pub),
	}
	if mutate != nil {
		mutate(&p)
	}
	if p.UDPConn == nil {
		p.UDPConn, err = net.ListenPacket("udp4", "127.0.0.1:0")
		require.NoError(t, err)
	}
	s, err := New(p)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("GET /n/{node}/signal", s.SignalHandler())
	srv := httptest.NewServer(mux)
	n := &testNode{sfu: s, srv: srv, key: priv, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/n/" + testNodeID + "/signal"}
	t.Cleanup(n.close)
	return n
}

func (n *testNode) close() {
	n.sfu.Close()
	n.srv.Close()
}

type grantOpt func(*grant.Claims)

func (n *testNode) grant(t *testing.T, participant, room string, sources []string, opts ...grantOpt) string {
	t.Helper()
	c := grant.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: participant, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute))},
		Room:             room, Node: testNodeID, Name: "Name " + participant, Role: "patient", Sources: sources,
	}
	for _, o := range opts {
		o(&c)
	}
	tok, err := grant.Sign(n.key, c, time.Now())
	require.NoError(t, err)
	return tok
}

var allSources = []string{grant.SourceCamera, grant.SourceMicrophone}

// client is an in-process participant: a signalling socket and two pion
// peer connections, like a browser.
type client struct {
	t      *testing.T
	name   string
	conn   *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	wmu    sync.Mutex

	pub, sub *webrtc.PeerConnection
	subGuard *pionanswer.Guard // answers like a browser on reused m-sections

	mu       sync.Mutex
	msgs     []signal.Envelope
	closed   bool
	closeErr error
	pending  map[string][]webrtc.ICECandidateInit

	tracks   chan *webrtc.TrackRemote
	readDone chan struct{}
	pcs      sync.WaitGroup

	net          transport.Net // a vnet host; nil is loopback
	ignoreOffers bool          // leave the node's "sub" offers unanswered
}

// clientOption adjusts a client before its peer connections exist.
type clientOption func(*client)

// onNet puts the client's peer connections on a virtual network.
func onNet(n transport.Net) clientOption { return func(c *client) { c.net = n } }

// unanswering makes a client that never answers the node's offers.
func unanswering() clientOption { return func(c *client) { c.ignoreOffers = true } }

func dialRaw(ctx context.Context, url, token string) (*websocket.Conn, *http.Response, error) {
	protos := []string{grant.Subprotocol}
	if token != "" {
		protos = append(protos, grant.SubprotocolPrefix+token)
	}
	return websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: protos})
}

func newClient(t *testing.T, n *testNode, name, token string, opts ...clientOption) *client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	conn, resp, err := dialRaw(ctx, n.url, token)
	require.NoError(t, err)
	require.Equal(t, grant.Subprotocol, resp.Header.Get("Sec-WebSocket-Protocol"))
	c := &client{
		t: t, name: name, conn: conn, ctx: ctx, cancel: cancel,
		pending:  map[string][]webrtc.ICECandidateInit{},
		tracks:   make(chan *webrtc.TrackRemote, 16),
		readDone: make(chan struct{}),
	}
	for _, o := range opts {
		o(c)
	}
	c.pub = c.newPC(signal.TargetPub)
	c.sub = c.newPC(signal.TargetSub)
	c.subGuard = pionanswer.New(c.sub)
	c.sub.OnTrack(func(tr *webrtc.TrackRemote, rr *webrtc.RTPReceiver) {
		// Read the node's sender reports, as a browser does: the receiver
		// reports then echo them (the node's round trip measure).
		go func() {
			for {
				if _, _, err := rr.ReadRTCP(); err != nil {
					return
				}
			}
		}()
		c.tracks <- tr
	})
	go c.readLoop()
	t.Cleanup(c.close)
	return c
}

func (c *client) newPC(target string) *webrtc.PeerConnection {
	m := &webrtc.MediaEngine{}
	require.NoError(c.t, m.RegisterDefaultCodecs())
	require.NoError(c.t, m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: AudioLevelURI}, webrtc.RTPCodecTypeAudio))
	ir := &interceptor.Registry{}
	// Simulcast retransmissions carry the layer's rid as a repaired rid,
	// as a browser's do.
	ir.Add(&signalclient.RepairedRID{})
	// pion's NACK generator never sees a packet repaired over RTX (the
	// repair stream bypasses it), so it would NACK it again every 100 ms
	// until it leaves its window; a browser stops once the packet is back.
	// A few tries per packet is closer to that.
	require.NoError(c.t, webrtc.RegisterDefaultInterceptorsWithOptions(m, ir,
		webrtc.WithNackGeneratorOptions(nack.GeneratorMaxNacksPerPacket(3))))
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if c.net != nil {
		se.SetNet(c.net)
	} else {
		se.SetIncludeLoopbackCandidate(true)
		se.SetInterfaceFilter(func(name string) bool { return strings.HasPrefix(name, "lo") })
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	require.NoError(c.t, err)
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		init := cand.ToJSON()
		c.send(signal.TypeTrickle, signal.Trickle{Target: target, Candidate: &init})
	})
	return pc
}

func (c *client) send(typ string, data any) {
	b, err := signal.Encode(typ, "", data)
	require.NoError(c.t, err)
	c.sendRaw(b)
}

func (c *client) sendRaw(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	_ = c.conn.Write(ctx, websocket.MessageText, b)
}

func (c *client) readLoop() {
	defer close(c.readDone)
	for {
		_, b, err := c.conn.Read(c.ctx)
		if err != nil {
			c.mu.Lock()
			c.closed, c.closeErr = true, err
			c.mu.Unlock()
			return
		}
		env, err := signal.Decode(b)
		if err != nil {
			continue
		}
		switch env.Type {
		case signal.TypeOffer:
			var m signal.SDP
			_ = json.Unmarshal(env.Data, &m)
			if !c.ignoreOffers {
				c.onSubOffer(m.SDP)
			}
		case signal.TypeAnswer:
			var m signal.SDP
			_ = json.Unmarshal(env.Data, &m)
			if err := c.pub.SetRemoteDescription(m.SDP); err != nil {
				c.t.Errorf("%s: pub answer: %v", c.name, err)
			}
			c.flush(signal.TargetPub)
		case signal.TypeTrickle:
			var m signal.Trickle
			_ = json.Unmarshal(env.Data, &m)
			if m.Candidate != nil {
				c.addCandidate(m.Target, *m.Candidate)
			}
		}
		c.mu.Lock()
		c.msgs = append(c.msgs, env)
		c.mu.Unlock()
	}
}

func (c *client) pc(target string) *webrtc.PeerConnection {
	if target == signal.TargetPub {
		return c.pub
	}
	return c.sub
}

func (c *client) addCandidate(target string, cand webrtc.ICECandidateInit) {
	pc := c.pc(target)
	if pc.RemoteDescription() == nil {
		c.mu.Lock()
		c.pending[target] = append(c.pending[target], cand)
		c.mu.Unlock()
		return
	}
	_ = pc.AddICECandidate(cand)
}

func (c *client) flush(target string) {
	c.mu.Lock()
	cands := c.pending[target]
	delete(c.pending, target)
	c.mu.Unlock()
	for _, cand := range cands {
		_ = c.pc(target).AddICECandidate(cand)
	}
}

func (c *client) onSubOffer(offer webrtc.SessionDescription) {
	offer, err := c.subGuard.Offer(offer)
	if err == nil {
		err = c.sub.SetRemoteDescription(offer)
	}
	if err != nil {
		c.t.Errorf("%s: sub offer: %v", c.name, err)
		return
	}
	c.flush(signal.TargetSub)
	answer, err := c.sub.CreateAnswer(nil)
	if err == nil {
		err = c.sub.SetLocalDescription(answer)
	}
	if err == nil {
		answer, err = c.subGuard.Answer(answer)
	}
	if err != nil {
		c.t.Errorf("%s: sub answer: %v", c.name, err)
		return
	}
	c.send(signal.TypeAnswer, signal.SDP{Target: signal.TargetSub, SDP: answer})
}

// waitFor returns the first message of typ (after skipping none) matching
// pred, polling until the deadline.
func (c *client) waitFor(typ string, pred func(signal.Envelope) bool) signal.Envelope {
	c.t.Helper()
	var found signal.Envelope
	require.Eventually(c.t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, e := range c.msgs {
			if e.Type == typ && (pred == nil || pred(e)) {
				found = e
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "%s: no %s message", c.name, typ)
	return found
}

func (c *client) has(typ string, pred func(signal.Envelope) bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.msgs {
		if e.Type == typ && (pred == nil || pred(e)) {
			return true
		}
	}
	return false
}

// all returns the messages of typ received so far, in order.
func (c *client) all(typ string) []signal.Envelope {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []signal.Envelope
	for _, e := range c.msgs {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func dataAs[T any](t *testing.T, e signal.Envelope) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(e.Data, &v))
	return v
}

func (c *client) join(room string) signal.Joined {
	c.t.Helper()
	c.send(signal.TypeJoin, signal.Join{Room: room})
	return dataAs[signal.Joined](c.t, c.waitFor(signal.TypeJoined, nil))
}

// publish announces a track and waits for the node's ack.
func (c *client) publish(cid, kind, source string, layers ...signal.Layer) signal.TrackInfo {
	c.t.Helper()
	c.send(signal.TypePublish, signal.Publish{CID: cid, Kind: kind, Source: source, Layers: layers})
	e := c.waitFor(signal.TypePublished, func(e signal.Envelope) bool {
		return dataAs[signal.Published](c.t, e).CID == cid
	})
	return dataAs[signal.Published](c.t, e).Track
}

func (c *client) offerPub() {
	c.t.Helper()
	offer, err := c.pub.CreateOffer(nil)
	require.NoError(c.t, err)
	require.NoError(c.t, c.pub.SetLocalDescription(offer))
	c.send(signal.TypeOffer, signal.SDP{Target: signal.TargetPub, SDP: offer})
}

// negotiatePub offers pub and waits until the node's answer is applied.
func (c *client) negotiatePub() {
	c.t.Helper()
	answered := len(c.all(signal.TypeAnswer))
	c.offerPub()
	require.Eventually(c.t, func() bool {
		return len(c.all(signal.TypeAnswer)) > answered && c.pub.SignalingState() == webrtc.SignalingStateStable
	}, 10*time.Second, 10*time.Millisecond, "%s: pub offer not answered", c.name)
}

func (c *client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *client) close() {
	c.cancel()
	c.conn.CloseNow()
	<-c.readDone
	_ = c.pub.GracefulClose()
	_ = c.sub.GracefulClose()
	c.pcs.Wait()
}

// drop cuts the socket without leave (a network failure).
func (c *client) drop() {
	c.conn.CloseNow()
	<-c.readDone
}

// nextTrack waits for a track on the client's "sub" connection.
func (c *client) nextTrack(timeout time.Duration) *webrtc.TrackRemote {
	c.t.Helper()
	select {
	case tr := <-c.tracks:
		return tr
	case <-time.After(timeout):
		c.t.Fatalf("%s: no remote track within %v", c.name, timeout)
		return nil
	}
}

// vp8Publisher sends synthetic VP8 on one or three RIDs: each packet's
// payload carries the layer (byte 2) and a key frame flag; key frames go
// out at start and whenever the node sends a PLI for that layer. A frame
// leaves every 20 ms per layer, by default one 5-byte packet; shape makes
// a layer's frames bigger (for bandwidth tests), each packet then carrying
// its index in the layer's stream (bytes 5-8, big endian). withPictureIDs
// inserts a payload descriptor extension after byte 0 (see vp8Body).
type vp8Publisher struct {
	c       *client
	tracks  []*webrtc.TrackLocalStaticRTP
	sender  *webrtc.RTPSender
	keyReq  [3]atomic.Bool
	plis    [3]atomic.Int32
	sent    [3]atomic.Uint32 // packets written per layer
	frames  [3]frameShape
	stop    chan struct{}
	done    sync.WaitGroup
	midExt  uint8
	ridExt  uint8
	simul   bool
	started atomic.Bool
	// pictures: each layer numbers its own pictures, as a browser's
	// simulcast encoders do (see withPictureIDs).
	pictures bool
}

// Where each layer's numbering starts with withPictureIDs: the low layer
// wraps its 15-bit picture id within a second, the others are far apart.
var (
	pictureIDBase = [3]uint16{32740, 5000, 20000}
	tl0Base       = [3]uint8{250, 10, 100}
	keyIdxBase    = [3]uint8{30, 3, 17}
)

// withPictureIDs makes every packet carry an RFC 7741 descriptor extension
// (X set) with a 15-bit picture id, a TL0PICIDX and a KEYIDX (TID 0): one
// picture per frame, every picture a base layer one, KEYIDX advancing at
// each key frame. Call it before run.
func (p *vp8Publisher) withPictureIDs() *vp8Publisher {
	p.pictures = true
	return p
}

type frameShape struct{ packets, size int }

var rids = []string{"q", "h", "f"}

func (c *client) addVP8(cid string, simulcast bool) *vp8Publisher {
	c.t.Helper()
	p := c.newVP8(cid, simulcast)
	sender, err := c.pub.AddTrack(p.tracks[0])
	require.NoError(c.t, err)
	for _, tr := range p.tracks[1:] {
		require.NoError(c.t, sender.AddEncoding(tr))
	}
	p.sender = sender
	return p
}

// addScreen adds a screen share as a browser does: a new sendonly
// transceiver with one encoding (never one an earlier share left).
func (c *client) addScreen(cid string) *vp8Publisher {
	c.t.Helper()
	p := c.newVP8(cid, false)
	tr, err := c.pub.AddTransceiverFromTrack(p.tracks[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	require.NoError(c.t, err)
	p.sender = tr.Sender()
	return p
}

// stopScreen stops a share as a browser does: unpublish, its transceiver
// inactive (pion's RemoveTrack turns a sendonly one inactive), a new pub
// offer. It returns once the answer is applied and the publisher's
// goroutines are done.
func (c *client) stopScreen(p *vp8Publisher, trackID string) {
	c.t.Helper()
	p.close()
	c.send(signal.TypeUnpublish, signal.Unpublish{TrackID: trackID})
	require.NoError(c.t, c.pub.RemoveTrack(p.sender))
	c.negotiatePub()
	p.done.Wait()
}

// newVP8 builds a publisher's tracks, not on the connection yet.
func (c *client) newVP8(cid string, simulcast bool) *vp8Publisher {
	c.t.Helper()
	p := &vp8Publisher{c: c, stop: make(chan struct{}), simul: simulcast}
	for i := range p.frames {
		p.frames[i] = frameShape{packets: 1, size: 5}
	}
	if simulcast {
		for _, rid := range rids {
			tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, cid, "stream-"+c.name, webrtc.WithRTPStreamID(rid))
			require.NoError(c.t, err)
			p.tracks = append(p.tracks, tr)
		}
	} else {
		tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, cid, "stream-"+c.name)
		require.NoError(c.t, err)
		p.tracks = append(p.tracks, tr)
	}
	for i := range p.keyReq {
		p.keyReq[i].Store(true)
	}
	return p
}

// shape sets a layer's frames to packets packets of size bytes (size >= 9);
// call it before run.
func (p *vp8Publisher) shape(layer, packets, size int) {
	p.frames[layer] = frameShape{packets: packets, size: max(size, 9)}
}

// run starts sending (after the pub negotiation, when the ids are known).
func (p *vp8Publisher) run() {
	for _, e := range p.sender.GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			p.midExt = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			p.ridExt = uint8(e.ID)
		}
	}
	mid := ""
	for _, tr := range p.c.pub.GetTransceivers() {
		if tr.Sender() == p.sender {
			mid = tr.Mid()
		}
	}
	for i := range p.tracks {
		rid := ""
		if p.simul {
			rid = rids[i]
		}
		p.done.Add(1)
		go func() {
			defer p.done.Done()
			for {
				var pkts []rtcp.Packet
				var err error
				if rid == "" {
					pkts, _, err = p.sender.ReadRTCP()
				} else {
					pkts, _, err = p.sender.ReadSimulcastRTCP(rid)
				}
				if err != nil {
					return
				}
				for _, pkt := range pkts {
					if _, ok := pkt.(*rtcp.PictureLossIndication); ok {
						p.keyReq[i].Store(true)
						p.plis[i].Add(1)
					}
				}
			}
		}()
	}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var seqs [3]uint16
		for i := range seqs {
			seqs[i] = 1000 + uint16(i)*10000
		}
		pics, tl0s, keyIdxs := pictureIDBase, tl0Base, keyIdxBase
		ts := uint32(0)
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			ts += 1800
			for i, tr := range p.tracks {
				key := p.keyReq[i].Swap(false)
				shape := p.frames[i]
				if key {
					keyIdxs[i] = (keyIdxs[i] + 1) & 0x1f
				}
				for k := range shape.packets {
					seqs[i]++
					payload := make([]byte, shape.size)
					copy(payload, []byte{0x10, 0x01, byte(i), 0xAA, 0xBB})
					if k > 0 {
						payload[0] = 0x00 // not the start of the frame
					} else if key {
						payload[1] = 0x00
					}
					n := p.sent[i].Add(1) - 1
					if shape.size >= 9 {
						binary.BigEndian.PutUint32(payload[5:], n)
					}
					if p.pictures {
						ext := []byte{payload[0] | 0x80, 0xf0, 0x80 | byte(pics[i]>>8), byte(pics[i]), tl0s[i], keyIdxs[i]}
						payload = append(ext, payload[1:]...)
					}
					pkt := &rtp.Packet{
						Header: rtp.Header{
							Version: 2, PayloadType: 96, SequenceNumber: seqs[i], Timestamp: ts + uint32(i)*1000000,
							Marker: k == shape.packets-1,
						},
						Payload: payload,
					}
					if p.simul && p.midExt != 0 {
						_ = pkt.Header.SetExtension(p.midExt, []byte(mid))
						_ = pkt.Header.SetExtension(p.ridExt, []byte(rids[i]))
					}
					_ = tr.WriteRTP(pkt)
				}
				pics[i] = (pics[i] + 1) & 0x7fff
				tl0s[i]++
			}
		}
	}()
}

func (p *vp8Publisher) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
}

// opusPublisher sends synthetic Opus with the RFC 6464 level loud.
type opusPublisher struct {
	track *webrtc.TrackLocalStaticRTP
	stop  chan struct{}
	done  sync.WaitGroup
}

func (c *client) addOpus(cid string) *opusPublisher {
	c.t.Helper()
	tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, cid, "stream-"+c.name)
	require.NoError(c.t, err)
	sender, err := c.pub.AddTrack(tr)
	require.NoError(c.t, err)
	o := &opusPublisher{track: tr, stop: make(chan struct{})}
	o.done.Add(1)
	go func() { // drain RTCP
		defer o.done.Done()
		for {
			if _, _, err := sender.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	o.done.Add(1)
	go func() {
		defer o.done.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		seq, ts := uint16(0), uint32(0)
		var levelExt uint8
		for {
			select {
			case <-o.stop:
				return
			case <-tick.C:
			}
			if levelExt == 0 {
				for _, e := range sender.GetParameters().HeaderExtensions {
					if e.URI == AudioLevelURI {
						levelExt = uint8(e.ID)
					}
				}
			}
			seq++
			ts += 960
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: ts}, Payload: []byte{0xf8, 0xff, 0xfe}}
			if levelExt != 0 {
				_ = pkt.Header.SetExtension(levelExt, []byte{0x80 | 10}) // voice, -10 dBov
			}
			_ = tr.WriteRTP(pkt)
		}
	}()
	return o
}

func (o *opusPublisher) close() {
	select {
	case <-o.stop:
	default:
		close(o.stop)
	}
}

// readPackets reads a remote track into a channel until it ends.
func readPackets(tr *webrtc.TrackRemote) <-chan *rtp.Packet {
	ch := make(chan *rtp.Packet, 1024)
	go func() {
		defer close(ch)
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			select {
			case ch <- p:
			default:
			}
		}
	}()
	return ch
}

func generateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand.Reader)
}
