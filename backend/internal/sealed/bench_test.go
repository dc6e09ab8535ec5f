package sealed

import (
	"io"
	"testing"
)

func BenchmarkSeal1KiB(b *testing.B) {
	r := testRing(b, testKey(b, 1))
	plain := payload(1 << 10)
	aad := []byte("consultation_messages.body:42")
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Seal(plain, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen1KiB(b *testing.B) {
	r := testRing(b, testKey(b, 1))
	aad := []byte("consultation_messages.body:42")
	ct, err := r.Seal(payload(1<<10), aad)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1 << 10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Open(ct, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSealStream1MiB(b *testing.B) {
	r := testRing(b, testKey(b, 1))
	plain := payload(1 << 20)
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	for b.Loop() {
		w, err := r.SealStream(io.Discard, []byte("consultation_files:1"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Write(plain); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
