package forward

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// Source is where a layer's RTP comes from (a *webrtc.TrackRemote).
type Source interface {
	Read(b []byte) (int, interceptor.Attributes, error)
}

// KeyframeInterval is the shortest time between two key frame requests for
// one layer (mediasoup's and LiveKit's throttle).
const KeyframeInterval = time.Second

// ReceiverParams configure a Receiver.
type ReceiverParams struct {
	Kind Kind
	// Codec is what the publisher sends; its MIME type selects the key
	// frame detector (video/VP8, video/H264).
	Codec webrtc.RTPCodecCapability
	// AudioLevelExtID is the negotiated id of the RFC 6464 header
	// extension, 0 when absent.
	AudioLevelExtID uint8
	// RequestKeyframe sends a PLI to the publisher for the layer with ssrc.
	RequestKeyframe func(ssrc uint32)
	Metrics         *Metrics
}

type layerState struct {
	gen        atomic.Uint32
	ssrc       atomic.Uint32
	started    atomic.Bool
	bytes      atomic.Uint64 // since the last SampleRates
	rate       atomic.Int64  // bits/s at the last SampleRates
	lastPacket atomic.Int64  // nanotime
	lastPLI    atomic.Int64  // nanotime
}

// Receiver is one published track as the packet plane sees it: up to three
// layers read by one goroutine each, fanned out to down-tracks.
type Receiver struct {
	p        ReceiverParams
	m        *Metrics
	keyframe func([]byte) bool
	layers   [MaxLayers]layerState

	mu    sync.Mutex // serialises changes to downs
	downs atomic.Pointer[[]*DownTrack]

	lvlPackets atomic.Uint32
	lvlVoiced  atomic.Uint32
	lvlSum     atomic.Uint64 // sum of voiced amplitudes, 1e6 = 0 dBov

	closed  atomic.Bool
	wg      sync.WaitGroup
	readers atomic.Int32 // layers' readers running
}

// NewReceiver returns a receiver with no layer started.
func NewReceiver(p ReceiverParams) *Receiver {
	r := &Receiver{p: p, m: p.Metrics.fill()}
	switch {
	case strings.EqualFold(p.Codec.MimeType, webrtc.MimeTypeVP8):
		r.keyframe = VP8Keyframe
	case strings.EqualFold(p.Codec.MimeType, webrtc.MimeTypeH264):
		r.keyframe = H264Keyframe
	default:
		r.keyframe = func([]byte) bool { return false }
	}
	return r
}

// Kind is the receiver's media kind.
func (r *Receiver) Kind() Kind { return r.p.Kind }

// Codec is the codec the publisher sends.
func (r *Receiver) Codec() webrtc.RTPCodecCapability { return r.p.Codec }

// Start reads layer from src on a new goroutine until src fails or the
// receiver closes. Starting a layer again (the publisher reconnected)
// replaces its source: the old reader stops and down-tracks resynchronise.
func (r *Receiver) Start(layer int, ssrc uint32, src Source) {
	if layer < 0 || layer >= MaxLayers {
		return
	}
	// Under mu so that a Start racing with Close either is refused or is
	// counted before Wait.
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return
	}
	l := &r.layers[layer]
	gen := l.gen.Add(1)
	l.ssrc.Store(ssrc)
	l.started.Store(true)
	l.lastPacket.Store(nanotime())
	r.wg.Add(1)
	r.readers.Add(1)
	go r.read(layer, gen, src)
}

func (r *Receiver) read(layer int, gen uint32, src Source) {
	defer r.wg.Done()
	defer r.readers.Add(-1)
	l := &r.layers[layer]
	for {
		p := getPacket()
		n, _, err := src.Read(p.buf[:])
		if err != nil || r.closed.Load() || l.gen.Load() != gen {
			packetPool.Put(p)
			return
		}
		r.handle(p, n, layer, gen)
	}
}

// handle parses and fans out the n bytes read into p; it owns p.
func (r *Receiver) handle(p *Packet, n, layer int, gen uint32) {
	if !p.parse(n) {
		packetPool.Put(p)
		return
	}
	now := nanotime()
	p.Layer, p.Gen, p.Arrival = int8(layer), gen, now
	p.Keyframe = r.p.Kind == Video && r.keyframe(p.Payload)
	l := &r.layers[layer]
	l.bytes.Add(uint64(n))
	l.lastPacket.Store(now)
	r.m.PacketsIn.Add(1)
	r.m.BytesIn.Add(float64(n))
	if r.p.AudioLevelExtID != 0 {
		if ext := p.Header.GetExtension(r.p.AudioLevelExtID); len(ext) > 0 {
			r.observeLevel(ext[0] & 0x7f)
		}
	}

	p.refs.Store(1)
	if downs := r.downs.Load(); downs != nil && !r.closed.Load() {
		for _, d := range *downs {
			if !d.wants(p.Layer) {
				continue
			}
			p.refs.Add(1)
			if !d.enqueue(p) {
				p.refs.Add(-1)
				r.m.Dropped.Add(1)
			}
		}
	}
	p.release()
}

