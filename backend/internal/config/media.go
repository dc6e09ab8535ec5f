package config

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"time"

	"github.com/hcw-home/hcw/contract/nodeapi"
	"github.com/hcw-home/hcw/contract/turncred"
)

// Variables of the call (media) side: the secret shared with media nodes,
// the grant signing keys, TURN credentials and the call timers.
const (
	EnvMediaNodeSecret         = "HCW_MEDIA_NODE_SECRET"
	EnvGrantSigningKey         = "HCW_GRANT_SIGNING_KEY"
	EnvGrantPublicKeysPrevious = "HCW_GRANT_PUBLIC_KEYS_PREVIOUS"
	EnvTURNSecret              = "HCW_TURN_SECRET"
	EnvTURNHost                = "HCW_TURN_HOST"
	EnvTURNURLs                = "HCW_TURN_URLS"
	EnvTURNCredentialTTL       = "HCW_TURN_CREDENTIAL_TTL"
	EnvMediaGrantTTL           = "HCW_MEDIA_GRANT_TTL"
	EnvCallRingTimeout         = "HCW_CALL_RING_TIMEOUT"
	EnvCallMaxDuration         = "HCW_CALL_MAX_DURATION"
	EnvMediaHost               = "HCW_MEDIA_HOST"
)

// Defaults of the call variables.
const (
	DefaultTURNCredentialTTL = 12 * time.Hour
	DefaultMediaGrantTTL     = 5 * time.Minute
	DefaultCallRingTimeout   = 5 * time.Minute
	DefaultCallMaxDuration   = 4 * time.Hour
)

// Bounds of the call variables.
const (
	minMediaGrantTTL           = 10 * time.Second
	maxMediaGrantTTL           = time.Hour
	minTURNCredentialTTL       = 10 * time.Minute
	maxTURNCredentialTTL       = 48 * time.Hour
	minCallRingTimeout         = 10 * time.Second
	maxCallRingTimeout         = time.Hour
	minCallMaxDuration         = time.Minute
	maxCallMaxDuration         = 24 * time.Hour
	maxPreviousGrantPublicKeys = 8
)

// Default TURN ports (TURN over TLS goes through the edge's 443) and the
// hints of error messages.
const (
	defaultTURNPort    = "3478"
	defaultTURNTLSPort = "443"
	grantKeyHint       = "an Ed25519 PKCS#8 PEM private key, as in the generated grant_signing_key.pem file"
	grantPublicKeyHint = "Ed25519 PEM public keys, as in the generated grant_signing_key.pub.pem file"
	turnURLHint        = "turn:, turns: or stun: URLs separated by commas"
)

// Media is the configuration of calls.
type Media struct {
	// NodeSecret is the bearer secret media nodes and the backend share
	// (contract/nodeapi), at least nodeapi.MinSecretLen bytes.
	NodeSecret string
	// GrantKey signs media grants (contract/grant).
	GrantKey ed25519.PrivateKey
	// PreviousGrantKeys are public keys still published in the JWKS during
	// a rotation, so grants signed just before it still verify.
	PreviousGrantKeys []ed25519.PublicKey
	// TURNSecret mints TURN REST credentials (contract/turncred).
	TURNSecret []byte
	// TURNHost is the public TURN host name; TURNURLs the ICE server URLs
	// given to clients (derived from TURNHost unless HCW_TURN_URLS is set).
	TURNHost string
	TURNURLs []string
	// TURNCredentialTTL is the life of a minted TURN credential (checked
	// on allocation only, so a longer call keeps its relay).
	TURNCredentialTTL time.Duration
	// GrantTTL is how long a media grant may be used to join.
	GrantTTL time.Duration
	// RingTimeout ends a call nobody accepted; MaxDuration any call.
	RingTimeout, MaxDuration time.Duration
	// Host is the public media host: signalling URLs are
	// wss://<Host>/n/<node id>/signal.
	Host string
}

// GrantPublicKeys returns the public keys the JWKS publishes: the current
// key first, then the previous ones.
func (m Media) GrantPublicKeys() []ed25519.PublicKey {
	keys := []ed25519.PublicKey{m.GrantKey.Public().(ed25519.PublicKey)}
	return append(keys, m.PreviousGrantKeys...)
}

