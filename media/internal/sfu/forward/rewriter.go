package forward

// Rewriter maps the sequence numbers and timestamps of whichever source a
// down-track currently forwards (one simulcast layer, or a republished
// track) onto one continuous outgoing stream. It is owned by one goroutine.
type Rewriter struct {
	started   bool
	clockRate uint32

	seqOffset uint16 // out = in + seqOffset
	tsOffset  uint32 // out = in + tsOffset

	highestIn uint16 // newest input sequence number of the current source
	firstIn   uint16 // first input sequence number after the last switch

	lastOutSeq uint16
	lastOutTS  uint32
	lastOutAt  int64 // arrival time (ns) of the packet that set lastOut*
}

// NewRewriter returns a rewriter for a stream with the given RTP clock rate.
func NewRewriter(clockRate uint32) *Rewriter {
	if clockRate == 0 {
		clockRate = 90000
	}
	return &Rewriter{clockRate: clockRate}
}

// Switch makes the packet (seq, ts, arriving at at ns) the start of a new
// source: the next outgoing sequence number follows the last one sent, and
// the timestamp advances by the wall time elapsed since (at least one tick),
// so a player sees neither a gap nor a jump.
func (r *Rewriter) Switch(seq uint16, ts uint32, at int64) {
	if !r.started {
		r.started = true
		r.seqOffset, r.tsOffset = 0, 0
		r.lastOutSeq = seq - 1
		r.lastOutTS = ts
		r.lastOutAt = at
	} else {
		r.seqOffset = r.lastOutSeq + 1 - seq
		ticks := uint32(1)
		if d := at - r.lastOutAt; d > 0 {
			if t := uint64(d) * uint64(r.clockRate) / 1e9; t > 1 {
				ticks = uint32(t)
			}
		}
		r.tsOffset = r.lastOutTS + ticks - ts
	}
	r.highestIn = seq - 1
	r.firstIn = seq
}

// Started reports whether a source was ever switched to.
func (r *Rewriter) Started() bool { return r.started }

// Rewrite maps an input packet of the current source. ok is false for a
// packet from before the last switch, which must be dropped.
func (r *Rewriter) Rewrite(seq uint16, ts uint32, at int64) (outSeq uint16, outTS uint32, ok bool) {
	if int16(seq-r.firstIn) < 0 {
		return 0, 0, false
	}
	outSeq, outTS = seq+r.seqOffset, ts+r.tsOffset
	if int16(seq-r.highestIn) > 0 {
		r.highestIn = seq
		r.lastOutSeq = outSeq
		r.lastOutTS = outTS
		r.lastOutAt = at
	}
	return outSeq, outTS, true
}

// Skip drops a packet without leaving a hole in the outgoing numbering (a
// padding-only packet). Only the newest packet can be skipped that way; an
// older one is simply dropped (the receiver may NACK it in vain).
func (r *Rewriter) Skip(seq uint16) {
	if int16(seq-r.firstIn) < 0 || int16(seq-r.highestIn) <= 0 {
		return
	}
	// Every later packet shifts down by one.
	r.seqOffset--
	r.highestIn = seq
}
