package config_test

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/config"
)

func publicPEM(t *testing.T, k ed25519.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func TestMediaDefaults(t *testing.T) {
	o, err := config.Parse(env(map[string]string{"HCW_DOMAIN": "example.org"}))
	require.NoError(t, err)
	m := o.Media
	assert.Equal(t, "a-node-secret-of-some-length", m.NodeSecret)
	require.Len(t, m.GrantKey, ed25519.PrivateKeySize)
	assert.Empty(t, m.PreviousGrantKeys)
	assert.Equal(t, []ed25519.PublicKey{m.GrantKey.Public().(ed25519.PublicKey)}, m.GrantPublicKeys())
	assert.Equal(t, []byte("a-turn-secret-of-some-length"), m.TURNSecret)
	assert.Equal(t, "turn.example.org", m.TURNHost)
	assert.Equal(t, []string{
		"turn:turn.example.org:3478?transport=udp",
		"turn:turn.example.org:3478?transport=tcp",
		"turns:turn.example.org:443?transport=tcp",
	}, m.TURNURLs)
	assert.Equal(t, "media.example.org", m.Host)
	assert.Equal(t, 12*time.Hour, m.TURNCredentialTTL)
	assert.Equal(t, 5*time.Minute, m.GrantTTL)
	assert.Equal(t, 5*time.Minute, m.RingTimeout)
	assert.Equal(t, 4*time.Hour, m.MaxDuration)
}

func TestMediaValues(t *testing.T) {
	prev1, _, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	prev2, _, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	dir := t.TempDir()
	prevFile := filepath.Join(dir, "previous.pem")
	require.NoError(t, os.WriteFile(prevFile, []byte(publicPEM(t, prev1)+"\n"+publicPEM(t, prev2)), 0o440))
	secretFile := filepath.Join(dir, "media_node_secret")
	require.NoError(t, os.WriteFile(secretFile, []byte("from-a-file-0123456789\n"), 0o440))

	o, err := config.Parse(env(map[string]string{
		"HCW_MEDIA_NODE_SECRET_FILE":          secretFile,
		"HCW_GRANT_PUBLIC_KEYS_PREVIOUS_FILE": prevFile,
		"HCW_TURN_HOST":                       "Relay.Example.net",
		"HCW_TURN_URLS":                       "turns:relay.example.net:443?transport=tcp, stun:relay.example.net:3478",
		"HCW_TURN_CREDENTIAL_TTL":             "2h",
		"HCW_MEDIA_GRANT_TTL":                 "1m",
		"HCW_CALL_RING_TIMEOUT":               "30s",
		"HCW_CALL_MAX_DURATION":               "90m",
		"HCW_MEDIA_HOST":                      "calls.example.net",
	}))
	require.NoError(t, err)
	m := o.Media
	assert.Equal(t, "from-a-file-0123456789", m.NodeSecret)
	assert.Equal(t, []ed25519.PublicKey{prev1, prev2}, m.PreviousGrantKeys)
	assert.Len(t, m.GrantPublicKeys(), 3)
	assert.Equal(t, "relay.example.net", m.TURNHost)
	assert.Equal(t, []string{"turns:relay.example.net:443?transport=tcp", "stun:relay.example.net:3478"}, m.TURNURLs)
	assert.Equal(t, 2*time.Hour, m.TURNCredentialTTL)
	assert.Equal(t, time.Minute, m.GrantTTL)
	assert.Equal(t, 30*time.Second, m.RingTimeout)
	assert.Equal(t, 90*time.Minute, m.MaxDuration)
	assert.Equal(t, "calls.example.net", m.Host)
}

func TestMediaErrorsNameTheVariable(t *testing.T) {
	rsa := "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----\n"
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"no node secret":           {map[string]string{"HCW_MEDIA_NODE_SECRET": ""}, "HCW_MEDIA_NODE_SECRET (or HCW_MEDIA_NODE_SECRET_FILE) is required"},
		"short node secret":        {map[string]string{"HCW_MEDIA_NODE_SECRET": "short"}, "HCW_MEDIA_NODE_SECRET: shorter than 16 bytes"},
		"node secret with a space": {map[string]string{"HCW_MEDIA_NODE_SECRET": "a secret with spaces"}, "HCW_MEDIA_NODE_SECRET: contains white space"},
		"no grant key":             {map[string]string{"HCW_GRANT_SIGNING_KEY": ""}, "HCW_GRANT_SIGNING_KEY (or HCW_GRANT_SIGNING_KEY_FILE) is required"},
		"grant key not PEM":        {map[string]string{"HCW_GRANT_SIGNING_KEY": "not a key"}, "HCW_GRANT_SIGNING_KEY: not a PKCS#8 PEM private key"},
		"grant key not Ed25519":    {map[string]string{"HCW_GRANT_SIGNING_KEY": rsa}, "HCW_GRANT_SIGNING_KEY: not a PKCS#8 private key"},
		"previous keys garbage":    {map[string]string{"HCW_GRANT_PUBLIC_KEYS_PREVIOUS": "garbage"}, "HCW_GRANT_PUBLIC_KEYS_PREVIOUS: key 1 is not PEM"},
		"previous key private":     {map[string]string{"HCW_GRANT_PUBLIC_KEYS_PREVIOUS": testGrantKey}, "HCW_GRANT_PUBLIC_KEYS_PREVIOUS: key 1: not a PEM public key"},
		"no TURN secret":           {map[string]string{"HCW_TURN_SECRET": ""}, "HCW_TURN_SECRET (or HCW_TURN_SECRET_FILE) is required"},
		"short TURN secret":        {map[string]string{"HCW_TURN_SECRET": "short"}, "HCW_TURN_SECRET: shorter than 16 bytes"},
		"bad TURN host":            {map[string]string{"HCW_TURN_HOST": "https://turn"}, "HCW_TURN_HOST"},
		"bad TURN URL":             {map[string]string{"HCW_TURN_URLS": "http://turn.example.org"}, "HCW_TURN_URLS: \"http://turn.example.org\" is not a TURN or STUN URL"},
		"empty TURN URLs":          {map[string]string{"HCW_TURN_URLS": " , "}, "HCW_TURN_URLS: no URL"},
		"TURN TTL too short":       {map[string]string{"HCW_TURN_CREDENTIAL_TTL": "1m"}, "HCW_TURN_CREDENTIAL_TTL: 1m0s is not between"},
		"grant TTL not a duration": {map[string]string{"HCW_MEDIA_GRANT_TTL": "five"}, "HCW_MEDIA_GRANT_TTL: \"five\" is not a positive duration"},
		"grant TTL too long":       {map[string]string{"HCW_MEDIA_GRANT_TTL": "2h"}, "HCW_MEDIA_GRANT_TTL: 2h0m0s is not between"},
		"ring longer than call":    {map[string]string{"HCW_CALL_RING_TIMEOUT": "30m", "HCW_CALL_MAX_DURATION": "20m"}, "HCW_CALL_RING_TIMEOUT (30m0s) must be shorter than HCW_CALL_MAX_DURATION"},
		"bad media host":           {map[string]string{"HCW_MEDIA_HOST": "media.example.org:443"}, "HCW_MEDIA_HOST"},
		"secret and file":          {map[string]string{"HCW_TURN_SECRET_FILE": "/nonexistent"}, "HCW_TURN_SECRET and HCW_TURN_SECRET_FILE are both set"},
	} {
		t.Run(name, func(t *testing.T) {
			e := tc.env
			if name == "secret and file" {
				e = map[string]string{"HCW_TURN_SECRET": "a-turn-secret-of-some-length", "HCW_TURN_SECRET_FILE": "/nonexistent"}
			}
			_, err := config.Parse(env(e))
			require.Error(t, err)
			assert.ErrorIs(t, err, config.ErrInvalid)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n", "one line")
			for k, v := range e {
				if (strings.Contains(k, "SECRET") || strings.Contains(k, "KEY")) && len(v) > 8 {
					assert.NotContains(t, err.Error(), v, "a secret is not repeated")
				}
			}
		})
	}
}
