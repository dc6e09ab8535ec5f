package config

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const goodSecret = "0123456789abcdef-node-secret"

// env returns a lookup over m, with a valid node secret unless the test
// sets HCW_MEDIA_NODE_SECRET or its _FILE variant itself (even to "").
func env(m map[string]string) LookupFunc {
	return func(k string) (string, bool) {
		if k == EnvNodeSecret {
			_, hasFile := m[EnvNodeSecret+fileSuffix]
			if v, ok := m[k]; ok || hasFile {
				return v, ok
			}
			return goodSecret, true
		}
		v, ok := m[k]
		return v, ok
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse(env(nil))
	require.NoError(t, err)
	assert.Equal(t, "media-1", c.NodeID)
	assert.Equal(t, 7882, c.UDPPort)
	assert.Equal(t, 7881, c.TCPPort)
	assert.Equal(t, ":7880", c.HTTPListen)
	assert.Equal(t, "7880", c.HTTPPort)
	assert.Empty(t, c.PublicIPs)
	assert.Equal(t, "media-1:7880", c.Upstream)
	assert.Equal(t, 200, c.Capacity)
	assert.Equal(t, 30*time.Second, c.GracePeriod)
	assert.Equal(t, 2*time.Hour, c.DrainTimeout)
	assert.Equal(t, "http://backend:8080", c.BackendURL)
	assert.Equal(t, goodSecret, c.NodeSecret)
	assert.Equal(t, "http://backend:8080/api/v1/media/jwks", c.JWKSURL)
	assert.Equal(t, slog.LevelInfo, c.LogLevel)
	assert.Equal(t, int64(10_000_000), c.ProbeMaxBitrate)
}

func TestDerivedDefaultsFollowTheirSources(t *testing.T) {
	c, err := Parse(env(map[string]string{
		EnvNodeID:     "media-2",
		EnvHTTPListen: "0.0.0.0:9000",
		EnvBackendURL: "https://backend.internal:8443/",
	}))
	require.NoError(t, err)
	assert.Equal(t, "media-2:9000", c.Upstream)
	assert.Equal(t, "https://backend.internal:8443", c.BackendURL)
	assert.Equal(t, "https://backend.internal:8443/api/v1/media/jwks", c.JWKSURL)
}

func TestExplicitValues(t *testing.T) {
	c, err := Parse(env(map[string]string{
		EnvPublicIP:     "203.0.113.5, 2001:db8::5",
		EnvTCPPort:      "0",
		EnvUpstream:     "10.0.0.7:7880",
		EnvCapacity:     "50",
		EnvGracePeriod:  "5s",
		EnvDrainTimeout: "10m",
		EnvJWKSURL:      "http://keys:8080/jwks",
		EnvLogLevel:     "DEBUG",
	}))
	require.NoError(t, err)
	require.Len(t, c.PublicIPs, 2)
	assert.Equal(t, "203.0.113.5", c.PublicIPs[0].String())
	assert.Equal(t, "2001:db8::5", c.PublicIPs[1].String())
	assert.Equal(t, 0, c.TCPPort, "0 disables ICE-TCP")
	assert.Equal(t, "10.0.0.7:7880", c.Upstream)
	assert.Equal(t, 50, c.Capacity)
	assert.Equal(t, 5*time.Second, c.GracePeriod)
	assert.Equal(t, 10*time.Minute, c.DrainTimeout)
	assert.Equal(t, "http://keys:8080/jwks", c.JWKSURL)
	assert.Equal(t, slog.LevelDebug, c.LogLevel)
}

func TestProbeMaxBitrate(t *testing.T) {
	for in, want := range map[string]int64{
		"0":       0, // off
		"100k":    100_000,
		"2500000": 2_500_000,
		"25M":     25_000_000,
		"1000M":   1_000_000_000,
		" 8M ":    8_000_000,
		"100000":  100_000,
	} {
		c, err := Parse(env(map[string]string{EnvProbeMax: in}))
		require.NoError(t, err, in)
		assert.Equal(t, want, c.ProbeMaxBitrate, in)
	}
}

func TestSecretFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node_secret")
	require.NoError(t, os.WriteFile(path, []byte(goodSecret+"\n"), 0o600))
	c, err := Parse(env(map[string]string{EnvNodeSecret + fileSuffix: path}))
	require.NoError(t, err)
	assert.Equal(t, goodSecret, c.NodeSecret, "one trailing newline is trimmed")
}

