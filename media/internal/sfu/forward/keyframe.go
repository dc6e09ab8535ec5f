package forward

// VP8Keyframe reports whether an RTP payload (RFC 7741) starts a VP8 key
// frame: the first packet of partition 0 (S=1, PID=0) whose VP8 payload
// header has the inverse key frame flag P cleared.
func VP8Keyframe(payload []byte) bool {
	if len(payload) < 1 {
		return false
	}
	b0 := payload[0]
	if b0&0x10 == 0 || b0&0x07 != 0 { // S bit, partition index
		return false
	}
	i := 1
	if b0&0x80 != 0 { // X: extension byte follows
		if len(payload) < 2 {
			return false
		}
		x := payload[1]
		i = 2
		if x&0x80 != 0 { // I: picture id, 7 or 15 bits
			if len(payload) <= i {
				return false
			}
			if payload[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX
			i++
		}
	}
	if len(payload) <= i {
		return false
	}
	return payload[i]&0x01 == 0
}

// H.264 NAL unit types the detector cares about (RFC 6184).
const (
	naluIDR  = 5
	naluSPS  = 7
	naluSTAP = 24
	naluFUA  = 28
)

// H264Keyframe reports whether an RTP payload (RFC 6184, packetization
// mode 1) starts an H.264 key frame: an IDR slice or a sequence parameter
// set, alone, inside a STAP-A, or as the first fragment of an FU-A.
func H264Keyframe(payload []byte) bool {
	if len(payload) < 1 {
		return false
	}
	switch t := payload[0] & 0x1f; t {
	case naluIDR, naluSPS:
		return true
	case naluSTAP:
		for i := 1; i+2 < len(payload); {
			size := int(payload[i])<<8 | int(payload[i+1])
			i += 2
			if size == 0 || i+size > len(payload) {
				return false
			}
			if nt := payload[i] & 0x1f; nt == naluIDR || nt == naluSPS {
				return true
			}
			i += size
		}
		return false
	case naluFUA:
		if len(payload) < 2 {
			return false
		}
		fu := payload[1]
		nt := fu & 0x1f
		return fu&0x80 != 0 && (nt == naluIDR || nt == naluSPS)
	default:
		return false
	}
}