// media parses the call variables; domain is the validated HCW_DOMAIN.
func (p parser) media(domain string) (Media, error) {
	var m Media
	var err error
	secret, err := p.secret(EnvMediaNodeSecret)
	if err != nil {
		return Media{}, err
	}
	switch {
	case secret == "":
		return Media{}, invalidf("%s (or %s%s) is required: media nodes authenticate with it (`backend secrets init` generates one)", EnvMediaNodeSecret, EnvMediaNodeSecret, fileSuffix)
	case len(secret) < nodeapi.MinSecretLen:
		return Media{}, invalidf("%s: shorter than %d bytes", p.sourceName(EnvMediaNodeSecret), nodeapi.MinSecretLen)
	case strings.ContainsAny(secret, " \t\r\n"):
		return Media{}, invalidf("%s: contains white space (it travels in an Authorization header)", p.sourceName(EnvMediaNodeSecret))
	}
	m.NodeSecret = secret

	if m.GrantKey, err = p.grantKey(); err != nil {
		return Media{}, err
	}
	if m.PreviousGrantKeys, err = p.previousGrantKeys(); err != nil {
		return Media{}, err
	}

	turn, err := p.secret(EnvTURNSecret)
	if err != nil {
		return Media{}, err
	}
	switch {
	case turn == "":
		return Media{}, invalidf("%s (or %s%s) is required: TURN credentials are minted with it (`backend secrets init` generates one)", EnvTURNSecret, EnvTURNSecret, fileSuffix)
	case len(turn) < turncred.MinSecretLen:
		return Media{}, invalidf("%s: shorter than %d bytes", p.sourceName(EnvTURNSecret), turncred.MinSecretLen)
	}
	m.TURNSecret = []byte(turn)

	if m.TURNHost, err = p.hostName(EnvTURNHost, "turn."+domain); err != nil {
		return Media{}, err
	}
	if m.TURNURLs, err = p.turnURLs(m.TURNHost); err != nil {
		return Media{}, err
	}
	if m.Host, err = p.hostName(EnvMediaHost, "media."+domain); err != nil {
		return Media{}, err
	}
	for _, d := range []struct {
		dst      *time.Duration
		key      string
		def      time.Duration
		min, max time.Duration
	}{
		{&m.TURNCredentialTTL, EnvTURNCredentialTTL, DefaultTURNCredentialTTL, minTURNCredentialTTL, maxTURNCredentialTTL},
		{&m.GrantTTL, EnvMediaGrantTTL, DefaultMediaGrantTTL, minMediaGrantTTL, maxMediaGrantTTL},
		{&m.RingTimeout, EnvCallRingTimeout, DefaultCallRingTimeout, minCallRingTimeout, maxCallRingTimeout},
		{&m.MaxDuration, EnvCallMaxDuration, DefaultCallMaxDuration, minCallMaxDuration, maxCallMaxDuration},
	} {
		if *d.dst, err = p.positiveDuration(d.key, d.def); err != nil {
			return Media{}, err
		}
		if *d.dst < d.min || *d.dst > d.max {
			return Media{}, invalidf("%s: %s is not between %s and %s", d.key, *d.dst, d.min, d.max)
		}
	}
	if m.RingTimeout >= m.MaxDuration {
		return Media{}, invalidf("%s (%s) must be shorter than %s (%s)", EnvCallRingTimeout, m.RingTimeout, EnvCallMaxDuration, m.MaxDuration)
	}
	return m, nil
}

// sourceName is key, or key_FILE when the value came from a file, for
// error messages that never repeat the value.
func (p parser) sourceName(key string) string {
	if p.get(key+fileSuffix) != "" {
		return key + fileSuffix
	}
	return key
}

func (p parser) grantKey() (ed25519.PrivateKey, error) {
	v, err := p.secret(EnvGrantSigningKey)
	if err != nil {
		return nil, err
	}
	if v == "" {
		return nil, invalidf("%s (or %s%s) is required: media grants are signed with it (`backend secrets init` generates one)", EnvGrantSigningKey, EnvGrantSigningKey, fileSuffix)
	}
	k, err := ParseGrantKey([]byte(v))
	if err != nil {
		return nil, invalidf("%s: %v (%s)", p.sourceName(EnvGrantSigningKey), err, grantKeyHint)
	}
	return k, nil
}

func (p parser) previousGrantKeys() ([]ed25519.PublicKey, error) {
	v, err := p.secret(EnvGrantPublicKeysPrevious)
	if err != nil || strings.TrimSpace(v) == "" {
		return nil, err
	}
	name := p.sourceName(EnvGrantPublicKeysPrevious)
	var keys []ed25519.PublicKey
	rest := []byte(v)
	for i := 1; ; i++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if strings.TrimSpace(string(rest)) != "" {
				return nil, invalidf("%s: key %d is not PEM (%s)", name, i, grantPublicKeyHint)
			}
			break
		}
		k, err := parseGrantPublicKey(block)
		if err != nil {
			return nil, invalidf("%s: key %d: %v (%s)", name, i, err, grantPublicKeyHint)
		}
		keys = append(keys, k)
	}
	if len(keys) > maxPreviousGrantPublicKeys {
		return nil, invalidf("%s: %d keys; at most %d", name, len(keys), maxPreviousGrantPublicKeys)
	}
	return keys, nil
}

// ParseGrantKey parses an Ed25519 PKCS#8 PEM private key.
func ParseGrantKey(b []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PKCS#8 PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("not a PKCS#8 private key")
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("not an Ed25519 key")
	}
	return ek, nil
}

func parseGrantPublicKey(block *pem.Block) (ed25519.PublicKey, error) {
	if block.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM public key")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, errors.New("not a PKIX public key")
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("not an Ed25519 key")
	}
	return ek, nil
}

// turnURLs returns HCW_TURN_URLS, or the default set on host: TURN over
// UDP and TCP on 3478 and TURN over TLS on 443 (through the edge).
func (p parser) turnURLs(host string) ([]string, error) {
	v := p.get(EnvTURNURLs)
	if v == "" {
		return []string{
			"turn:" + host + ":" + defaultTURNPort + "?transport=udp",
			"turn:" + host + ":" + defaultTURNPort + "?transport=tcp",
			"turns:" + host + ":" + defaultTURNTLSPort + "?transport=tcp",
		}, nil
	}
	var out []string
	for f := range strings.SplitSeq(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		scheme, rest, ok := strings.Cut(f, ":")
		if !ok || (scheme != "turn" && scheme != "turns" && scheme != "stun" && scheme != "stuns") || rest == "" ||
			strings.ContainsAny(rest, " /@#") || len(f) > 256 {
			return nil, invalidf("%s: %q is not a TURN or STUN URL (%s)", EnvTURNURLs, f, turnURLHint)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, invalidf("%s: no URL (%s)", EnvTURNURLs, turnURLHint)
	}
	return out, nil
}
