package sealed

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sealStreamBytes seals plain with chunk size cs, writing it in pieces of
// write bytes to exercise the buffering.
func sealStreamBytes(t testing.TB, r *Keyring, plain, aad []byte, cs, write int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := r.sealStream(&buf, aad, cs)
	require.NoError(t, err)
	for p := plain; len(p) > 0; {
		n := min(write, len(p))
		m, err := w.Write(p[:n])
		require.NoError(t, err)
		require.Equal(t, n, m)
		p = p[n:]
	}
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func openStreamBytes(r *Keyring, ct, aad []byte, cs int) ([]byte, error) {
	rd, err := r.openStream(bytes.NewReader(ct), aad, cs)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(rd)
}

// chunks splits a sealed stream into its header and sealed chunks.
func chunks(ct []byte, cs int) (header []byte, out [][]byte) {
	header, ct = ct[:streamHeader], ct[streamHeader:]
	for len(ct) > 0 {
		n := min(cs+tagSize, len(ct))
		out = append(out, ct[:n])
		ct = ct[n:]
	}
	return header, out
}

func TestStreamRoundTrip(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	aad := []byte("consultation_files:9f2c")
	for _, n := range []int{0, 1, len(marker), ChunkSize - 1, ChunkSize, ChunkSize + 1, 2 * ChunkSize, 200<<10 + 1} {
		for _, write := range []int{1 << 20, 1000, ChunkSize} {
			t.Run(fmt.Sprintf("%d bytes in writes of %d", n, write), func(t *testing.T) {
				plain := payload(n)
				if n < len(marker) {
					plain = plain[:n]
				}
				ct := sealStreamBytes(t, r, plain, aad, ChunkSize, write)
				wantChunks := max(1, (n+ChunkSize-1)/ChunkSize)
				require.Len(t, ct, streamHeader+n+wantChunks*tagSize, "one tag per chunk, no empty trailing chunk")
				assert.Equal(t, formatStream, ct[0])
				assert.Equal(t, r.Primary().ID(), KeyID(ct[1:9]))
				if n >= len(marker) {
					assert.False(t, bytes.Contains(ct, []byte(marker)), "marker visible in ciphertext")
				}
				got, err := openStreamBytes(r, ct, aad, ChunkSize)
				require.NoError(t, err)
				assert.True(t, bytes.Equal(plain, got), "round trip changed %d bytes", n)
			})
		}
	}
}

func TestStreamReaderContract(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	plain := payload(3*ChunkSize + 17)
	ct := sealStreamBytes(t, r, plain, nil, ChunkSize, 1<<20)
	rd, err := r.OpenStream(iotest.HalfReader(bytes.NewReader(ct)), nil)
	require.NoError(t, err)
	require.NoError(t, iotest.TestReader(rd, plain))
}

func TestStreamSaltIsRandom(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	a := sealStreamBytes(t, r, []byte(marker), nil, ChunkSize, 100)
	b := sealStreamBytes(t, r, []byte(marker), nil, ChunkSize, 100)
	assert.NotEqual(t, a[9:streamHeader], b[9:streamHeader])
	assert.NotEqual(t, a[streamHeader:], b[streamHeader:])
}

// TestStreamTamper uses 64-byte chunks so that every bit of a multi-chunk
// stream can be flipped.
func TestStreamTamper(t *testing.T) {
	const cs = 64
	r := testRing(t, testKey(t, 1))
	aad := []byte("consultation_files:1")
	plain := payload(3*cs + 5) // chunks of 64, 64, 64, 5
	ct := sealStreamBytes(t, r, plain, aad, cs, 7)
	got, err := openStreamBytes(r, ct, aad, cs)
	require.NoError(t, err)
	require.Equal(t, plain, got)
	header, cks := chunks(ct, cs)
	require.Len(t, cks, 4)

	t.Run("wrong aad", func(t *testing.T) {
		for _, bad := range []string{"consultation_files:2", "", "consultation_files:1\x00"} {
			_, err := openStreamBytes(r, ct, []byte(bad), cs)
			assert.ErrorIs(t, err, ErrDecrypt, "aad %q", bad)
		}
	})
	t.Run("flipped bit", func(t *testing.T) {
		for i := range ct {
			for bit := range 8 {
				bad := bytes.Clone(ct)
				bad[i] ^= 1 << bit
				_, err := openStreamBytes(r, bad, aad, cs)
				switch {
				case i == 0:
					assert.ErrorIs(t, err, ErrFormat, "byte %d bit %d", i, bit)
				case i < 1+KeyIDSize:
					assert.ErrorIs(t, err, ErrUnknownKey, "byte %d bit %d", i, bit)
				default:
					assert.ErrorIs(t, err, ErrDecrypt, "byte %d bit %d", i, bit)
				}
			}
		}
	})
	t.Run("truncated", func(t *testing.T) {
		dropLast := bytes.Join(append([][]byte{header}, cks[:3]...), nil)
		_, err := openStreamBytes(r, dropLast, aad, cs)
		assert.ErrorIs(t, err, ErrDecrypt, "last chunk dropped")
		for n := range len(ct) {
			_, err := openStreamBytes(r, ct[:n], aad, cs)
			if !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrFormat) {
				t.Errorf("truncated to %d of %d bytes: err = %v", n, len(ct), err)
			}
		}
	})
	t.Run("reordered", func(t *testing.T) {
		for _, order := range [][]int{{1, 0, 2, 3}, {0, 2, 1, 3}, {0, 1, 3, 2}, {0, 0, 1, 2, 3}, {0, 2, 3}, {1, 2, 3}} {
			parts := [][]byte{header}
			for _, i := range order {
				parts = append(parts, cks[i])
			}
			_, err := openStreamBytes(r, bytes.Join(parts, nil), aad, cs)
			assert.ErrorIs(t, err, ErrDecrypt, "order %v", order)
		}
	})
	t.Run("chunk from another file", func(t *testing.T) {
		other := sealStreamBytes(t, r, plain, aad, cs, 7) // same key, data and aad
		_, otherChunks := chunks(other, cs)
		swapped := bytes.Join([][]byte{header, cks[0], otherChunks[1], cks[2], cks[3]}, nil)
		_, err := openStreamBytes(r, swapped, aad, cs)
		assert.ErrorIs(t, err, ErrDecrypt)
		_, err = openStreamBytes(r, append(bytes.Clone(other[:streamHeader]), ct[streamHeader:]...), aad, cs)
		assert.ErrorIs(t, err, ErrDecrypt, "header from another file")
	})
	t.Run("appended", func(t *testing.T) {
		for _, extra := range [][]byte{{0}, make([]byte, tagSize), make([]byte, cs+tagSize), cks[3], cks[0]} {
			_, err := openStreamBytes(r, append(bytes.Clone(ct), extra...), aad, cs)
			assert.ErrorIs(t, err, ErrDecrypt, "%d bytes appended", len(extra))
		}
	})
	t.Run("plaintext only after authentication", func(t *testing.T) {
		bad := bytes.Clone(ct)
		bad[len(bad)-1] ^= 1
		rd, err := r.openStream(bytes.NewReader(bad), aad, cs)
		require.NoError(t, err)
		got, err := io.ReadAll(rd)
		require.ErrorIs(t, err, ErrDecrypt)
		assert.Equal(t, plain[:3*cs], got, "the authentic chunks before the bad one")
		_, err = rd.Read(make([]byte, 10))
		assert.ErrorIs(t, err, ErrDecrypt, "the error sticks")
	})
}

