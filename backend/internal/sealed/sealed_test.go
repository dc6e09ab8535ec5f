package sealed

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const marker = "PLAINTEXT-MARKER-patient-has-diabetes"

// testKey returns a key whose bytes are all b.
func testKey(t testing.TB, b byte) *Key {
	t.Helper()
	k, err := ParseKey(base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{b}, KeySize)))
	require.NoError(t, err)
	return k
}

func testRing(t testing.TB, primary *Key, older ...*Key) *Keyring {
	t.Helper()
	r, err := NewKeyring(primary, older...)
	require.NoError(t, err)
	return r
}

// payload returns n bytes that contain the marker and do not repeat with a
// period that divides the chunk size.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	copy(b, marker)
	return b
}

func TestParseKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb}, KeySize) // encodes with '-' and '_'
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"raw url", base64.RawURLEncoding.EncodeToString(raw), true},
		{"padded url", base64.URLEncoding.EncodeToString(raw), true},
		{"trailing newline", base64.RawURLEncoding.EncodeToString(raw) + "\n", true},
		{"standard alphabet", base64.RawStdEncoding.EncodeToString(raw), false},
		{"16 bytes", base64.RawURLEncoding.EncodeToString(raw[:16]), false},
		{"33 bytes", base64.RawURLEncoding.EncodeToString(append(raw, 1)), false},
		{"empty", "", false},
		{"not base64", "this is my data key, 43 characters long!!", false},
		{"wrong padding", base64.RawURLEncoding.EncodeToString(raw) + "==", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKey(tc.in)
			if tc.ok {
				require.NoError(t, err)
				assert.Equal(t, raw, k.secret[:])
				return
			}
			require.ErrorIs(t, err, ErrInvalidKey)
			assert.Nil(t, k)
			if tc.in != "" {
				assert.NotContains(t, err.Error(), strings.TrimSpace(tc.in))
			}
		})
	}
}

func TestKeyID(t *testing.T) {
	k := testKey(t, 7)
	sum := sha256.Sum256(append([]byte("hcw-data-key-id"), bytes.Repeat([]byte{7}, KeySize)...))
	id := k.ID()
	assert.Equal(t, sum[:8], id[:])
	assert.NotEqual(t, k.ID(), testKey(t, 8).ID())
}

func TestKeyNeverPrinted(t *testing.T) {
	k := testKey(t, 0xfb)
	enc := base64.RawURLEncoding.EncodeToString(k.secret[:])
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		for _, v := range []any{k, *k, []*Key{k}} {
			out := fmt.Sprintf(verb, v)
			assert.NotContains(t, out, enc, verb)
			assert.NotContains(t, out, "251 251 251", verb)
			assert.NotContains(t, strings.ToLower(out), "fbfbfbfb", verb)
		}
	}
	assert.Equal(t, "sealed.Key("+k.ID().String()+")", fmt.Sprint(k))
}

func TestNewKeyring(t *testing.T) {
	_, err := NewKeyring(nil)
	require.Error(t, err)
	_, err = NewKeyring(testKey(t, 1), nil)
	require.Error(t, err)
	r, err := NewKeyring(testKey(t, 1), testKey(t, 1), testKey(t, 2))
	require.NoError(t, err, "the same key twice is harmless")
	assert.Len(t, r.keys, 2)
}

func TestSealOpenRoundTrip(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	aad := []byte("consultation_messages.body:42")
	for _, n := range []int{0, 1, len(marker), 1000, 200<<10 + 1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			plain := payload(n)
			if n < len(marker) {
				plain = plain[:n]
			}
			ct, err := r.Seal(plain, aad)
			require.NoError(t, err)
			require.Len(t, ct, n+ValueOverhead)
			assert.Equal(t, formatValue, ct[0])
			assert.Equal(t, r.Primary().ID(), KeyID(ct[1:9]))
			if n >= len(marker) {
				assert.False(t, bytes.Contains(ct, []byte(marker)), "marker visible in ciphertext")
			}
			got, err := r.Open(ct, aad)
			require.NoError(t, err)
			assert.Equal(t, len(plain), len(got))
			assert.True(t, bytes.Equal(plain, got))
		})
	}
}

func TestSealIsRandomized(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	a, err := r.Seal([]byte(marker), nil)
	require.NoError(t, err)
	b, err := r.Seal([]byte(marker), nil)
	require.NoError(t, err)
	assert.NotEqual(t, a[9:21], b[9:21], "nonces repeat")
	assert.NotEqual(t, a, b)
}

func TestOpenWrongAAD(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	ct, err := r.Seal([]byte(marker), []byte("consultation_messages.body:1"))
	require.NoError(t, err)
	for _, aad := range []string{"consultation_messages.body:2", "consultation_messages.body:1 ", "", "patients.name:1"} {
		_, err := r.Open(ct, []byte(aad))
		assert.ErrorIs(t, err, ErrDecrypt, "aad %q", aad)
	}
}

