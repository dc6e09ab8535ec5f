package sealed

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// ChunkSize is the plaintext size of every stream chunk but the last.
const ChunkSize = 64 << 10

// SealStream returns a writer that encrypts everything written to it into w
// with the primary key, bound to aad. Close writes the final chunk and must
// be called; it does not close w.
func (r *Keyring) SealStream(w io.Writer, aad []byte) (io.WriteCloser, error) {
	return r.sealStream(w, aad, ChunkSize)
}

// OpenStream reads the header from r and returns a reader of the plaintext.
// Read returns io.EOF only after the final chunk authenticated; any
// tampering, truncation or extra data ends in ErrDecrypt or ErrFormat.
func (r *Keyring) OpenStream(rd io.Reader, aad []byte) (io.Reader, error) {
	return r.openStream(rd, aad, ChunkSize)
}

// streamState is what writer and reader share: the per-stream key and the
// additional data, whose final-flag byte changes per chunk.
type streamState struct {
	aead    cipher.AEAD
	aad     []byte // header || final flag || caller's aad
	nonce   [nonceSize]byte
	counter uint64
}

func newStreamState(k *Key, header, aad []byte) (*streamState, error) {
	sub, err := hkdf.Key(sha256.New, k.secret[:], header[1+KeyIDSize:], streamInfo, KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive stream key: %w", err)
	}
	aead, err := newGCM(sub)
	clear(sub)
	if err != nil {
		return nil, err
	}
	s := &streamState{aead: aead, aad: make([]byte, 0, len(header)+1+len(aad))}
	s.aad = append(append(append(s.aad, header...), 0), aad...)
	return s, nil
}

// next sets the nonce and final flag for the next chunk.
func (s *streamState) next(final bool) ([]byte, []byte, error) {
	if s.counter == math.MaxUint64 {
		return nil, nil, errors.New("sealed: stream too long")
	}
	binary.BigEndian.PutUint64(s.nonce[:8], s.counter)
	s.counter++
	s.aad[streamHeader] = 0
	if final {
		s.aad[streamHeader] = 1
	}
	return s.nonce[:], s.aad, nil
}

func (r *Keyring) sealStream(w io.Writer, aad []byte, chunkSize int) (io.WriteCloser, error) {
	k := r.primary
	header := make([]byte, streamHeader)
	header[0] = formatStream
	copy(header[1:], k.id[:])
	rand.Read(header[1+KeyIDSize:])
	s, err := newStreamState(k, header, aad)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(header); err != nil {
		return nil, fmt.Errorf("write stream header: %w", err)
	}
	return &streamWriter{w: w, s: s, chunkSize: chunkSize, buf: make([]byte, 0, chunkSize+tagSize)}, nil
}

type streamWriter struct {
	w         io.Writer
	s         *streamState
	chunkSize int
	buf       []byte // plaintext of the pending chunk, sealed in place
	err       error  // sticky; errClosed after Close
	closeErr  error
}

// Write buffers p and seals each full chunk once more data follows it, so
// that the last chunk, whatever its size, is the one Close seals as final.
func (sw *streamWriter) Write(p []byte) (int, error) {
	if sw.err != nil {
		return 0, sw.err
	}
	n := 0
	for len(p) > 0 {
		if len(sw.buf) == sw.chunkSize {
			if err := sw.flush(false); err != nil {
				return n, err
			}
		}
		c := copy(sw.buf[len(sw.buf):sw.chunkSize], p)
		sw.buf = sw.buf[:len(sw.buf)+c]
		p = p[c:]
		n += c
	}
	return n, nil
}

func (sw *streamWriter) flush(final bool) error {
	nonce, aad, err := sw.s.next(final)
	if err == nil {
		out := sw.s.aead.Seal(sw.buf[:0], nonce, sw.buf, aad)
		if _, err = sw.w.Write(out); err != nil {
			err = fmt.Errorf("write sealed chunk: %w", err)
		}
	}
	sw.buf = sw.buf[:0]
	if err != nil {
		sw.err = err
	}
	return err
}

// Close seals the final chunk. Calling it again returns the same result.
func (sw *streamWriter) Close() error {
	if sw.err == errClosed {
		return sw.closeErr
	}
	if sw.err != nil {
		sw.closeErr = sw.err
	} else {
		sw.closeErr = sw.flush(true)
	}
	sw.err = errClosed
	return sw.closeErr
}

func (r *Keyring) openStream(rd io.Reader, aad []byte, chunkSize int) (io.Reader, error) {
	header := make([]byte, streamHeader)
	if _, err := io.ReadFull(rd, header); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, ErrFormat
		}
		return nil, fmt.Errorf("read stream header: %w", err)
	}
	if header[0] != formatStream {
		return nil, ErrFormat
	}
	k, err := r.key(header[1 : 1+KeyIDSize])
	if err != nil {
		return nil, err
	}
	s, err := newStreamState(k, header, aad)
	if err != nil {
		return nil, err
	}
	// One sealed chunk plus one byte: that byte tells whether the chunk is
	// the final one without reading a second chunk.
	return &streamReader{r: rd, s: s, buf: make([]byte, chunkSize+tagSize+1)}, nil
}

type streamReader struct {
	r      io.Reader
	s      *streamState
	buf    []byte
	plain  []byte // authenticated plaintext not yet returned
	carry  bool   // buf[0] holds the first byte of the next chunk
	carryB byte
	final  bool // the final chunk has been opened
	err    error
}

func (sr *streamReader) Read(p []byte) (int, error) {
	for len(sr.plain) == 0 {
		if sr.err != nil {
			return 0, sr.err
		}
		if sr.final {
			sr.err = io.EOF
			return 0, io.EOF
		}
		sr.err = sr.fill()
	}
	n := copy(p, sr.plain)
	sr.plain = sr.plain[n:]
	return n, nil
}

// fill reads and opens the next chunk into sr.plain.
func (sr *streamReader) fill() error {
	start := 0
	if sr.carry {
		sr.buf[0] = sr.carryB
		start = 1
	}
	n, err := io.ReadFull(sr.r, sr.buf[start:])
	n += start
	switch {
	case err == nil:
		// A byte beyond a full chunk: this chunk is not the last.
		sr.carry, sr.carryB = true, sr.buf[len(sr.buf)-1]
		n--
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		sr.carry, sr.final = false, true
	default:
		return fmt.Errorf("read sealed chunk: %w", err)
	}
	if n < tagSize {
		return ErrFormat
	}
	nonce, aad, err := sr.s.next(sr.final)
	if err != nil {
		return err
	}
	plain, err := sr.s.aead.Open(sr.buf[:0], nonce, sr.buf[:n], aad)
	if err != nil {
		return ErrDecrypt
	}
	sr.plain = plain
	return nil
}
