package sealed

import (
	"bytes"
	"io"
	"testing"
)

// FuzzOpen feeds arbitrary bytes to Open and OpenStream (with the real and
// with tiny chunks): they must return, without panicking, and never accept
// data the key did not seal.
func FuzzOpen(f *testing.F) {
	r := testRing(f, testKey(f, 1), testKey(f, 2))
	aad := []byte("fuzz")
	value, err := r.Seal([]byte(marker), aad)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(value)
	f.Add(sealStreamBytes(f, r, []byte(marker), aad, ChunkSize, 1<<20))
	f.Add(sealStreamBytes(f, r, payload(100), aad, 16, 7))
	f.Add(sealStreamBytes(f, r, nil, aad, 16, 1))
	f.Add([]byte{})
	f.Add([]byte{formatValue})
	f.Add(append([]byte{formatStream}, value[1:]...))

	f.Fuzz(func(t *testing.T, data []byte) {
		// Seeds are sealed again in each fuzz worker (random nonces), so
		// only the plaintext is known: nothing else may ever open.
		if got, err := r.Open(data, aad); err == nil && string(got) != marker {
			t.Fatalf("Open accepted data it did not seal: %q", got)
		}
		for _, cs := range []int{ChunkSize, 16} {
			rd, err := r.openStream(bytes.NewReader(data), aad, cs)
			if err != nil {
				continue
			}
			n, err := io.Copy(io.Discard, rd)
			if n > int64(len(data)) {
				t.Fatalf("read %d bytes of plaintext from %d bytes", n, len(data))
			}
			_ = err
		}
	})
}
