// Package totp implements the time-based one-time passwords of RFC 6238 as
// authenticator apps support them: HMAC-SHA1, 6 digits, 30-second steps.
// It is pure (no storage): package signin keeps the sealed secret and the
// last accepted step, which is what makes a code single-use.
package totp

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	gototp "github.com/pquerna/otp/totp"
)

// Parameters every authenticator app supports.
const (
	Issuer = "HCW@Home"
	Period = 30 // seconds
	Digits = 6
	// Skew is how many steps either side of now are accepted, for clock
	// drift and the time it takes to type the code.
	Skew = 1
	// qrSize is the QR code's width and height in pixels.
	qrSize = 256
	// maxInput bounds what ParseCode looks at.
	maxInput = 16
)

// ErrMalformed means the input is not a 6-digit code.
var ErrMalformed = errors.New("totp: malformed code")

// Enrolment is a freshly generated secret, as shown to the user once.
type Enrolment struct {
	// Secret is the base32 secret, for manual entry and for sealing.
	Secret string
	// URI is the otpauth:// URI the QR code encodes.
	URI string
	// QRPNG is the URI as a QR code, PNG-encoded.
	QRPNG []byte
}

// Generate creates a new 160-bit secret for accountName (the e-mail).
func Generate(accountName string) (Enrolment, error) {
	key, err := gototp.Generate(gototp.GenerateOpts{
		Issuer:      Issuer,
		AccountName: accountName,
		Period:      Period,
		SecretSize:  20,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return Enrolment{}, fmt.Errorf("generate totp secret: %w", err)
	}
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return Enrolment{}, fmt.Errorf("render totp qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Enrolment{}, fmt.Errorf("encode totp qr code: %w", err)
	}
	return Enrolment{Secret: key.Secret(), URI: key.URL(), QRPNG: buf.Bytes()}, nil
}

// ParseCode accepts six ASCII digits, optionally with spaces between or
// around them ("123456", "123 456"), and returns the six digits. Anything
// else, including other white space and non-ASCII digits, is ErrMalformed.
func ParseCode(s string) (string, error) {
	if len(s) > maxInput {
		return "", ErrMalformed
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		default:
			return "", ErrMalformed
		}
	}
	if b.Len() != Digits {
		return "", ErrMalformed
	}
	return b.String(), nil
}

// Step returns the RFC 6238 time step containing t.
func Step(t time.Time) int64 { return t.Unix() / Period }

// Code returns the code of secret at step.
func Code(secret string, step int64) (string, error) {
	if step < 0 {
		return "", fmt.Errorf("totp: negative step")
	}
	c, err := hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", fmt.Errorf("totp code: %w", err)
	}
	return c, nil
}

// Match looks for code (already parsed) among the steps now-Skew..now+Skew
// that are later than lastUsed, and returns the step it matched. Steps at or
// before lastUsed are never tried: a code is good once.
func Match(secret, code string, now time.Time, lastUsed int64) (int64, bool, error) {
	cur := Step(now)
	var matched int64
	found := 0
	for s := cur - Skew; s <= cur+Skew; s++ {
		if s <= lastUsed {
			continue
		}
		want, err := Code(secret, s)
		if err != nil {
			return 0, false, err
		}
		// Compare every candidate in constant time and keep going, so the
		// timing says nothing about which step matched.
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && found == 0 {
			matched, found = s, 1
		}
	}
	return matched, found == 1, nil
}
