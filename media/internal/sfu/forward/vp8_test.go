package forward

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// vp8Desc builds an RFC 7741 payload descriptor followed by a one-byte VP8
// payload header: pic < 0 leaves out the picture id, tl0 < 0 the
// TL0PICIDX, keyIdx < 0 the KEYIDX (tid is then absent too).
func vp8Desc(pic int, wide bool, tl0, keyIdx int) []byte {
	b := []byte{0x90, 0x00} // X, S, partition 0
	if pic >= 0 {
		b[1] |= 0x80
		if wide {
			b = append(b, 0x80|byte(pic>>8), byte(pic))
		} else {
			b = append(b, byte(pic&0x7f))
		}
	}
	if tl0 >= 0 {
		b[1] |= 0x40
		b = append(b, byte(tl0))
	}
	if keyIdx >= 0 {
		b[1] |= 0x30                          // T and K
		b = append(b, 0x40|0x20|byte(keyIdx)) // TID 1, Y, KEYIDX
	}
	return append(b, 0x00, 0xEE) // key frame header, then a marker byte
}

// descNumbers reads back what a rewritten payload carries.
func descNumbers(t *testing.T, payload []byte) (pic int, tl0 int, keyIdx int) {
	t.Helper()
	d, ok := parseVP8Descriptor(payload)
	require.True(t, ok)
	pic, tl0, keyIdx = -1, -1, -1
	if d.picOff != 0 {
		pic = int(d.picID)
	}
	if d.tl0Off != 0 {
		tl0 = int(d.tl0)
	}
	if d.keyOff != 0 {
		keyIdx = int(d.keyIdx)
	}
	return pic, tl0, keyIdx
}

func TestParseVP8Descriptor(t *testing.T) {
	tests := []struct {
		name     string
		payload  []byte
		ok       bool
		pic      int
		wide     bool
		tl0, key int
	}{
		{"no extension", []byte{0x10, 0x00}, true, -1, false, -1, -1},
		{"7-bit picture id", vp8Desc(0x55, false, -1, -1), true, 0x55, false, -1, -1},
		{"15-bit picture id", vp8Desc(0x1234, true, -1, -1), true, 0x1234, true, -1, -1},
		{"all fields", vp8Desc(0x7fff, true, 200, 17), true, 0x7fff, true, 200, 17},
		{"TID without KEYIDX", []byte{0x90, 0xa0, 0x05, 0x40, 0x00}, true, 5, false, -1, -1},
		{"empty", nil, false, -1, false, -1, -1},
		{"truncated after X", []byte{0x90}, false, -1, false, -1, -1},
		{"truncated 15-bit id", []byte{0x90, 0x80, 0x81}, false, -1, false, -1, -1},
		{"truncated TL0PICIDX", []byte{0x90, 0xc0, 0x05}, false, -1, false, -1, -1},
		{"truncated KEYIDX", []byte{0x90, 0x10}, false, -1, false, -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := parseVP8Descriptor(tt.payload)
			require.Equal(t, tt.ok, ok)
			if !ok {
				return
			}
			pic, tl0, key := descNumbers(t, tt.payload)
			require.Equal(t, tt.pic, pic)
			require.Equal(t, tt.wide, d.wide)
			require.Equal(t, tt.tl0, tl0)
			require.Equal(t, tt.key, key)
			require.Equal(t, pic >= 0 || tl0 >= 0 || key >= 0, d.numbers)
		})
	}
}

// vp8Step is one packet through a VP8Rewriter: switch first when sw, and
// the numbers expected out.
type vp8Step struct {
	sw                        bool
	pic, tl0, key             int
	wide                      bool
	wantPic, wantTL0, wantKey int
	wantSameSlice             bool // nothing changed: no copy
	skipTL0AndKeyIdx          bool // the packet has a picture id only
}

