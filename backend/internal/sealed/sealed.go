// Package sealed encrypts health data at rest (chat messages, files,
// personal fields) with AES-256-GCM under a data key that lives outside the
// database and file volumes.
//
// # Keys
//
// A data key is 32 random bytes, written base64url without padding by
// `backend secrets init` (ParseKey also accepts the padded form). Its key ID
// is the first 8 bytes of SHA-256("hcw-data-key-id" || key): public,
// stored in every ciphertext so that Open finds the right key after a
// rotation. The raw key is only ever used as HKDF-SHA256 input, so values
// and streams use independent AES keys:
//
//	value key  = HKDF-SHA256(secret=key, salt=none, info="hcw-sealed-value-v1", 32)
//	file key   = HKDF-SHA256(secret=key, salt=<per-stream salt>, info="hcw-sealed-stream-v1", 32)
//
// A Keyring holds one primary key, used for every new seal, and any number
// of older keys that are only used to open. To rotate, start with the new
// key as primary and the old one as older, re-seal what was sealed with the
// old key (`backend keys rotate`, package keyrotation; KeyIDOf tells which
// key sealed a value), then drop it.
//
// # Value format (Seal, Open)
//
//	format (1 byte, 0x01) || key ID (8) || nonce (12) || ciphertext || tag (16)
//
// The nonce is random (crypto/rand); the GCM additional data is the 9-byte
// header (format byte and key ID) followed by the caller's AAD. Random
// 96-bit nonces bound one key to about 2^32 seals; rotate well before.
//
// # Stream format (SealStream, OpenStream)
//
//	header: format (1 byte, 0x02) || key ID (8) || salt (32)
//	then chunks: ciphertext || tag (16), each of 64 KiB of plaintext except
//	the last, which holds 0 to 64 KiB (0 only for an empty stream)
//
// Chunk i is sealed under the file key with nonce = i as 8 bytes big-endian
// followed by 4 zero bytes, and additional data = header (41 bytes) ||
// final flag (1 byte: 1 for the last chunk, else 0) || the caller's AAD.
// The counter detects reordering and dropped chunks, the final flag detects
// truncation at a chunk boundary and appended data, and the per-stream
// salt (hence a per-stream key) detects chunks swapped between files.
// Memory stays at one chunk per reader or writer. A reader learns that the
// stream is complete only when Read returns io.EOF: until then it must treat
// what it has read as possibly incomplete (each chunk it returned is
// authentic).
//
// # Additional data
//
// The AAD binds a ciphertext to its place, e.g.
// "consultation_messages.body:<message id>": the same bytes copied into
// another row or file do not open (ErrDecrypt). It is not stored.
package sealed

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Sizes of the formats, in bytes.
const (
	KeySize   = 32
	KeyIDSize = 8

	formatValue  byte = 0x01
	formatStream byte = 0x02

	valueHeaderSize = 1 + KeyIDSize
	nonceSize       = 12
	tagSize         = 16
	// ValueOverhead is what Seal adds to the plaintext's length.
	ValueOverhead = valueHeaderSize + nonceSize + tagSize

	keyIDLabel   = "hcw-data-key-id"
	valueInfo    = "hcw-sealed-value-v1"
	streamInfo   = "hcw-sealed-stream-v1"
	saltSize     = 32
	streamHeader = 1 + KeyIDSize + saltSize
)

// KeyID identifies a key without revealing it.
type KeyID [KeyIDSize]byte

// String returns the key ID in hex, for logs.
func (id KeyID) String() string { return hex.EncodeToString(id[:]) }

// Key is one data key. It never prints its secret: every fmt verb shows
// only the key ID.
type Key struct {
	id     KeyID
	secret [KeySize]byte
	value  cipher.AEAD
}

// ParseKey decodes a 32-byte key written in base64url, with or without
// padding. Surrounding white space is ignored. The error never contains the
// input.
func ParseKey(encoded string) (*Key, error) {
	s := strings.TrimSpace(encoded)
	enc := base64.RawURLEncoding
	if strings.HasSuffix(s, "=") {
		enc = base64.URLEncoding
	}
	b, err := enc.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64url", ErrInvalidKey)
	}
	if len(b) != KeySize {
		return nil, fmt.Errorf("%w: decodes to %d bytes, want %d", ErrInvalidKey, len(b), KeySize)
	}
	k, err := newKey(b)
	clear(b)
	return k, err
}

