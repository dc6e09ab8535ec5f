package forward

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// ErrCodecNotNegotiated is returned by Bind when the subscriber's peer
// connection does not support the publisher's codec.
var ErrCodecNotNegotiated = errors.New("forward: codec not negotiated")

// QueueSize is how many packets a down-track buffers before dropping; at
// 270 packets/s for a 720p layer it is about two seconds.
const QueueSize = 512

// DownTrackParams configure a DownTrack.
type DownTrackParams struct {
	// TrackID and StreamID form the msid the subscriber sees (the node's
	// track id and the publisher's participant id).
	TrackID, StreamID string
	Receiver          *Receiver
	// Codec is the publisher's codec; Bind picks the matching negotiated one.
	Codec   webrtc.RTPCodecCapability
	Metrics *Metrics
	// Held starts the down-track held (see SetHeld): the subscriber's
	// transport is not up yet.
	Held bool
}

type binding struct {
	writer webrtc.TrackLocalWriter
	ssrc   uint32
	pt     uint8
}

// DownTrack forwards one receiver to one subscriber. It is a
// webrtc.TrackLocal, and writes on its own goroutine so a slow subscriber
// delays nobody else.
type DownTrack struct {
	p     DownTrackParams
	m     *Metrics
	recv  *Receiver
	kind  Kind
	queue chan *Packet
	done  chan struct{}
	stop  sync.Once
	wg    sync.WaitGroup

	bind    atomic.Pointer[binding]
	current atomic.Int32 // layer being forwarded, -1 none
	target  atomic.Int32 // layer wanted, -1 none
	maxQ    atomic.Int32 // highest layer the subscriber asked for
	paused  atomic.Bool
	held    atomic.Bool // the subscriber's transport cannot carry packets
	resync  atomic.Bool // wait for a key frame before forwarding again

	padPending atomic.Int32  // padding requests queued, not yet handled
	padSent    atomic.Uint64 // padding packets written

	// Owned by the writer goroutine.
	rw     *Rewriter
	curGen uint32
	hdr    rtp.Header
	exts   []rtp.Extension
	vp8    bool // rewrite picture ids too (see VP8Rewriter)
	vp8rw  VP8Rewriter
	out    [MaxPacketSize]byte // a rewritten payload; the packet's is shared
	// frameEnd: the last packet written ended a frame (its marker bit),
	// so padding may follow without splitting one.
	frameEnd bool
}

// PaddingSize is the padding of each padding-only packet a down-track
// sends (QueuePadding): the most an RTP padding length byte can say.
const PaddingSize = 255

// paddingRequest stands in the writer's queue for one padding packet.
var paddingRequest = new(Packet)

// NewDownTrack returns a down-track and starts its writer. It receives
// nothing until added to its receiver.
func NewDownTrack(p DownTrackParams) *DownTrack {
	d := &DownTrack{
		p:     p,
		m:     p.Metrics.fill(),
		recv:  p.Receiver,
		kind:  p.Receiver.Kind(),
		queue: make(chan *Packet, QueueSize),
		done:  make(chan struct{}),
		rw:    NewRewriter(p.Codec.ClockRate),
		exts:  make([]rtp.Extension, 0, 4),
		vp8:   strings.EqualFold(p.Codec.MimeType, webrtc.MimeTypeVP8),
	}
	d.current.Store(-1)
	d.maxQ.Store(MaxLayers - 1)
	d.held.Store(p.Held)
	if d.kind == Audio {
		d.target.Store(0)
	} else {
		d.target.Store(-1)
	}
	d.wg.Add(1)
	go d.run()
	return d
}

// ID is the track id the subscriber sees.
func (d *DownTrack) ID() string { return d.p.TrackID }

// RID is empty: a subscriber gets one layer.
func (d *DownTrack) RID() string { return "" }

// StreamID groups the publisher's tracks.
func (d *DownTrack) StreamID() string { return d.p.StreamID }

// Kind is audio or video.
func (d *DownTrack) Kind() webrtc.RTPCodecType {
	if d.kind == Audio {
		return webrtc.RTPCodecTypeAudio
	}
	return webrtc.RTPCodecTypeVideo
}

// Bind picks the negotiated codec matching the publisher's and starts
// writing; it asks the publisher for a key frame so a late joiner sees
// video at once.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	var chosen *webrtc.RTPCodecParameters
	for _, c := range ctx.CodecParameters() {
		if !strings.EqualFold(c.MimeType, d.p.Codec.MimeType) {
			continue
		}
		c := c
		if chosen == nil || (strings.Contains(c.SDPFmtpLine, "packetization-mode=1") && !strings.Contains(chosen.SDPFmtpLine, "packetization-mode=1")) {
			chosen = &c
		}
	}
	if chosen == nil {
		return webrtc.RTPCodecParameters{}, ErrCodecNotNegotiated
	}
	d.bind.Store(&binding{writer: ctx.WriteStream(), ssrc: uint32(ctx.SSRC()), pt: uint8(chosen.PayloadType)})
	d.resync.Store(true)
	if t := d.target.Load(); t >= 0 && !d.held.Load() {
		d.recv.RequestKeyframe(int(t))
	}
	return *chosen, nil
}

