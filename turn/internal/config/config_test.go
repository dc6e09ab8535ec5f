package config_test

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/turn/internal/config"
)

const goodSecret = "0123456789abcdef0123456789abcdef"

func env(m map[string]string) config.Lookup {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// base is a valid configuration; cases override one variable.
func base() map[string]string {
	return map[string]string{
		config.EnvSecret:   goodSecret,
		config.EnvPublicIP: "203.0.113.10",
	}
}

func TestDefaults(t *testing.T) {
	c, err := config.Load(env(base()))
	require.NoError(t, err)
	require.Equal(t, []byte(goodSecret), c.Secret)
	require.Equal(t, "hcw", c.Realm)
	require.Equal(t, ":3478", c.ListenUDP)
	require.Equal(t, ":3478", c.ListenTCP)
	require.Empty(t, c.TLSListen)
	require.Nil(t, c.TLSCertificate)
	require.Equal(t, netip.MustParseAddr("203.0.113.10"), c.PublicIP)
	require.False(t, c.PublicIPGuessed)
	require.Equal(t, uint16(49152), c.RelayPortMin)
	require.Equal(t, uint16(65535), c.RelayPortMax)
	require.Empty(t, c.AllowPeers)
	require.Equal(t, 10, c.UserQuota)
	require.Equal(t, ":9091", c.InternalListen)
	require.Equal(t, slog.LevelInfo, c.LogLevel)
}

func TestValues(t *testing.T) {
	m := base()
	m[config.EnvAllowPeers] = "10.0.0.0/8, 192.168.5.7 fd00::/8,::ffff:172.16.0.0/108"
	m[config.EnvAllowPeerHosts] = "media, media2 media-3.internal"
	m[config.EnvUserQuota] = "3"
	m[config.EnvRelayPortMin] = "50000"
	m[config.EnvRelayPortMax] = "50000"
	m[config.EnvLogLevel] = "DEBUG"
	m[config.EnvRealm] = "example.org"
	c, err := config.Load(env(m))
	require.NoError(t, err)
	require.Equal(t, []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.168.5.7/32"),
		netip.MustParsePrefix("fd00::/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
	}, c.AllowPeers)
	require.Equal(t, []string{"media", "media2", "media-3.internal"}, c.AllowPeerHosts)
	require.Equal(t, 3, c.UserQuota)
	require.Equal(t, uint16(50000), c.RelayPortMin)
	require.Equal(t, slog.LevelDebug, c.LogLevel)
	require.Equal(t, "example.org", c.Realm)
}

func TestSecretFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(path, []byte(goodSecret+"\n"), 0o600))
	m := base()
	delete(m, config.EnvSecret)
	m[config.EnvSecret+"_FILE"] = path
	c, err := config.Load(env(m))
	require.NoError(t, err)
	require.Equal(t, []byte(goodSecret), c.Secret, "trailing newline trimmed")
}

func TestPublicIPGuessed(t *testing.T) {
	m := base()
	delete(m, config.EnvPublicIP)
	c, err := config.Load(env(m))
	if err != nil {
		// A host without any non-loopback IPv4 must say what to set.
		require.ErrorContains(t, err, config.EnvPublicIP)
		return
	}
	require.True(t, c.PublicIPGuessed)
	require.True(t, c.PublicIP.Is4() && !c.PublicIP.IsLoopback())
}