func TestVP8Rewriter(t *testing.T) {
	run := func(t *testing.T, steps []vp8Step) {
		t.Helper()
		var r VP8Rewriter
		dst := make([]byte, MaxPacketSize)
		for i, s := range steps {
			tl0, key := s.tl0, s.key
			if s.skipTL0AndKeyIdx {
				tl0, key = -1, -1
			}
			in := vp8Desc(s.pic, s.wide, tl0, key)
			orig := append([]byte(nil), in...)
			if s.sw {
				r.Switch(in)
			}
			out := r.Rewrite(dst, in)
			require.Equal(t, orig, in, "step %d: the shared payload is untouched", i)
			require.Len(t, out, len(in), "step %d", i)
			require.Equal(t, in[len(in)-2:], out[len(out)-2:], "step %d: the VP8 payload follows unchanged", i)
			pic, gotTL0, gotKey := descNumbers(t, out)
			require.Equal(t, s.wantPic, pic, "step %d: picture id", i)
			if !s.skipTL0AndKeyIdx {
				require.Equal(t, s.wantTL0, gotTL0, "step %d: TL0PICIDX", i)
				require.Equal(t, s.wantKey, gotKey, "step %d: KEYIDX", i)
			}
			if s.wantPic >= 0 {
				d, _ := parseVP8Descriptor(out)
				require.Equal(t, s.wide, d.wide, "step %d: the width is kept", i)
			}
			if s.wantSameSlice {
				require.Same(t, &in[0], &out[0], "step %d: unchanged, not copied", i)
			}
		}
	}

	t.Run("first source keeps its numbers", func(t *testing.T) {
		run(t, []vp8Step{
			{sw: true, pic: 300, wide: true, tl0: 7, key: 3, wantPic: 300, wantTL0: 7, wantKey: 3, wantSameSlice: true},
			{pic: 301, wide: true, tl0: 8, key: 3, wantPic: 301, wantTL0: 8, wantKey: 3, wantSameSlice: true},
		})
	})

	t.Run("switch between layers with different bases", func(t *testing.T) {
		run(t, []vp8Step{
			{sw: true, pic: 100, wide: true, tl0: 10, key: 2, wantPic: 100, wantTL0: 10, wantKey: 2},
			{pic: 101, wide: true, tl0: 11, key: 2, wantPic: 101, wantTL0: 11, wantKey: 2},
			{pic: 102, wide: true, tl0: 12, key: 2, wantPic: 102, wantTL0: 12, wantKey: 2},
			// The high layer, numbered far ahead, starts at its key frame.
			{sw: true, pic: 20000, wide: true, tl0: 250, key: 30, wantPic: 103, wantTL0: 13, wantKey: 3},
			{pic: 20001, wide: true, tl0: 251, key: 30, wantPic: 104, wantTL0: 14, wantKey: 3},
			// Back down to a layer numbered behind: still no step back.
			{sw: true, pic: 150, wide: true, tl0: 60, key: 9, wantPic: 105, wantTL0: 15, wantKey: 4},
			{pic: 151, wide: true, tl0: 61, key: 9, wantPic: 106, wantTL0: 16, wantKey: 4},
		})
	})

	t.Run("15-bit wrap", func(t *testing.T) {
		run(t, []vp8Step{
			{sw: true, pic: 32766, wide: true, tl0: 254, key: 31, wantPic: 32766, wantTL0: 254, wantKey: 31},
			{pic: 32767, wide: true, tl0: 255, key: 31, wantPic: 32767, wantTL0: 255, wantKey: 31},
			// Switch across the wrap of every field.
			{sw: true, pic: 5, wide: true, tl0: 40, key: 1, wantPic: 0, wantTL0: 0, wantKey: 0},
			// The new source wraps on its own while the offset holds.
			{sw: true, pic: 32767, wide: true, tl0: 255, key: 31, wantPic: 1, wantTL0: 1, wantKey: 1},
			{pic: 0, wide: true, tl0: 0, key: 31, wantPic: 2, wantTL0: 2, wantKey: 1},
			{pic: 1, wide: true, tl0: 1, key: 31, wantPic: 3, wantTL0: 3, wantKey: 1},
		})
	})

	t.Run("7-bit picture ids", func(t *testing.T) {
		run(t, []vp8Step{
			{sw: true, pic: 126, tl0: 0, key: 0, wantPic: 126, wantTL0: 0, wantKey: 0},
			{pic: 127, tl0: 1, key: 0, wantPic: 127, wantTL0: 1, wantKey: 0},
			// Another 7-bit layer: the id wraps within 7 bits.
			{sw: true, pic: 40, tl0: 90, key: 5, wantPic: 0, wantTL0: 2, wantKey: 1},
			{pic: 41, tl0: 91, key: 5, wantPic: 1, wantTL0: 3, wantKey: 1},
			{pic: 100, tl0: 92, key: 5, wantPic: 60, wantTL0: 4, wantKey: 1}, // 58 pictures lost
			{pic: 127, tl0: 93, key: 5, wantPic: 87, wantTL0: 5, wantKey: 1},
			// The source wraps its 7 bits; the offset holds.
			{pic: 0, tl0: 94, key: 5, wantPic: 88, wantTL0: 6, wantKey: 1},
			// A switch continues from the newest, 88.
			{sw: true, pic: 10, tl0: 0, key: 0, wantPic: 89, wantTL0: 7, wantKey: 2},
		})
	})

	t.Run("mixed widths keep each packet's width", func(t *testing.T) {
		run(t, []vp8Step{
			{sw: true, pic: 1000, wide: true, skipTL0AndKeyIdx: true, wantPic: 1000},
			// 1001 in 7 bits is 1001 & 0x7f = 105.
			{sw: true, pic: 3, skipTL0AndKeyIdx: true, wantPic: 105},
			{pic: 4, skipTL0AndKeyIdx: true, wantPic: 106},
			// Back to 15 bits: 1003 follows 1002 (106 in 7 bits).
			{sw: true, pic: 20000, wide: true, skipTL0AndKeyIdx: true, wantPic: 1003},
		})
	})

	t.Run("reordering and loss map by offset", func(t *testing.T) {
		run(t, []vp8Step{
			{sw: true, pic: 500, wide: true, tl0: 50, key: 0, wantPic: 500, wantTL0: 50, wantKey: 0},
			{sw: true, pic: 9000, wide: true, tl0: 200, key: 7, wantPic: 501, wantTL0: 51, wantKey: 1},
			{pic: 9002, wide: true, tl0: 202, key: 7, wantPic: 503, wantTL0: 53, wantKey: 1}, // 9001 late
			{pic: 9001, wide: true, tl0: 201, key: 7, wantPic: 502, wantTL0: 52, wantKey: 1}, // arrives late
			{pic: 9004, wide: true, tl0: 204, key: 7, wantPic: 505, wantTL0: 55, wantKey: 1}, // 9003 lost
			{pic: 9003, wide: true, tl0: 203, key: 7, wantPic: 504, wantTL0: 54, wantKey: 1}, // late again
			// The next switch follows the newest picture sent, not the
			// last one handled.
			{sw: true, pic: 77, wide: true, tl0: 3, key: 20, wantPic: 506, wantTL0: 56, wantKey: 2},
		})
	})

	t.Run("field absent at the switch", func(t *testing.T) {
		run(t, []vp8Step{
			{sw: true, pic: 10, wide: true, tl0: 4, key: 1, wantPic: 10, wantTL0: 4, wantKey: 1},
			{sw: true, pic: 800, wide: true, skipTL0AndKeyIdx: true, wantPic: 11},
			// TL0PICIDX and KEYIDX reappear: they follow on.
			{pic: 801, wide: true, tl0: 99, key: 9, wantPic: 12, wantTL0: 5, wantKey: 2},
			{pic: 802, wide: true, tl0: 100, key: 9, wantPic: 13, wantTL0: 6, wantKey: 2},
		})
	})

	t.Run("no descriptor numbers", func(t *testing.T) {
		var r VP8Rewriter
		dst := make([]byte, MaxPacketSize)
		for _, in := range [][]byte{{0x10, 0x00, 0x9d}, {0x90, 0x00, 0x00}, {0x90, 0x80}} {
			r.Switch(in)
			out := r.Rewrite(dst, in)
			require.Same(t, &in[0], &out[0])
		}
	})
}