// Unbind stops writing.
func (d *DownTrack) Unbind(webrtc.TrackLocalContext) error {
	d.bind.Store(nil)
	return nil
}

// SSRC is the outgoing SSRC once bound, else 0.
func (d *DownTrack) SSRC() uint32 {
	if b := d.bind.Load(); b != nil {
		return b.ssrc
	}
	return 0
}

// Receiver is the track this down-track forwards.
func (d *DownTrack) Receiver() *Receiver { return d.recv }

// SetPaused stops or resumes forwarding; a resumed video waits for a key
// frame, which it requests.
func (d *DownTrack) SetPaused(paused bool) {
	if d.paused.Swap(paused) == paused || paused {
		return
	}
	d.resync.Store(true)
	if t := d.target.Load(); t >= 0 {
		d.recv.RequestKeyframe(int(t))
	}
}

// SetHeld stops forwarding while the subscriber's transport cannot carry
// packets (before it is connected, while ICE is lost): what would be
// written then is lost, and a video would go on without the key frame it
// needs. Released, a video waits for a key frame, which it requests.
func (d *DownTrack) SetHeld(held bool) {
	if d.held.Swap(held) == held || held {
		return
	}
	d.resync.Store(true)
	if t := d.target.Load(); t >= 0 {
		d.recv.RequestKeyframe(int(t))
	}
}

// Paused reports whether the subscriber paused the track.
func (d *DownTrack) Paused() bool { return d.paused.Load() }

// SetMaxLayer caps the layer the subscriber gets (its requested quality).
func (d *DownTrack) SetMaxLayer(layer int) {
	d.maxQ.Store(int32(max(0, min(layer, MaxLayers-1))))
}

// MaxLayer is the subscriber's cap.
func (d *DownTrack) MaxLayer() int { return int(d.maxQ.Load()) }

// CurrentLayer is the layer being forwarded, -1 before the first key frame.
func (d *DownTrack) CurrentLayer() int { return int(d.current.Load()) }

// TargetLayer is the layer the down-track switches to at the next key frame.
func (d *DownTrack) TargetLayer() int { return int(d.target.Load()) }

// SetTargetLayer makes the down-track switch to layer at its next key frame
// (requesting one, unless held).
func (d *DownTrack) SetTargetLayer(layer int) {
	if d.kind != Video || layer < 0 || layer >= MaxLayers {
		return
	}
	if (d.target.Swap(int32(layer)) != int32(layer) || d.current.Load() != int32(layer)) && !d.held.Load() {
		d.recv.RequestKeyframe(layer)
	}
}

// SelectLayer picks the layer PickLayer would and targets it. It returns
// the chosen layer's rate.
func (d *DownTrack) SelectLayer(budget int64) int64 {
	if d.kind != Video {
		return d.recv.Bitrate()
	}
	layer, rate := d.PickLayer(budget)
	if layer >= 0 {
		d.SetTargetLayer(layer)
	}
	return rate
}

// PickLayer is the highest active layer up to the subscriber's cap whose
// measured rate fits budget (bits/s; <= 0 means no limit), falling back
// to the lowest active layer, and that layer's rate; -1 when no layer is
// active. It changes nothing (the allocation also asks it what a larger
// budget would buy, to probe for it).
func (d *DownTrack) PickLayer(budget int64) (layer int, rate int64) {
	if d.kind != Video {
		return 0, d.recv.Bitrate()
	}
	now := nanotime()
	chosen, lowest := -1, -1
	for l := 0; l <= int(d.maxQ.Load()); l++ {
		if !d.recv.layerActive(l, now) {
			continue
		}
		if lowest < 0 {
			lowest = l
		}
		if budget <= 0 || d.recv.layers[l].rate.Load() <= budget {
			chosen = l
		}
	}
	if chosen < 0 {
		chosen = lowest
	}
	if chosen < 0 {
		// Nothing at or under the cap is active: take the lowest active layer.
		for l := 0; l < MaxLayers; l++ {
			if d.recv.layerActive(l, now) {
				chosen = l
				break
			}
		}
	}
	if chosen < 0 {
		return -1, 0
	}
	return chosen, d.recv.layers[chosen].rate.Load()
}

// LayerRate is the last measured rate of one of the receiver's layers
// (bits/s), 0 for a layer out of range.
func (r *Receiver) LayerRate(layer int) int64 {
	if layer < 0 || layer >= MaxLayers {
		return 0
	}
	return r.layers[layer].rate.Load()
}

// Settled reports whether a video down-track forwards the layer it
// targets (no switch waiting for a key frame).
func (d *DownTrack) Settled() bool {
	c := d.current.Load()
	return c >= 0 && c == d.target.Load()
}

// RequestKeyframe forwards a subscriber's PLI or FIR to the publisher's
// current layer.
func (d *DownTrack) RequestKeyframe() {
	if l := d.current.Load(); l >= 0 {
		d.recv.RequestKeyframe(int(l))
	} else if t := d.target.Load(); t >= 0 {
		d.recv.RequestKeyframe(int(t))
	}
}