func TestBadValues(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		set     map[string]string
		unset   []string
		varName string
	}{
		{"missing secret", nil, []string{config.EnvSecret}, config.EnvSecret},
		{"short secret", map[string]string{config.EnvSecret: "short"}, nil, config.EnvSecret},
		{"secret and file", map[string]string{config.EnvSecret + "_FILE": "/x"}, nil, config.EnvSecret},
		{"missing secret file", map[string]string{config.EnvSecret + "_FILE": filepath.Join(dir, "nope")}, []string{config.EnvSecret}, config.EnvSecret + "_FILE"},
		{"bad CIDR", map[string]string{config.EnvAllowPeers: "10.0.0.0/33"}, nil, config.EnvAllowPeers},
		{"not an IP", map[string]string{config.EnvAllowPeers: "10.0.0.1,media.internal"}, nil, config.EnvAllowPeers},
		{"peer host is an address", map[string]string{config.EnvAllowPeerHosts: "media,10.0.0.1"}, nil, config.EnvAllowPeerHosts},
		{"peer host malformed", map[string]string{config.EnvAllowPeerHosts: "media/x"}, nil, config.EnvAllowPeerHosts},
		{"peer host empty label", map[string]string{config.EnvAllowPeerHosts: "media..local"}, nil, config.EnvAllowPeerHosts},
		{"min above max", map[string]string{config.EnvRelayPortMin: "60000", config.EnvRelayPortMax: "50000"}, nil, config.EnvRelayPortMin},
		{"port zero", map[string]string{config.EnvRelayPortMin: "0"}, nil, config.EnvRelayPortMin},
		{"port too high", map[string]string{config.EnvRelayPortMax: "70000"}, nil, config.EnvRelayPortMax},
		{"port not a number", map[string]string{config.EnvRelayPortMax: "lots"}, nil, config.EnvRelayPortMax},
		{"TLS without cert", map[string]string{config.EnvTLSListen: ":5349", config.EnvTLSKeyFile: "/k"}, nil, config.EnvTLSCertFile},
		{"TLS without key", map[string]string{config.EnvTLSListen: ":5349", config.EnvTLSCertFile: "/c"}, nil, config.EnvTLSKeyFile},
		{"TLS unreadable cert", map[string]string{config.EnvTLSListen: ":5349", config.EnvTLSCertFile: filepath.Join(dir, "c"), config.EnvTLSKeyFile: filepath.Join(dir, "k")}, nil, config.EnvTLSCertFile},
		{"bad TLS listen", map[string]string{config.EnvTLSListen: "5349"}, nil, config.EnvTLSListen},
		{"bad UDP listen", map[string]string{config.EnvListenUDP: "nohost"}, nil, config.EnvListenUDP},
		{"bad TCP listen", map[string]string{config.EnvListenTCP: ":99999"}, nil, config.EnvListenTCP},
		{"bad internal listen", map[string]string{config.EnvInternalListen: "9091"}, nil, config.EnvInternalListen},
		{"public IP not an IP", map[string]string{config.EnvPublicIP: "turn.example.org"}, nil, config.EnvPublicIP},
		{"public IP IPv6", map[string]string{config.EnvPublicIP: "2001:db8::1"}, nil, config.EnvPublicIP},
		{"quota zero", map[string]string{config.EnvUserQuota: "0"}, nil, config.EnvUserQuota},
		{"quota not a number", map[string]string{config.EnvUserQuota: "ten"}, nil, config.EnvUserQuota},
		{"log level", map[string]string{config.EnvLogLevel: "verbose"}, nil, config.EnvLogLevel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			for k, v := range tc.set {
				m[k] = v
			}
			for _, k := range tc.unset {
				delete(m, k)
			}
			_, err := config.Load(env(m))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.varName)
			require.True(t, strings.HasPrefix(err.Error(), "config: "), err.Error())
			require.NotContains(t, err.Error(), "\n", "one line")
		})
	}
}

func TestBadCIDRMessage(t *testing.T) {
	m := base()
	m[config.EnvAllowPeers] = "10.0.0.0/33"
	_, err := config.Load(env(m))
	require.EqualError(t, err, `config: HCW_TURN_ALLOW_PEERS: "10.0.0.0/33" is not a CIDR`)
}

func TestSecretNotInErrors(t *testing.T) {
	m := base()
	m[config.EnvSecret] = "tooshort-secret"
	_, err := config.Load(env(m))
	require.Error(t, err)
	require.NotContains(t, err.Error(), "tooshort-secret")
}
