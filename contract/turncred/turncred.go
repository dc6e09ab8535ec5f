// Package turncred implements the TURN REST credential scheme shared by the
// backend (which mints credentials for a participant) and the TURN server
// (which checks them): the username is "<expiry-unix>:<user>" and the
// password is base64(HMAC-SHA1(secret, username)).
//
// The scheme is the one described in draft-uberti-behave-turn-rest-00 and
// implemented by coturn's use-auth-secret and pion/turn's
// LongTermTURNRESTAuthHandler, so any of those servers accepts what Mint
// produces.
package turncred

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what the TURN REST scheme specifies.
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MinSecretLen is the shortest shared secret accepted, in bytes. The secret
// is the only thing standing between the internet and a relay, so a short
// operator-supplied one is refused rather than silently used.
const MinSecretLen = 16

// MaxUserLen bounds the user part of a username, so a credential fits in a
// STUN USERNAME attribute (513 bytes) with room for the expiry.
const MaxUserLen = 256

// Errors returned by Parse and Check.
var (
	ErrMalformed = errors.New("turncred: malformed username")
	ErrExpired   = errors.New("turncred: credential expired")
	ErrSecret    = errors.New("turncred: shared secret too short")
)

// Credential is one minted TURN credential, as handed to a browser in its
// ICE server list.
type Credential struct {
	Username string    `json:"username"`
	Password string    `json:"credential"`
	Expires  time.Time `json:"expires"`
}

// Mint returns a credential for user valid until now+ttl.
func Mint(secret []byte, user string, ttl time.Duration, now time.Time) (Credential, error) {
	if len(secret) < MinSecretLen {
		return Credential{}, ErrSecret
	}
	if user == "" || len(user) > MaxUserLen || strings.ContainsAny(user, ":\x00") {
		return Credential{}, fmt.Errorf("mint: %w: user must be 1 to %d bytes without ':'", ErrMalformed, MaxUserLen)
	}
	if ttl <= 0 {
		return Credential{}, fmt.Errorf("mint: ttl %s is not positive", ttl)
	}
	expires := now.Add(ttl).Truncate(time.Second)
	username := strconv.FormatInt(expires.Unix(), 10) + ":" + user
	return Credential{Username: username, Password: Password(secret, username), Expires: expires}, nil
}

// Password derives the password of username under secret.
func Password(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Parse splits a username into its expiry and user parts.
func Parse(username string) (expires time.Time, user string, err error) {
	ts, user, ok := strings.Cut(username, ":")
	if !ok || user == "" || len(user) > MaxUserLen {
		return time.Time{}, "", ErrMalformed
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || unix <= 0 {
		return time.Time{}, "", ErrMalformed
	}
	return time.Unix(unix, 0), user, nil
}

// Check reports whether username is well formed and not expired at now.
// It does not check the password: a TURN server proves that through the
// MESSAGE-INTEGRITY of the request, keyed with Password.
func Check(username string, now time.Time) (user string, err error) {
	expires, user, err := Parse(username)
	if err != nil {
		return "", err
	}
	if !now.Before(expires) {
		return "", ErrExpired
	}
	return user, nil
}
