package consultation

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// tokenBytes is the entropy of invite and participant session tokens.
const tokenBytes = 32

var tokenEncoding = base64.RawURLEncoding

// sessionPrefix starts a participant session token as handed out in the
// session cookie, which staff sessions (package signin) share: their
// tokens have no prefix, so the staff lookup refuses a participant's
// token by its shape, without a database round trip, on every request and
// socket of a participant. The prefix is not hashed; tokens issued without
// it are still accepted.
const sessionPrefix = "p."

// TokenLen is the length of a token in characters (43).
var TokenLen = tokenEncoding.EncodedLen(tokenBytes)

// Token is a well-formed invite or participant session token: 256 bits in
// unpadded base64url. Its String is the secret; never log it.
type Token struct{ s string }

// String returns the token as handed out (in links and cookies).
func (t Token) String() string { return t.s }

// Hash is what the database keeps: SHA-256 of the token's text.
func (t Token) Hash() []byte {
	sum := sha256.Sum256([]byte(t.s))
	return sum[:]
}

// newToken returns a fresh random token.
func newToken() Token {
	b := make([]byte, tokenBytes)
	rand.Read(b) // never fails; aborts the process on a broken system
	return Token{tokenEncoding.EncodeToString(b)}
}

// ParseInviteToken checks that s can be a token (length, strict base64url
// without padding, canonical encoding) so that junk never reaches the
// database. It returns ErrInviteInvalid otherwise.
func ParseInviteToken(s string) (Token, error) {
	if len(s) != TokenLen {
		return Token{}, ErrInviteInvalid
	}
	b, err := tokenEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != tokenBytes {
		return Token{}, ErrInviteInvalid
	}
	return Token{s}, nil
}
