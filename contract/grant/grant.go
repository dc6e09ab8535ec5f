// Package grant defines the media grant: a short-lived JWT the backend signs
// with Ed25519 (alg EdDSA) to let one participant join one consultation's
// call on one media node. The edge checks it before a signalling upgrade
// reaches a node, and the node checks it again when the socket opens.
//
// A grant rides in the WebSocket subprotocol list ("hcw.grant.<jwt>", next
// to the protocol name "hcw.signal.v1"), never in the URL, so it never
// reaches an access log. The algorithm is pinned to EdDSA: "none", HMAC and
// RSA grants are refused whatever their header says.
package grant

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer and Audience are the fixed iss and aud of every grant.
const (
	Issuer   = "hcw-backend"
	Audience = "hcw-media"
)

// Subprotocol is the signalling protocol name a client offers and a node
// selects; SubprotocolPrefix prefixes the grant in the same list.
const (
	Subprotocol       = "hcw.signal.v1"
	SubprotocolPrefix = "hcw.grant."
)

// DefaultTTL is how long a grant may be used to join (not how long the call
// may last: an open socket outlives its grant; revocation goes through the
// node's control API).
const DefaultTTL = 5 * time.Minute

// MaxTokenLen bounds a grant's encoded length; anything longer is refused
// before it is parsed.
const MaxTokenLen = 4096

// Sources a grant may allow.
const (
	SourceCamera     = "camera"
	SourceMicrophone = "microphone"
	SourceScreen     = "screen"
)

// Roles a participant may hold in a call (the consultation roles).
var Roles = []string{"doctor", "nurse", "patient", "guest", "interpreter", "expert"}

// Errors returned by Verify. Each maps to one stable signalling error code
// (see Code).
var (
	ErrMalformed  = errors.New("grant: malformed")
	ErrSignature  = errors.New("grant: bad signature or algorithm")
	ErrUnknownKey = errors.New("grant: unknown signing key")
	ErrExpired    = errors.New("grant: expired")
	ErrClaims     = errors.New("grant: invalid claims")
	ErrWrongRoom  = errors.New("grant: for another room")
	ErrWrongNode  = errors.New("grant: for another media node")
)

// Code returns the stable error code a node or the edge reports for err.
func Code(err error) string {
	switch {
	case errors.Is(err, ErrExpired):
		return "grant_expired"
	case errors.Is(err, ErrWrongRoom):
		return "wrong_room"
	case errors.Is(err, ErrWrongNode):
		return "wrong_node"
	case err == nil:
		return ""
	default:
		return "grant_invalid"
	}
}

// Claims are a grant's content.
type Claims struct {
	jwt.RegisteredClaims
	// Room is the consultation id.
	Room string `json:"room"`
	// Node is the media node id the backend placed the room on.
	Node string `json:"node"`
	// Name is the participant's display name as others see it.
	Name string `json:"name"`
	// Role is one of Roles.
	Role string `json:"role"`
	// Sources lists what the participant may publish.
	Sources []string `json:"sources"`
	// AudioOnly: the call was started as an audio call; video publishing is
	// refused whatever Sources says.
	AudioOnly bool `json:"audio_only,omitempty"`
}

// Participant returns the participant id (the subject).
func (c *Claims) Participant() string { return c.Subject }

// Allows reports whether the grant lets its holder publish source.
func (c *Claims) Allows(source string) bool {
	if c.AudioOnly && source != SourceMicrophone {
		return false
	}
	return slices.Contains(c.Sources, source)
}

func (c *Claims) validate() error {
	switch {
	case c.Issuer != Issuer:
		return fmt.Errorf("%w: issuer %q", ErrClaims, c.Issuer)
	case !slices.Contains([]string(c.Audience), Audience):
		return fmt.Errorf("%w: audience", ErrClaims)
	case c.Subject == "" || len(c.Subject) > 128:
		return fmt.Errorf("%w: subject", ErrClaims)
	case c.Room == "" || len(c.Room) > 128:
		return fmt.Errorf("%w: room", ErrClaims)
	case c.Node == "" || len(c.Node) > 64:
		return fmt.Errorf("%w: node", ErrClaims)
	case len(c.Name) > 200:
		return fmt.Errorf("%w: name", ErrClaims)
	case !slices.Contains(Roles, c.Role):
		return fmt.Errorf("%w: role %q", ErrClaims, c.Role)
	case c.ExpiresAt == nil:
		return fmt.Errorf("%w: no expiry", ErrClaims)
	}
	for _, s := range c.Sources {
		if s != SourceCamera && s != SourceMicrophone && s != SourceScreen {
			return fmt.Errorf("%w: source %q", ErrClaims, s)
		}
	}
	return nil
}

