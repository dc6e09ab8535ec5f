package grant

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func claims() Claims {
	return Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: "p-1"},
		Room:             "c-1", Node: "media-1", Name: "Ada", Role: "patient",
		Sources: []string{SourceCamera, SourceMicrophone},
	}
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestVerifyAcceptsAGoodGrant(t *testing.T) {
	k := newKey(t)
	tok, err := Sign(k, claims(), t0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewVerifier(k.Public().(ed25519.PublicKey)).Verify(tok, t0.Add(time.Minute), "c-1", "media-1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Participant() != "p-1" || c.Room != "c-1" || !c.Allows(SourceCamera) || c.Allows(SourceScreen) {
		t.Fatalf("claims %+v", c)
	}
	if !c.ExpiresAt.Time.Equal(t0.Add(DefaultTTL)) {
		t.Fatalf("expiry %v", c.ExpiresAt)
	}
}

func TestAudioOnlyAllowsOnlyTheMicrophone(t *testing.T) {
	c := claims()
	c.AudioOnly = true
	if c.Allows(SourceCamera) || !c.Allows(SourceMicrophone) {
		t.Fatal("audio-only grant allows video or refuses audio")
	}
}

// TestVerifyRefuses is the grant refusal table: every way a grant can be
// wrong, with the stable code the node and edge report.
func TestVerifyRefuses(t *testing.T) {
	k := newKey(t)
	other := newKey(t)
	pub := k.Public().(ed25519.PublicKey)
	good, _ := Sign(k, claims(), t0)
	parts := strings.Split(good, ".")
	signedBy := func(key ed25519.PrivateKey, mut func(*Claims)) string {
		c := claims()
		mut(&c)
		tok, err := Sign(key, c, t0)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// Hand-made tokens a careless verifier would accept.
	none := b64(map[string]string{"alg": "none", "typ": "JWT", "kid": KeyID(pub)}) + "." + parts[1] + "."
	hsHeader := b64(map[string]string{"alg": "HS256", "typ": "JWT", "kid": KeyID(pub)})
	mac := hmac.New(sha256.New, pub)
	mac.Write([]byte(hsHeader + "." + parts[1]))
	hs := hsHeader + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	forgedKid := b64(map[string]string{"alg": "EdDSA", "typ": "JWT", "kid": KeyID(pub)})
	otherSig, _ := Sign(other, claims(), t0)
	swapped := forgedKid + "." + parts[1] + "." + strings.Split(otherSig, ".")[2]
	tampered := parts[0] + "." + b64(map[string]any{"iss": Issuer, "aud": Audience, "sub": "p-2", "room": "c-1", "node": "media-1", "role": "doctor", "exp": t0.Add(time.Hour).Unix()}) + "." + parts[2]

	cases := []struct {
		name, token, room, node string
		at                      time.Time
		want                    error
		code                    string
	}{
		{"empty", "", "", "", t0, ErrMalformed, "grant_invalid"},
		{"garbage", "not-a-jwt", "", "", t0, ErrMalformed, "grant_invalid"},
		{"too long", strings.Repeat("a", MaxTokenLen) + "..", "", "", t0, ErrMalformed, "grant_invalid"},
		{"alg none", none, "", "", t0, ErrSignature, "grant_invalid"},
		{"alg HS256 keyed with the public key", hs, "", "", t0, ErrSignature, "grant_invalid"},
		{"signed by another key", signedBy(other, func(*Claims) {}), "", "", t0, ErrUnknownKey, "grant_invalid"},
		{"other key's signature under our kid", swapped, "", "", t0, ErrSignature, "grant_invalid"},
		{"claims tampered", tampered, "", "", t0, ErrSignature, "grant_invalid"},
		{"expired", good, "", "", t0.Add(DefaultTTL + time.Minute), ErrExpired, "grant_expired"},
		{"wrong room", good, "c-2", "", t0, ErrWrongRoom, "wrong_room"},
		{"wrong node", good, "", "media-2", t0, ErrWrongNode, "wrong_node"},
		{"not yet valid", signedBy(k, func(c *Claims) { c.NotBefore = jwt.NewNumericDate(t0.Add(time.Hour)) }), "", "", t0, ErrClaims, "grant_invalid"},
	}
	v := NewVerifier(pub)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.token, tc.at, tc.room, tc.node)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if got := Code(err); got != tc.code {
				t.Fatalf("code = %q, want %q", got, tc.code)
			}
		})
	}
}

func TestSignRefusesBadClaims(t *testing.T) {
	k := newKey(t)
	for name, mut := range map[string]func(*Claims){
		"no subject": func(c *Claims) { c.Subject = "" },
		"no room":    func(c *Claims) { c.Room = "" },
		"no node":    func(c *Claims) { c.Node = "" },
		"bad role":   func(c *Claims) { c.Role = "admin" },
		"bad source": func(c *Claims) { c.Sources = []string{"desktop"} },
	} {
		c := claims()
		mut(&c)
		if _, err := Sign(k, c, t0); !errors.Is(err, ErrClaims) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestJWKSRoundTripAndRotation(t *testing.T) {
	oldK, newK := newKey(t), newKey(t)
	doc, err := json.Marshal(NewJWKS(newK.Public().(ed25519.PublicKey), oldK.Public().(ed25519.PublicKey)))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseJWKS(doc)
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys %d err %v", len(keys), err)
	}
	v := NewVerifier(keys...)
	for _, k := range []ed25519.PrivateKey{oldK, newK} {
		tok, _ := Sign(k, claims(), t0)
		if _, err := v.Verify(tok, t0, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	var bad JWKS
	_ = json.Unmarshal(doc, &bad)
	bad.Keys[0].Kid = "forged"
	b, _ := json.Marshal(bad)
	if _, err := ParseJWKS(b); err == nil {
		t.Fatal("a kid not matching its key was accepted")
	}
	if _, err := ParseJWKS([]byte(`{"keys":[]}`)); err == nil {
		t.Fatal("an empty set was accepted")
	}
}

func TestFromSubprotocols(t *testing.T) {
	tok, ok := FromSubprotocols([]string{"hcw.signal.v1, hcw.grant.a.b.c"})
	if tok != "a.b.c" || !ok {
		t.Fatalf("%q %v", tok, ok)
	}
	tok, ok = FromSubprotocols([]string{"hcw.grant.x.y.z"})
	if tok != "x.y.z" || ok {
		t.Fatalf("%q %v", tok, ok)
	}
}
