package forward

import "time"

// Rewriter maps the sequence numbers and timestamps of whichever source a
// down-track currently forwards (one simulcast layer, or a republished
// track) onto one continuous outgoing stream. It is owned by one goroutine.
type Rewriter struct {
	started   bool
	clockRate uint32

	seqOffset uint16 // out = in + seqOffset
	tsOffset  uint32 // out = in + tsOffset

	// Input sequence numbers of the current source, unwrapped (see
	// unwrap): with the 16-bit numbers a source forwarded for more than
	// 32768 packets would see its new packets compare as older than its
	// first one, and be dropped for the next 32768.
	highestIn int64 // newest
	firstIn   int64 // first after the last switch
	// seen has bit i set when input highestIn-i arrived (those before
	// firstIn count as arrived: they are dropped anyway).
	seen uint64
	// padded: padding was inserted (Pad) since the switch, after input
	// padFloor; a packet from at or before there that comes late has no
	// sequence number left for it.
	padded   bool
	padFloor int64
	// forgotAt is when (arrival, ns) a missing input left the window of
	// seen: its repair may still come (a publisher's RTX answers a NACK
	// a round trip later, and a 100-packet keyframe fills the window
	// sooner than that), so no padding for RepairHorizon after.
	forgotAt int64
	forgot   bool

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
	r.firstIn = int64(seq)
	r.highestIn = r.firstIn - 1
	r.seen = ^uint64(0)
	r.padded = false
	r.forgot = false
}

// RepairHorizon is how long after a missing packet left the window of
// the last 64 the rewriter still expects its repair, so lets no padding
// take its place: a publisher's round trip plus its NACK delay, with room.
const RepairHorizon = int64(time.Second)

// advance makes in (newer than any so far, arriving at at) the newest
// input, and notes when a missing one leaves the window.
func (r *Rewriter) advance(in, at int64) {
	d := in - r.highestIn
	var lost bool
	if d < 64 {
		lost = r.seen>>(64-d) != 1<<d-1 // a 0 among the d bits shifted out
		r.seen = r.seen<<d | 1
	} else {
		// Every one of the 64 leaves; so does the gap in between.
		lost = true
		r.seen = 1
	}
	if lost && in > r.firstIn {
		r.forgot, r.forgotAt = true, at
	}
	r.highestIn = in
}

// unwrap extends seq to the current source's 64-bit numbering: the value
// nearest the newest packet seen.
func (r *Rewriter) unwrap(seq uint16) int64 {
	return r.highestIn + int64(int16(seq-uint16(r.highestIn)))
}

// Started reports whether a source was ever switched to.
func (r *Rewriter) Started() bool { return r.started }

// Rewrite maps an input packet of the current source. ok is false for a
// packet from before the last switch, which must be dropped.
func (r *Rewriter) Rewrite(seq uint16, ts uint32, at int64) (outSeq uint16, outTS uint32, ok bool) {
	in := r.unwrap(seq)
	if in < r.firstIn || (r.padded && in <= r.padFloor) {
		return 0, 0, false
	}
	outSeq, outTS = seq+r.seqOffset, ts+r.tsOffset
	if in > r.highestIn {
		r.advance(in, at)
		r.lastOutSeq = outSeq
		r.lastOutTS = outTS
		r.lastOutAt = at
	} else if d := r.highestIn - in; d < 64 {
		r.seen |= 1 << d
	}
	return outSeq, outTS, true
}

// CanPad reports whether a padding packet may go out at now (ns, the
// clock of the arrival times): a source is being forwarded, none of its
// last 64 packets is missing, and none older went missing within
// RepairHorizon, so no late one is expected (it would find its sequence
// number taken; see Pad).
func (r *Rewriter) CanPad(now int64) bool {
	return r.started && r.seen == ^uint64(0) && (!r.forgot || now-r.forgotAt >= RepairHorizon)
}

// Pad takes the sequence number after the newest one sent for a packet of
// no source (probe padding), with the newest timestamp; every later packet
// shifts up by one. From now on a packet of the current source from at or
// before the newest one is dropped (Rewrite reports false).
func (r *Rewriter) Pad() (seq uint16, ts uint32) {
	r.seqOffset++
	r.lastOutSeq++
	r.padded, r.padFloor = true, r.highestIn
	return r.lastOutSeq, r.lastOutTS
}

// Skip drops a packet, arriving at at, without leaving a hole in the
// outgoing numbering (a padding-only packet). Only the packet right after
// the newest can be skipped that way: after a gap, shifting the later
// packets down would give the missing one, when it comes, the number of
// the packet before it; so there, and for an older one, the packet is
// simply dropped (the receiver may NACK its number in vain).
func (r *Rewriter) Skip(seq uint16, at int64) {
	in := r.unwrap(seq)
	if in < r.firstIn || in <= r.highestIn {
		return
	}
	if in == r.highestIn+1 {
		// Every later packet shifts down by one.
		r.seqOffset--
	}
	r.advance(in, at)
}