func TestBadValuesNameTheVariable(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	require.NoError(t, os.WriteFile(short, []byte("0123456789abcde\n"), 0o600))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	good := filepath.Join(dir, "good")
	require.NoError(t, os.WriteFile(good, []byte(goodSecret), 0o600))

	for _, tc := range []struct {
		name string
		key  string // the variable the error must name
		env  map[string]string
	}{
		{"node id upper case", EnvNodeID, map[string]string{EnvNodeID: "Media-1"}},
		{"node id leading dash", EnvNodeID, map[string]string{EnvNodeID: "-media"}},
		{"node id too long", EnvNodeID, map[string]string{EnvNodeID: strings.Repeat("a", 33)}},
		{"udp port zero", EnvUDPPort, map[string]string{EnvUDPPort: "0"}},
		{"udp port too big", EnvUDPPort, map[string]string{EnvUDPPort: "70000"}},
		{"tcp port word", EnvTCPPort, map[string]string{EnvTCPPort: "tcp"}},
		{"tcp port negative", EnvTCPPort, map[string]string{EnvTCPPort: "-1"}},
		{"http listen no port", EnvHTTPListen, map[string]string{EnvHTTPListen: "localhost"}},
		{"http listen port zero", EnvHTTPListen, map[string]string{EnvHTTPListen: ":0"}},
		{"public ip not an ip", EnvPublicIP, map[string]string{EnvPublicIP: "203.0.113.5, nope"}},
		{"public ip host name", EnvPublicIP, map[string]string{EnvPublicIP: "media.example.org"}},
		{"public ip unspecified", EnvPublicIP, map[string]string{EnvPublicIP: "0.0.0.0"}},
		{"upstream no port", EnvUpstream, map[string]string{EnvUpstream: "media"}},
		{"upstream url", EnvUpstream, map[string]string{EnvUpstream: "http://media:7880"}},
		{"upstream no host", EnvUpstream, map[string]string{EnvUpstream: ":7880"}},
		{"capacity zero", EnvCapacity, map[string]string{EnvCapacity: "0"}},
		{"capacity word", EnvCapacity, map[string]string{EnvCapacity: "many"}},
		{"grace period no unit", EnvGracePeriod, map[string]string{EnvGracePeriod: "30"}},
		{"grace period negative", EnvGracePeriod, map[string]string{EnvGracePeriod: "-1s"}},
		{"drain timeout zero", EnvDrainTimeout, map[string]string{EnvDrainTimeout: "0s"}},
		{"backend url scheme", EnvBackendURL, map[string]string{EnvBackendURL: "backend:8080"}},
		{"backend url credentials", EnvBackendURL, map[string]string{EnvBackendURL: "http://u:p@backend:8080"}},
		{"backend url query", EnvBackendURL, map[string]string{EnvBackendURL: "http://backend:8080/?x=1"}},
		{"jwks url ftp", EnvJWKSURL, map[string]string{EnvJWKSURL: "ftp://backend/jwks"}},
		{"secret missing", EnvNodeSecret, map[string]string{EnvNodeSecret: ""}},
		{"secret short", EnvNodeSecret, map[string]string{EnvNodeSecret: "0123456789abcde"}},
		{"secret with space", EnvNodeSecret, map[string]string{EnvNodeSecret: "0123456789 abcdef"}},
		{"secret file short", EnvNodeSecret + fileSuffix, map[string]string{EnvNodeSecret + fileSuffix: short}},
		{"secret file empty", EnvNodeSecret + fileSuffix, map[string]string{EnvNodeSecret + fileSuffix: empty}},
		{"secret file missing", EnvNodeSecret + fileSuffix, map[string]string{EnvNodeSecret + fileSuffix: filepath.Join(dir, "nope")}},
		{"secret and file", EnvNodeSecret + fileSuffix, map[string]string{EnvNodeSecret: goodSecret, EnvNodeSecret + fileSuffix: good}},
		{"log level", EnvLogLevel, map[string]string{EnvLogLevel: "loud"}},
		{"probe max word", EnvProbeMax, map[string]string{EnvProbeMax: "fast"}},
		{"probe max negative", EnvProbeMax, map[string]string{EnvProbeMax: "-1"}},
		{"probe max too low", EnvProbeMax, map[string]string{EnvProbeMax: "99999"}},
		{"probe max too high", EnvProbeMax, map[string]string{EnvProbeMax: "1001M"}},
		{"probe max lower-case m", EnvProbeMax, map[string]string{EnvProbeMax: "5m"}},
		{"probe max overflow", EnvProbeMax, map[string]string{EnvProbeMax: "9223372036854775807k"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(env(tc.env))
			require.Error(t, err)
			msg := err.Error()
			assert.Contains(t, msg, tc.key)
			assert.NotContains(t, msg, "\n", "one line")
			assert.NotContains(t, msg, "0123456789", "never echo a secret")
		})
	}
}

func TestInvalidIsDistinguishable(t *testing.T) {
	_, err := Parse(env(map[string]string{EnvCapacity: "0"}))
	assert.True(t, errors.Is(err, ErrInvalid))
	_, err = Parse(env(map[string]string{EnvNodeSecret + fileSuffix: filepath.Join(t.TempDir(), "nope")}))
	assert.False(t, errors.Is(err, ErrInvalid), "an unreadable file is an I/O error")
}

func TestHTTPPortIgnoresOtherVariables(t *testing.T) {
	lookup := func(k string) (string, bool) {
		switch k {
		case EnvHTTPListen:
			return "127.0.0.1:9000", true
		case EnvCapacity:
			return "broken", true
		}
		return "", false
	}
	port, err := HTTPPort(lookup)
	require.NoError(t, err)
	assert.Equal(t, "9000", port)
}