func newKey(secret []byte) (*Key, error) {
	k := &Key{}
	copy(k.secret[:], secret)
	h := sha256.New()
	h.Write([]byte(keyIDLabel))
	h.Write(k.secret[:])
	copy(k.id[:], h.Sum(nil))
	sub, err := hkdf.Key(sha256.New, k.secret[:], nil, valueInfo, KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive value key: %w", err)
	}
	if k.value, err = newGCM(sub); err != nil {
		return nil, err
	}
	clear(sub)
	return k, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	return cipher.NewGCM(block)
}

// ID returns the key's public identifier.
func (k *Key) ID() KeyID { return k.id }

// Format prints "sealed.Key(<key ID>)" for every verb, so a key that ends
// up in a log line or an error does not leak.
func (k Key) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "sealed.Key(%s)", k.id)
}

// Keyring seals with its primary key and opens with any key it holds. It is
// safe for concurrent use.
type Keyring struct {
	primary *Key
	keys    map[KeyID]*Key
}

// NewKeyring builds a keyring that seals with primary and opens data sealed
// with primary or any older key.
func NewKeyring(primary *Key, older ...*Key) (*Keyring, error) {
	if primary == nil {
		return nil, errors.New("sealed: keyring needs a primary key")
	}
	r := &Keyring{primary: primary, keys: make(map[KeyID]*Key, 1+len(older))}
	for _, k := range append([]*Key{primary}, older...) {
		if k == nil {
			return nil, errors.New("sealed: nil key in keyring")
		}
		if prev, ok := r.keys[k.id]; ok && prev.secret != k.secret {
			return nil, fmt.Errorf("sealed: two keys share the key ID %s", k.id)
		}
		if _, ok := r.keys[k.id]; !ok {
			r.keys[k.id] = k
		}
	}
	return r, nil
}

// Primary returns the key new data is sealed with.
func (r *Keyring) Primary() *Key { return r.primary }

func (r *Keyring) key(id []byte) (*Key, error) {
	k, ok := r.keys[KeyID(id)]
	if !ok {
		return nil, fmt.Errorf("%w %s", ErrUnknownKey, hex.EncodeToString(id))
	}
	return k, nil
}

// Seal encrypts plaintext with the primary key, bound to aad. The result is
// ValueOverhead bytes longer than plaintext.
func (r *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	k := r.primary
	out := make([]byte, valueHeaderSize+nonceSize, ValueOverhead+len(plaintext))
	out[0] = formatValue
	copy(out[1:valueHeaderSize], k.id[:])
	nonce := out[valueHeaderSize:]
	// crypto/rand.Read never fails: on a broken system it aborts the process.
	rand.Read(nonce)
	return k.value.Seal(out, nonce, plaintext, valueAAD(out[:valueHeaderSize], aad)), nil
}

// Open decrypts what Seal returned for the same aad.
func (r *Keyring) Open(ciphertext, aad []byte) ([]byte, error) {
	if len(ciphertext) < ValueOverhead || ciphertext[0] != formatValue {
		return nil, ErrFormat
	}
	k, err := r.key(ciphertext[1:valueHeaderSize])
	if err != nil {
		return nil, err
	}
	nonce := ciphertext[valueHeaderSize : valueHeaderSize+nonceSize]
	body := ciphertext[valueHeaderSize+nonceSize:]
	plain, err := k.value.Open(make([]byte, 0, len(body)-tagSize), nonce, body, valueAAD(ciphertext[:valueHeaderSize], aad))
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}

func valueAAD(header, aad []byte) []byte {
	return bytes.Join([][]byte{header, aad}, nil)
}

// KeyIDOf returns the ID of the key that sealed a value (Seal) or a stream
// (SealStream), read from its header. It does not authenticate anything:
// the header may lie, and only Open or OpenStream prove it. Rotation uses it
// to skip values already sealed with the primary key.
func KeyIDOf(sealedData []byte) (KeyID, error) {
	if len(sealedData) == 0 {
		return KeyID{}, ErrFormat
	}
	switch f := sealedData[0]; {
	case f == formatValue && len(sealedData) >= ValueOverhead,
		f == formatStream && len(sealedData) >= streamHeader:
		return KeyID(sealedData[1:valueHeaderSize]), nil
	}
	return KeyID{}, ErrFormat
}