func TestVP8RewriterAllocations(t *testing.T) {
	var r VP8Rewriter
	dst := make([]byte, MaxPacketSize)
	a := vp8Desc(100, true, 10, 2)
	b := vp8Desc(20000, true, 200, 9)
	require.Zero(t, testing.AllocsPerRun(100, func() {
		r.Switch(a)
		_ = r.Rewrite(dst, a)
		r.Switch(b)
		_ = r.Rewrite(dst, b)
	}))
}

// BenchmarkVP8Rewrite is the down-track's added cost per packet after a
// layer switch: parse the descriptor, map its numbers, copy 1 kB.
func BenchmarkVP8Rewrite(b *testing.B) {
	var r VP8Rewriter
	dst := make([]byte, MaxPacketSize)
	payload := append(vp8Desc(100, true, 10, 2), make([]byte, 1000)...)
	other := vp8Desc(20000, true, 200, 9)
	r.Switch(other)
	_ = r.Rewrite(dst, other)
	r.Switch(payload)
	if out := r.Rewrite(dst, payload); &out[0] == &payload[0] {
		b.Fatal("not rewritten")
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		payload[2], payload[3], payload[4] = 0x80|byte(i>>8)&0x7f, byte(i), byte(i)
		_ = r.Rewrite(dst, payload)
	}
}