// voicedLevel is the RFC 6464 level (-dBov) under which a packet counts as
// speech.
const voicedLevel = 50

func (r *Receiver) observeLevel(level uint8) {
	r.lvlPackets.Add(1)
	if level > voicedLevel {
		return
	}
	r.lvlVoiced.Add(1)
	r.lvlSum.Add(uint64(math.Pow(10, -float64(level)/20) * 1e6))
}

// AudioLevel returns the speech level since the last call (0..1, 1 the
// loudest) and whether the track was speaking: speech in at least a third
// of the packets. It resets the measure.
func (r *Receiver) AudioLevel() (level float64, speaking bool) {
	packets := r.lvlPackets.Swap(0)
	voiced := r.lvlVoiced.Swap(0)
	sum := r.lvlSum.Swap(0)
	if packets == 0 || voiced == 0 || voiced*3 < packets {
		return 0, false
	}
	return float64(sum) / 1e6 / float64(voiced), true
}

// RequestKeyframe asks the publisher for a key frame on layer, at most
// once per KeyframeInterval per layer. It reports whether a request went
// out.
func (r *Receiver) RequestKeyframe(layer int) bool {
	if r.p.Kind != Video || layer < 0 || layer >= MaxLayers || r.p.RequestKeyframe == nil {
		return false
	}
	l := &r.layers[layer]
	if !l.started.Load() {
		return false
	}
	now := nanotime()
	last := l.lastPLI.Load()
	if last != 0 && now-last < int64(KeyframeInterval) {
		return false
	}
	if !l.lastPLI.CompareAndSwap(last, now) {
		return false
	}
	r.m.KeyframeRequests.Add(1)
	r.p.RequestKeyframe(l.ssrc.Load())
	return true
}

// SampleRates computes each layer's bit rate over elapsed; the caller ticks
// it about once a second.
func (r *Receiver) SampleRates(elapsed time.Duration) {
	if elapsed <= 0 {
		return
	}
	for i := range r.layers {
		b := r.layers[i].bytes.Swap(0)
		r.layers[i].rate.Store(int64(float64(b*8) / elapsed.Seconds()))
	}
}

// Bitrate returns the sum of the layers' last sampled rates (bits/s).
func (r *Receiver) Bitrate() int64 {
	var sum int64
	for i := range r.layers {
		sum += r.layers[i].rate.Load()
	}
	return sum
}

// layerActive: started and a packet within the last two seconds.
func (r *Receiver) layerActive(layer int, now int64) bool {
	l := &r.layers[layer]
	return l.started.Load() && now-l.lastPacket.Load() < int64(2*time.Second)
}

// Layers returns how many layers were ever started, and the highest.
func (r *Receiver) Layers() (count int, highest int) {
	highest = -1
	for i := range r.layers {
		if r.layers[i].started.Load() {
			count++
			highest = i
		}
	}
	return count, highest
}

// AddDownTrack makes d receive this receiver's packets.
func (r *Receiver) AddDownTrack(d *DownTrack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var next []*DownTrack
	if cur := r.downs.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, d)
	r.downs.Store(&next)
}

// RemoveDownTrack stops feeding d.
func (r *Receiver) RemoveDownTrack(d *DownTrack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.downs.Load()
	if cur == nil {
		return
	}
	next := make([]*DownTrack, 0, len(*cur))
	for _, x := range *cur {
		if x != d {
			next = append(next, x)
		}
	}
	r.downs.Store(&next)
}

// DownTracks returns the current down-tracks.
func (r *Receiver) DownTracks() []*DownTrack {
	if cur := r.downs.Load(); cur != nil {
		return *cur
	}
	return nil
}

// Close stops the fan-out at once; each reader ends when its current read
// returns (when the caller closes the source, i.e. the peer connection).
func (r *Receiver) Close() {
	r.mu.Lock()
	r.closed.Store(true)
	r.downs.Store(nil)
	r.mu.Unlock()
}

// Wait waits for the readers to end (after Close and the sources' end).
func (r *Receiver) Wait() { r.wg.Wait() }

// WaitUntil is Wait bounded by deadline; it reports whether the readers
// ended. A source whose read never returns (pion has left a simulcast
// reader blocked on a stream the publisher mislabelled) must not hold up
// the node's shutdown for ever.
func (r *Receiver) WaitUntil(deadline time.Time) bool {
	if !r.Reading() {
		return true
	}
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		select {
		case <-done: // ended as the deadline passed
			return true
		default:
			return false
		}
	}
}

// Reading reports whether a layer's reader is still running.
func (r *Receiver) Reading() bool { return r.readers.Load() > 0 }
