package account

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password length bounds, in Unicode code points (ASVS 6.2.1, 6.2.9).
const (
	MinPasswordRunes = 8
	MaxPasswordRunes = 128
)

// minLocalPartRunes is the shortest e-mail local part the policy looks for
// inside a password: refusing every password that contains "jo" would
// refuse many good ones and protect nothing.
const minLocalPartRunes = 3

//go:embed common-passwords.txt
var commonPasswordsFile string

var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 50000)
	sc := bufio.NewScanner(strings.NewReader(commonPasswordsFile))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		set[strings.ToLower(line)] = struct{}{}
	}
	return set
})

// CheckPassword applies the password policy: 8 to 128 code points of any
// Unicode, not in the list of common passwords, not containing the local
// part of email (both compared case-insensitively). There are no
// composition rules and no expiry (ASVS 6.2). email may be empty.
func CheckPassword(password, email string) error {
	if !utf8.ValidString(password) {
		return ErrPasswordEncoding
	}
	switch n := utf8.RuneCountInString(password); {
	case n < MinPasswordRunes:
		return ErrPasswordTooShort
	case n > MaxPasswordRunes:
		return ErrPasswordTooLong
	}
	lower := strings.ToLower(password)
	if _, common := commonPasswords()[lower]; common {
		return ErrPasswordCommon
	}
	if local, _, ok := strings.Cut(strings.ToLower(strings.TrimSpace(email)), "@"); ok &&
		utf8.RuneCountInString(local) >= minLocalPartRunes && strings.Contains(lower, local) {
		return ErrPasswordContainsEmail
	}
	return nil
}

// HashParams are argon2id's cost parameters. They are written into every
// hash, so they can be raised later: NeedsRehash tells which hashes are
// weaker than the current parameters.
type HashParams struct {
	Memory  uint32 // KiB
	Time    uint32 // iterations
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultHashParams are OWASP's first recommended argon2id configuration
// (Password Storage Cheat Sheet): 19 MiB, 2 iterations, 1 lane.
var DefaultHashParams = HashParams{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds accepted when parsing a stored hash, so that a tampered row cannot
// make verification allocate gigabytes or loop for minutes.
const (
	maxMemoryKiB  = 1 << 20 // 1 GiB
	maxTime       = 64
	minSaltLen    = 8
	maxSaltLen    = 64
	minKeyLen     = 16
	maxKeyLen     = 64
	argon2Version = argon2.Version // 0x13 = 19
)

// PHC is a parsed argon2id hash in PHC string format:
//
//	$argon2id$v=19$m=<KiB>,t=<iterations>,p=<lanes>$<salt>$<hash>
//
// with salt and hash in unpadded standard base64.
type PHC struct {
	Params HashParams
	Salt   []byte
	Hash   []byte
}

// String encodes p in PHC string format.
func (p PHC) String() string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2Version,
		p.Params.Memory, p.Params.Time, p.Params.Threads, b64.EncodeToString(p.Salt), b64.EncodeToString(p.Hash))
}

// ParsePHC parses an argon2id PHC string. Anything else, including other
// versions and out-of-range parameters, wraps ErrInvalidHash.
func ParsePHC(s string) (PHC, error) {
	fail := func(why string) (PHC, error) { return PHC{}, fmt.Errorf("%w: %s", ErrInvalidHash, why) }
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return fail("want 5 $-separated fields")
	}
	if parts[1] != "argon2id" {
		return fail("algorithm is not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2Version) {
		return fail("unsupported version")
	}
	var m, t, p uint64
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return fail("want m, t and p")
	}
	for i, dst := range []*uint64{&m, &t, &p} {
		name, value, ok := strings.Cut(params[i], "=")
		if !ok || name != "mtp"[i:i+1] || value == "" || (len(value) > 1 && value[0] == '0') {
			return fail("want m=<KiB>,t=<iterations>,p=<lanes>")
		}
		v, err := strconv.ParseUint(value, 10, 32)
		if err != nil {
			return fail("parameter is not a number")
		}
		*dst = v
	}
	if t < 1 || t > maxTime || p < 1 || p > 255 || m < 8*p || m > maxMemoryKiB {
		return fail("parameters out of range")
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return fail("bad salt")
	}
	hash, err := b64.DecodeString(parts[5])
	if err != nil || len(hash) < minKeyLen || len(hash) > maxKeyLen {
		return fail("bad hash")
	}
	return PHC{
		Params: HashParams{Memory: uint32(m), Time: uint32(t), Threads: uint8(p), SaltLen: uint32(len(salt)), KeyLen: uint32(len(hash))},
		Salt:   salt, Hash: hash,
	}, nil
}

// Hash returns the argon2id hash of password with p, in PHC string form.
// It does not check the policy: call CheckPassword first.
func (p HashParams) Hash(password string) string {
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return PHC{Params: p, Salt: salt, Hash: key}.String()
}

// NeedsRehash reports whether encoded is weaker than p (or unparsable), so
// that the next successful sign-in should store a fresh hash.
func (p HashParams) NeedsRehash(encoded string) bool {
	h, err := ParsePHC(encoded)
	if err != nil {
		return true
	}
	q := h.Params
	return q.Memory < p.Memory || q.Time < p.Time || q.SaltLen < p.SaltLen || q.KeyLen < p.KeyLen
}

// HashPassword hashes with DefaultHashParams.
func HashPassword(password string) string { return DefaultHashParams.Hash(password) }

// NeedsRehash is DefaultHashParams.NeedsRehash.
func NeedsRehash(encoded string) bool { return DefaultHashParams.NeedsRehash(encoded) }

// VerifyPassword reports whether password matches encoded, comparing in
// constant time. An unparsable hash is an error wrapping ErrInvalidHash.
func VerifyPassword(encoded, password string) (bool, error) {
	h, err := ParsePHC(encoded)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(password), h.Salt, h.Params.Time, h.Params.Memory, h.Params.Threads, uint32(len(h.Hash)))
	return subtle.ConstantTimeCompare(key, h.Hash) == 1, nil
}