func TestOpenFlippedBit(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	aad := []byte("a")
	ct, err := r.Seal([]byte(marker), aad)
	require.NoError(t, err)
	for i := range ct {
		for bit := range 8 {
			bad := bytes.Clone(ct)
			bad[i] ^= 1 << bit
			_, err := r.Open(bad, aad)
			switch {
			case i == 0:
				assert.ErrorIs(t, err, ErrFormat, "byte %d bit %d", i, bit)
			case i < valueHeaderSize:
				assert.ErrorIs(t, err, ErrUnknownKey, "byte %d bit %d", i, bit)
			default:
				assert.ErrorIs(t, err, ErrDecrypt, "byte %d bit %d", i, bit)
			}
		}
	}
}

func TestOpenTruncatedOrExtended(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	ct, err := r.Seal([]byte(marker), nil)
	require.NoError(t, err)
	for n := range len(ct) {
		_, err := r.Open(ct[:n], nil)
		if n < ValueOverhead {
			assert.ErrorIs(t, err, ErrFormat, "length %d", n)
		} else {
			assert.ErrorIs(t, err, ErrDecrypt, "length %d", n)
		}
	}
	for _, extra := range [][]byte{{0}, []byte("garbage"), make([]byte, 16)} {
		_, err := r.Open(append(bytes.Clone(ct), extra...), nil)
		assert.ErrorIs(t, err, ErrDecrypt)
	}
}

func TestOpenUnknownKey(t *testing.T) {
	ct, err := testRing(t, testKey(t, 1)).Seal([]byte(marker), nil)
	require.NoError(t, err)
	_, err = testRing(t, testKey(t, 2)).Open(ct, nil)
	require.ErrorIs(t, err, ErrUnknownKey)
	assert.Contains(t, err.Error(), testKey(t, 1).ID().String(), "names the missing key ID")
}

func TestRotation(t *testing.T) {
	old, cur := testKey(t, 1), testKey(t, 2)
	before, err := testRing(t, old).Seal([]byte(marker), []byte("x"))
	require.NoError(t, err)

	rotated := testRing(t, cur, old)
	got, err := rotated.Open(before, []byte("x"))
	require.NoError(t, err, "old data opens with the old key as non-primary")
	assert.Equal(t, marker, string(got))

	after, err := rotated.Seal([]byte(marker), []byte("x"))
	require.NoError(t, err)
	assert.Equal(t, cur.ID(), KeyID(after[1:9]), "new data uses the primary")
	_, err = testRing(t, old).Open(after, []byte("x"))
	assert.ErrorIs(t, err, ErrUnknownKey)
	got, err = testRing(t, cur).Open(after, []byte("x"))
	require.NoError(t, err)
	assert.Equal(t, marker, string(got))
}

func TestOpenFormat(t *testing.T) {
	r := testRing(t, testKey(t, 1))
	for _, in := range [][]byte{nil, {}, {formatValue}, make([]byte, ValueOverhead-1)} {
		_, err := r.Open(in, nil)
		assert.ErrorIs(t, err, ErrFormat)
	}
	var buf bytes.Buffer
	w, err := r.SealStream(&buf, nil)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	_, err = r.Open(buf.Bytes(), nil)
	assert.ErrorIs(t, err, ErrFormat, "a stream is not a value")
	ct, err := r.Seal(make([]byte, 64), nil)
	require.NoError(t, err)
	_, err = r.OpenStream(bytes.NewReader(ct), nil)
	assert.ErrorIs(t, err, ErrFormat, "a value is not a stream")
}

func TestConcurrentUse(t *testing.T) {
	r := testRing(t, testKey(t, 1), testKey(t, 2))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			aad := []byte(fmt.Sprint("row:", i))
			for range 50 {
				ct, err := r.Seal([]byte(marker), aad)
				if err == nil {
					var got []byte
					if got, err = r.Open(ct, aad); err == nil && string(got) != marker {
						err = errors.New("round trip changed the data")
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestKeyIDOf(t *testing.T) {
	a, b := testKey(t, 1), testKey(t, 2)
	older := testRing(t, a)
	r := testRing(t, b, a)
	aad := []byte("users.first_name:1")

	fromA, err := older.Seal([]byte(marker), aad)
	require.NoError(t, err)
	fromB, err := r.Seal(nil, aad)
	require.NoError(t, err)
	stream := sealStreamBytes(t, r, []byte(marker), aad, ChunkSize, 100)

	for _, tc := range []struct {
		name string
		in   []byte
		want KeyID
	}{
		{"value of the older key", fromA, a.ID()},
		{"empty value of the primary", fromB, b.ID()},
		{"stream", stream, b.ID()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := KeyIDOf(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, id)
		})
	}

	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"nil", nil},
		{"format byte only", []byte{formatValue}},
		{"value too short", fromB[:ValueOverhead-1]},
		{"stream header too short", stream[:streamHeader-1]},
		{"unknown format", append([]byte{0x7f}, fromA[1:]...)},
		{"plaintext", []byte(marker)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := KeyIDOf(tc.in)
			require.ErrorIs(t, err, ErrFormat)
		})
	}
}