func TestStreamUnknownKeyAndRotation(t *testing.T) {
	old, cur := testKey(t, 1), testKey(t, 2)
	plain := payload(ChunkSize + 3)
	ct := sealStreamBytes(t, testRing(t, old), plain, nil, ChunkSize, 1<<20)

	_, err := testRing(t, cur).OpenStream(bytes.NewReader(ct), nil)
	require.ErrorIs(t, err, ErrUnknownKey)

	rotated := testRing(t, cur, old)
	got, err := openStreamBytes(rotated, ct, nil, ChunkSize)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(plain, got))
	fresh := sealStreamBytes(t, rotated, plain, nil, ChunkSize, 1<<20)
	assert.Equal(t, cur.ID(), KeyID(fresh[1:9]))
}

func TestStreamShortHeader(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	for _, n := range []int{0, 1, streamHeader - 1} {
		_, err := r.OpenStream(bytes.NewReader(make([]byte, n)), nil)
		assert.ErrorIs(t, err, ErrFormat)
	}
	_, err := r.OpenStream(iotest.ErrReader(io.ErrClosedPipe), nil)
	assert.ErrorIs(t, err, io.ErrClosedPipe, "I/O errors are not format errors")
}

type failingWriter struct{ after int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, io.ErrShortWrite
	}
	f.after--
	return len(p), nil
}

func TestStreamWriterErrors(t *testing.T) {
	r := testRing(t, testKey(t, 1))

	_, err := r.SealStream(&failingWriter{}, nil)
	require.ErrorIs(t, err, io.ErrShortWrite, "header write")

	w, err := r.SealStream(&failingWriter{after: 1}, nil)
	require.NoError(t, err)
	_, err = w.Write(make([]byte, 2*ChunkSize+1))
	require.ErrorIs(t, err, io.ErrShortWrite)
	_, err = w.Write([]byte{1})
	require.ErrorIs(t, err, io.ErrShortWrite, "sticky")
	require.ErrorIs(t, w.Close(), io.ErrShortWrite)

	var buf bytes.Buffer
	w, err = r.SealStream(&buf, nil)
	require.NoError(t, err)
	_, err = w.Write([]byte(marker))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	n := buf.Len()
	require.NoError(t, w.Close(), "second Close")
	assert.Equal(t, n, buf.Len(), "second Close writes nothing")
	_, err = w.Write([]byte("more"))
	require.Error(t, err, "write after Close")
	assert.Equal(t, n, buf.Len())
}
