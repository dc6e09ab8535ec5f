package forward

// vp8Descriptor locates the fields of an RFC 7741 payload descriptor that
// number pictures. An offset of 0 means the field is absent (the first
// byte is never one of them).
type vp8Descriptor struct {
	picOff  int // picture id: 7 bits at payload[picOff], or 15 if wide
	wide    bool
	tl0Off  int // TL0PICIDX
	keyOff  int // TID/Y/KEYIDX byte whose K bit is set
	picID   uint16
	tl0     uint8
	keyIdx  uint8
	numbers bool // any of the three is present
}

// parseVP8Descriptor reads the descriptor at the start of payload; false
// when it is truncated.
func parseVP8Descriptor(payload []byte) (d vp8Descriptor, ok bool) {
	if len(payload) < 1 {
		return d, false
	}
	if payload[0]&0x80 == 0 { // X: no extension, nothing numbered
		return d, true
	}
	if len(payload) < 2 {
		return d, false
	}
	x := payload[1]
	i := 2
	if x&0x80 != 0 { // I
		if len(payload) <= i {
			return d, false
		}
		d.picOff = i
		if payload[i]&0x80 != 0 { // M: 15 bits
			if len(payload) <= i+1 {
				return d, false
			}
			d.wide = true
			d.picID = uint16(payload[i]&0x7f)<<8 | uint16(payload[i+1])
			i += 2
		} else {
			d.picID = uint16(payload[i])
			i++
		}
	}
	if x&0x40 != 0 { // L
		if len(payload) <= i {
			return d, false
		}
		d.tl0Off = i
		d.tl0 = payload[i]
		i++
	}
	if x&0x30 != 0 { // T or K share one byte
		if len(payload) <= i {
			return d, false
		}
		if x&0x10 != 0 {
			d.keyOff = i
			d.keyIdx = payload[i] & 0x1f
		}
	}
	d.numbers = d.picOff != 0 || d.tl0Off != 0 || d.keyOff != 0
	return d, true
}

// Widths of the numbered descriptor fields.
const (
	picIDMask  = 0x7fff // 15-bit picture id; a 7-bit one is its low bits
	keyIdxMask = 0x1f
)

// vp8Field maps one numbered descriptor field (picture id, TL0PICIDX or
// KEYIDX) of whichever source is forwarded onto one continuous outgoing
// series, as Rewriter does for sequence numbers: out = in + offset, so a
// lost or reordered packet maps like any other.
type vp8Field struct {
	offset uint16
	last   uint16 // newest value sent, in the field's full width
	sent   bool   // last is set: a value was sent since the first switch
	valid  bool   // offset is set for the current source
}

// switchTo makes in, the first value of a new source, follow the last
// value sent.
func (f *vp8Field) switchTo(in, mask uint16) {
	if f.sent {
		f.offset = (f.last + 1 - in) & mask
	} else {
		f.offset = 0
	}
	f.valid = true
}

// rewrite maps in, a value width bits wide (mask = 1<<width - 1) inside a
// series of fullMask; it records the newest value sent.
func (f *vp8Field) rewrite(in, mask, fullMask uint16) uint16 {
	if !f.valid {
		// The source's first packet lacked the field: start from here.
		f.switchTo(in, fullMask)
	}
	out := (in + f.offset) & mask
	if !f.sent {
		f.last, f.sent = out, true
		return out
	}
	// Advance last by the forward distance (in this value's width) when
	// out is newer, so a narrow value keeps the full-width series going.
	if d := (out - f.last) & mask; d != 0 && d <= mask>>1 {
		f.last = (f.last + d) & fullMask
	}
	return out
}

// VP8Rewriter maps the picture ids, TL0PICIDX and KEYIDX of the RFC 7741
// payload descriptors of whichever source a down-track forwards onto one
// continuous outgoing series, so a decoder sees no jump or step back on a
// simulcast layer switch (each layer numbers its pictures on its own).
// Each field keeps the width it arrives in: a 7-bit picture id stays 7
// bits and wraps as such. It is owned by one goroutine and allocates
// nothing.
type VP8Rewriter struct {
	pic, tl0, key vp8Field
}

// Switch makes payload, the first packet of a new source (its key frame),
// start the source's numbering right after the last one sent.
func (r *VP8Rewriter) Switch(payload []byte) {
	d, _ := parseVP8Descriptor(payload)
	r.pic.valid, r.tl0.valid, r.key.valid = false, false, false
	if d.picOff != 0 {
		r.pic.switchTo(d.picID, picIDMask)
	}
	if d.tl0Off != 0 {
		r.tl0.switchTo(uint16(d.tl0), 0xff)
	}
	if d.keyOff != 0 {
		r.key.switchTo(uint16(d.keyIdx), keyIdxMask)
	}
}

// Rewrite returns payload with its descriptor's numbers mapped: payload
// itself when they are absent or unchanged, else a rewritten copy in dst,
// which must be at least as long as payload (the payload is shared with
// the other down-tracks and must not be changed in place). A truncated
// descriptor passes unchanged.
func (r *VP8Rewriter) Rewrite(dst, payload []byte) []byte {
	d, ok := parseVP8Descriptor(payload)
	if !ok || !d.numbers {
		return payload
	}
	var pic, tl0, key uint16
	changed := false
	if d.picOff != 0 {
		mask := uint16(0x7f)
		if d.wide {
			mask = picIDMask
		}
		pic = r.pic.rewrite(d.picID, mask, picIDMask)
		changed = changed || pic != d.picID
	}
	if d.tl0Off != 0 {
		tl0 = r.tl0.rewrite(uint16(d.tl0), 0xff, 0xff)
		changed = changed || tl0 != uint16(d.tl0)
	}
	if d.keyOff != 0 {
		key = r.key.rewrite(uint16(d.keyIdx), keyIdxMask, keyIdxMask)
		changed = changed || key != uint16(d.keyIdx)
	}
	if !changed {
		return payload
	}
	out := dst[:len(payload)]
	copy(out, payload)
	if d.picOff != 0 {
		if d.wide {
			out[d.picOff] = 0x80 | byte(pic>>8)
			out[d.picOff+1] = byte(pic)
		} else {
			out[d.picOff] = byte(pic)
		}
	}
	if d.tl0Off != 0 {
		out[d.tl0Off] = byte(tl0)
	}
	if d.keyOff != 0 {
		out[d.keyOff] = out[d.keyOff]&^keyIdxMask | byte(key)
	}
	return out
}