// wants runs on the receiver's reader: does this down-track take a packet
// of layer?
func (d *DownTrack) wants(layer int8) bool {
	if d.paused.Load() || d.held.Load() {
		return false
	}
	l := int32(layer)
	return l == d.current.Load() || l == d.target.Load()
}

// enqueue hands p to the writer without blocking; false when full.
func (d *DownTrack) enqueue(p *Packet) bool {
	select {
	case d.queue <- p:
		return true
	default:
		return false
	}
}

func (d *DownTrack) run() {
	defer d.wg.Done()
	for {
		select {
		case p := <-d.queue:
			if p == paddingRequest {
				d.pad()
				d.padPending.Add(-1)
				continue
			}
			d.forward(p)
			p.release()
		case <-d.done:
			for {
				select {
				case p := <-d.queue:
					if p != paddingRequest {
						p.release()
					}
				default:
					return
				}
			}
		}
	}
}

func (d *DownTrack) forward(p *Packet) {
	b := d.bind.Load()
	if b == nil || d.paused.Load() || d.held.Load() {
		return
	}
	layer := int32(p.Layer)
	cur := d.current.Load()
	inSync := d.rw.Started() && !d.resync.Load() && layer == cur && p.Gen == d.curGen
	if !inSync && layer == d.target.Load() {
		if d.kind == Video && !p.Keyframe {
			d.recv.RequestKeyframe(int(layer))
			return
		}
		d.rw.Switch(p.Header.SequenceNumber, p.Header.Timestamp, p.Arrival)
		d.frameEnd = false
		if d.vp8 {
			d.vp8rw.Switch(p.Payload)
		}
		d.resync.Store(false)
		d.curGen = p.Gen
		if cur != layer {
			d.current.Store(layer)
			if cur >= 0 {
				d.m.LayerSwitches.Add(1)
			}
		}
		inSync = true
	}
	if !inSync {
		return
	}
	if len(p.Payload) == 0 {
		d.rw.Skip(p.Header.SequenceNumber, p.Arrival)
		return
	}
	seq, ts, ok := d.rw.Rewrite(p.Header.SequenceNumber, p.Header.Timestamp, p.Arrival)
	if !ok {
		return
	}
	payload := p.Payload
	if d.vp8 {
		payload = d.vp8rw.Rewrite(d.out[:], payload)
	}
	d.hdr = rtp.Header{
		Version:        2,
		Marker:         p.Header.Marker,
		PayloadType:    b.pt,
		SequenceNumber: seq,
		Timestamp:      ts,
		SSRC:           b.ssrc,
		Extensions:     d.exts[:0],
	}
	n, err := b.writer.WriteRTP(&d.hdr, payload)
	if err != nil {
		d.m.Dropped.Add(1)
		return
	}
	if seq == d.rw.lastOutSeq { // the newest, not a late one
		d.frameEnd = p.Header.Marker
	}
	d.m.PacketsOut.Add(1)
	d.m.BytesOut.Add(float64(n))
}

// QueuePadding asks the writer for one padding-only packet on this video
// down-track's stream (a bandwidth probe): RTP padding of PaddingSize
// bytes, the next sequence number and the last frame's timestamp, between
// two frames. A receiver takes it as a packet with no payload: libwebrtc
// fills the sequence number in its packet buffer, pion's TrackRemote
// returns it with an empty payload. The writer sends it only where it
// cannot disturb decoding (see pad), else drops it. It reports false when
// it cannot be queued.
func (d *DownTrack) QueuePadding() bool {
	if d.kind != Video {
		return false
	}
	d.padPending.Add(1)
	if !d.enqueue(paddingRequest) {
		d.padPending.Add(-1)
		return false
	}
	return true
}

// PaddingPending is how many padding requests the writer has yet to
// handle.
func (d *DownTrack) PaddingPending() int { return int(d.padPending.Load()) }

// PaddingSent counts the padding packets written.
func (d *DownTrack) PaddingSent() uint64 { return d.padSent.Load() }

// pad writes a padding packet if it cannot disturb decoding: the stream
// is forwarding and in sync, its last packet ended a frame, and no packet
// of the current source is missing (a late one would find its sequence
// number taken).
func (d *DownTrack) pad() {
	b := d.bind.Load()
	if b == nil || d.paused.Load() || d.held.Load() || d.resync.Load() || !d.frameEnd || !d.rw.CanPad(nanotime()) {
		return
	}
	seq, ts := d.rw.Pad()
	d.hdr = rtp.Header{
		Version:        2,
		Padding:        true,
		PaddingSize:    PaddingSize,
		PayloadType:    b.pt,
		SequenceNumber: seq,
		Timestamp:      ts,
		SSRC:           b.ssrc,
		Extensions:     d.exts[:0],
	}
	if _, err := b.writer.WriteRTP(&d.hdr, nil); err != nil {
		return
	}
	d.padSent.Add(1)
}

// Close stops the writer and releases queued packets. The caller removes
// the down-track from its receiver first.
func (d *DownTrack) Close() {
	d.stop.Do(func() { close(d.done) })
	d.wg.Wait()
}