// KeyID derives the kid of an Ed25519 public key: the first 16 characters
// of the base64url SHA-256 of the key. Backend and nodes compute it alike,
// so a JWKS needs no coordination.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:])[:16]
}

// Sign returns the compact JWT for c, signed with key. It fills iss, aud
// and iat; the caller sets subject, room, node, role, sources and expiry.
func Sign(key ed25519.PrivateKey, c Claims, now time.Time) (string, error) {
	c.Issuer = Issuer
	c.Audience = jwt.ClaimStrings{Audience}
	c.IssuedAt = jwt.NewNumericDate(now)
	if c.ExpiresAt == nil {
		c.ExpiresAt = jwt.NewNumericDate(now.Add(DefaultTTL))
	}
	if err := c.validate(); err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, &c)
	t.Header["kid"] = KeyID(key.Public().(ed25519.PublicKey))
	return t.SignedString(key)
}

// Verifier checks grants against a set of public keys, which may be
// replaced at any time (a JWKS refresh).
type Verifier struct {
	mu   sync.RWMutex
	keys map[string]ed25519.PublicKey
	// Leeway tolerates clock skew between backend and node on exp/nbf/iat.
	Leeway time.Duration
}

// NewVerifier returns a Verifier trusting keys.
func NewVerifier(keys ...ed25519.PublicKey) *Verifier {
	v := &Verifier{Leeway: 5 * time.Second}
	v.SetKeys(keys...)
	return v
}

// SetKeys replaces the trusted keys.
func (v *Verifier) SetKeys(keys ...ed25519.PublicKey) {
	m := make(map[string]ed25519.PublicKey, len(keys))
	for _, k := range keys {
		m[KeyID(k)] = k
	}
	v.mu.Lock()
	v.keys = m
	v.mu.Unlock()
}

// HasKey reports whether kid is trusted (a caller may refresh its JWKS on a
// miss before giving up).
func (v *Verifier) HasKey(kid string) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	_, ok := v.keys[kid]
	return ok
}

// Verify parses and checks token at now. Room and node, when not empty,
// must match the grant's. The error wraps one of the package's errors.
func (v *Verifier) Verify(token string, now time.Time, room, node string) (*Claims, error) {
	if token == "" || len(token) > MaxTokenLen || strings.Count(token, ".") != 2 {
		return nil, ErrMalformed
	}
	var c Claims
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithLeeway(v.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(Audience),
	)
	_, err := p.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		v.mu.RLock()
		k, ok := v.keys[kid]
		v.mu.RUnlock()
		if !ok {
			return nil, ErrUnknownKey
		}
		return k, nil
	})
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrExpired
	case errors.Is(err, ErrUnknownKey):
		return nil, ErrUnknownKey
	case errors.Is(err, jwt.ErrTokenMalformed):
		return nil, ErrMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return nil, ErrSignature
	default:
		return nil, fmt.Errorf("%w: %v", ErrClaims, err)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	if room != "" && c.Room != room {
		return nil, ErrWrongRoom
	}
	if node != "" && c.Node != node {
		return nil, ErrWrongNode
	}
	return &c, nil
}

// FromSubprotocols finds the grant in a WebSocket's offered subprotocols
// (the Sec-WebSocket-Protocol header values, comma-separated or not). It
// reports whether the signalling protocol itself was offered.
func FromSubprotocols(values []string) (token string, offered bool) {
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			switch {
			case p == Subprotocol:
				offered = true
			case strings.HasPrefix(p, SubprotocolPrefix) && token == "":
				token = strings.TrimPrefix(p, SubprotocolPrefix)
			}
		}
	}
	return token, offered
}

// JWK is one Ed25519 public key as an RFC 8037 OKP JSON Web Key.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS is a JSON Web Key Set, as the backend serves it.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// NewJWKS builds the set for keys (the current key first).
func NewJWKS(keys ...ed25519.PublicKey) JWKS {
	s := JWKS{Keys: make([]JWK, 0, len(keys))}
	for _, k := range keys {
		s.Keys = append(s.Keys, JWK{
			Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k),
			Kid: KeyID(k), Alg: "EdDSA", Use: "sig",
		})
	}
	return s
}

// ParseJWKS returns the Ed25519 keys of a JWKS document, refusing a set with
// no usable key or a key whose kid does not match its content.
func ParseJWKS(data []byte) ([]ed25519.PublicKey, error) {
	var s JWKS
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	var keys []ed25519.PublicKey
	for _, k := range s.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" || (k.Alg != "" && k.Alg != "EdDSA") {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("jwks: key %q: bad x", k.Kid)
		}
		pub := ed25519.PublicKey(x)
		if k.Kid != KeyID(pub) {
			return nil, fmt.Errorf("jwks: key %q: kid does not match the key", k.Kid)
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, errors.New("jwks: no Ed25519 key")
	}
	return keys, nil
}
