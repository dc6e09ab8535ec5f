package sfu

import (
	"fmt"
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// streamPacer is what gcc's NoOpPacer is (packets leave at once: the
// down-track writers are the pacing), plus retransmissions. pion's NACK
// responder resends a packet on its stream's RTX SSRC through the same
// interceptor chain, and gcc's pacers only know the SSRCs of bound streams:
// they refuse the resend ("unknown ssrc") and no retransmission ever
// leaves. This pacer maps an RTX SSRC to its stream (rtxStreams tells it),
// so a resend goes out, counted by the estimator like any packet.
//
// Unlike NoOpPacer it does not hold its lock while writing, so the
// down-tracks of one subscriber do not queue behind each other.
type streamPacer struct {
	mu      sync.RWMutex
	writers map[uint32]interceptor.RTPWriter
	rtx     map[uint32]uint32 // RTX SSRC -> its stream's SSRC
}

func newStreamPacer() *streamPacer {
	return &streamPacer{writers: make(map[uint32]interceptor.RTPWriter), rtx: make(map[uint32]uint32)}
}

// AddStream implements gcc.Pacer.
func (p *streamPacer) AddStream(ssrc uint32, w interceptor.RTPWriter) {
	p.mu.Lock()
	p.writers[ssrc] = w
	p.mu.Unlock()
}

// errUnknownSSRC is a packet of no bound stream.
var errUnknownSSRC = fmt.Errorf("sfu: pacer: unknown ssrc")

// Write implements gcc.Pacer.
func (p *streamPacer) Write(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
	p.mu.RLock()
	w, ok := p.writers[h.SSRC]
	if !ok {
		w, ok = p.writers[p.rtx[h.SSRC]]
	}
	p.mu.RUnlock()
	if !ok {
		return 0, fmt.Errorf("%w %d", errUnknownSSRC, h.SSRC)
	}
	return w.Write(h, payload, a)
}

// SetTargetBitrate implements gcc.Pacer; the estimate is read by the
// allocation instead.
func (p *streamPacer) SetTargetBitrate(int) {}

// Close implements gcc.Pacer.
func (p *streamPacer) Close() error { return nil }

func (p *streamPacer) bind(info *interceptor.StreamInfo) {
	if info.SSRCRetransmission == 0 {
		return
	}
	p.mu.Lock()
	p.rtx[info.SSRCRetransmission] = info.SSRC
	p.mu.Unlock()
}

func (p *streamPacer) unbind(info *interceptor.StreamInfo) {
	p.mu.Lock()
	delete(p.writers, info.SSRC)
	delete(p.rtx, info.SSRCRetransmission)
	p.mu.Unlock()
}

// rtxStreams tells a streamPacer each local stream's RTX SSRC, and when
// the stream ends.
type rtxStreams struct {
	interceptor.NoOp
	pacer *streamPacer
}

// NewInterceptor implements interceptor.Factory (one pacer per peer
// connection, so the factory is its own interceptor).
func (r *rtxStreams) NewInterceptor(string) (interceptor.Interceptor, error) { return r, nil }

// BindLocalStream implements interceptor.Interceptor.
func (r *rtxStreams) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	r.pacer.bind(info)
	return w
}

// UnbindLocalStream implements interceptor.Interceptor.
func (r *rtxStreams) UnbindLocalStream(info *interceptor.StreamInfo) { r.pacer.unbind(info) }
