// Package config reads the TURN server's settings from environment variables
// and validates all of them at start-up, so a bad deployment fails with one
// line naming the variable instead of misbehaving later.
package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/hcw-home/hcw/contract/turncred"
)

// Environment variable names.
const (
	EnvSecret         = "HCW_TURN_SECRET"
	EnvRealm          = "HCW_TURN_REALM"
	EnvListenUDP      = "HCW_TURN_LISTEN_UDP"
	EnvListenTCP      = "HCW_TURN_LISTEN_TCP"
	EnvTLSListen      = "HCW_TURN_TLS_LISTEN"
	EnvTLSCertFile    = "HCW_TURN_TLS_CERT_FILE"
	EnvTLSKeyFile     = "HCW_TURN_TLS_KEY_FILE"
	EnvPublicIP       = "HCW_TURN_PUBLIC_IP"
	EnvRelayPortMin   = "HCW_TURN_RELAY_PORT_MIN"
	EnvRelayPortMax   = "HCW_TURN_RELAY_PORT_MAX"
	EnvAllowPeers     = "HCW_TURN_ALLOW_PEERS"
	EnvAllowPeerHosts = "HCW_TURN_ALLOW_PEER_HOSTS"
	EnvUserQuota      = "HCW_TURN_USER_QUOTA"
	EnvInternalListen = "HCW_TURN_INTERNAL_LISTEN"
	EnvLogLevel       = "HCW_LOG_LEVEL"
)

// Defaults for the optional variables.
const (
	DefaultRealm          = "hcw"
	DefaultListenUDP      = ":3478"
	DefaultListenTCP      = ":3478"
	DefaultRelayPortMin   = 49152
	DefaultRelayPortMax   = 65535
	DefaultUserQuota      = 10
	DefaultInternalListen = ":9091"
)

// fileSuffix marks the variant of a secret variable that names a file
// holding the value (Docker secrets).
const fileSuffix = "_FILE"

// Config is the validated configuration of the TURN server.
type Config struct {
	// Secret is the TURN REST shared secret, shared with the backend.
	Secret []byte
	// Realm is the STUN realm announced to clients.
	Realm string
	// ListenUDP and ListenTCP are the plain TURN listen addresses.
	ListenUDP string
	ListenTCP string
	// TLSListen is the TURN-over-TLS listen address; empty means off.
	TLSListen string
	// TLSCertificate is the loaded certificate when TLSListen is set.
	TLSCertificate *tls.Certificate
	// PublicIP is the relay address announced to clients.
	PublicIP netip.Addr
	// PublicIPGuessed reports that PublicIP was taken from the host's
	// interfaces because HCW_TURN_PUBLIC_IP was empty.
	PublicIPGuessed bool
	// RelayPortMin and RelayPortMax bound the relay ports (inclusive).
	RelayPortMin uint16
	RelayPortMax uint16
	// AllowPeers lists peers allowed even though their addresses are
	// otherwise refused (the media nodes on a private network).
	AllowPeers []netip.Prefix
	// AllowPeerHosts names hosts (the media nodes) whose current addresses
	// are allowed too; they are re-resolved while the server runs.
	AllowPeerHosts []string
	// UserQuota is the number of concurrent allocations one credential user
	// may hold.
	UserQuota int
	// InternalListen is the address of the health and metrics server.
	InternalListen string
	// LogLevel is the minimum level logged.
	LogLevel slog.Level
}

// Lookup reads one environment variable; os.LookupEnv fits.
type Lookup func(key string) (string, bool)

// Load reads and validates the whole configuration.
func Load(env Lookup) (Config, error) {
	c := Config{}
	var err error

	if c.Secret, err = secret(env, EnvSecret); err != nil {
		return Config{}, err
	}
	if len(c.Secret) == 0 {
		return Config{}, fmt.Errorf("config: %s (or %s%s) is required", EnvSecret, EnvSecret, fileSuffix)
	}
	if len(c.Secret) < turncred.MinSecretLen {
		return Config{}, fmt.Errorf("config: %s: must be at least %d bytes, got %d", EnvSecret, turncred.MinSecretLen, len(c.Secret))
	}

	c.Realm = str(env, EnvRealm, DefaultRealm)

	if c.ListenUDP, err = listenAddr(env, EnvListenUDP, DefaultListenUDP); err != nil {
		return Config{}, err
	}
	if c.ListenTCP, err = listenAddr(env, EnvListenTCP, DefaultListenTCP); err != nil {
		return Config{}, err
	}
	if c.TLSListen, err = listenAddr(env, EnvTLSListen, ""); err != nil {
		return Config{}, err
	}
	if c.TLSListen != "" {
		if c.TLSCertificate, err = certificate(env); err != nil {
			return Config{}, err
		}
	}

	if c.PublicIP, c.PublicIPGuessed, err = publicIP(env); err != nil {
		return Config{}, err
	}

	minPort, err := port(env, EnvRelayPortMin, DefaultRelayPortMin)
	if err != nil {
		return Config{}, err
	}
	maxPort, err := port(env, EnvRelayPortMax, DefaultRelayPortMax)
	if err != nil {
		return Config{}, err
	}
	if minPort > maxPort {
		return Config{}, fmt.Errorf("config: %s: %d is greater than %s %d", EnvRelayPortMin, minPort, EnvRelayPortMax, maxPort)
	}
	c.RelayPortMin, c.RelayPortMax = minPort, maxPort

	if c.AllowPeers, err = ParseAllowPeers(str(env, EnvAllowPeers, "")); err != nil {
		return Config{}, fmt.Errorf("config: %s: %w", EnvAllowPeers, err)
	}

	if c.AllowPeerHosts, err = parseHosts(str(env, EnvAllowPeerHosts, "")); err != nil {
		return Config{}, fmt.Errorf("config: %s: %w", EnvAllowPeerHosts, err)
	}

	if c.UserQuota, err = positive(env, EnvUserQuota, DefaultUserQuota); err != nil {
		return Config{}, err
	}

	if c.InternalListen, err = LoadInternalListen(env); err != nil {
		return Config{}, err
	}

	if c.LogLevel, err = logLevel(env); err != nil {
		return Config{}, err
	}
	return c, nil
}

// LoadInternalListen reads only the internal server address, for the
// healthcheck subcommand, which must work without the secret.
func LoadInternalListen(env Lookup) (string, error) {
	return listenAddr(env, EnvInternalListen, DefaultInternalListen)
}

// ParseAllowPeers parses a comma- or space-separated list of CIDRs or bare
// IPs. IPv4-mapped IPv6 entries are unmapped so they match the unmapped
// addresses the peer policy compares against.
func ParseAllowPeers(s string) ([]netip.Prefix, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	prefixes := make([]netip.Prefix, 0, len(fields))
	for _, f := range fields {
		var p netip.Prefix
		if strings.Contains(f, "/") {
			parsed, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR", f)
			}
			p = parsed
		} else {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not an IP address or CIDR", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Zone() != "" {
			return nil, fmt.Errorf("%q has a zone", f)
		}
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return nil, fmt.Errorf("%q mixes IPv4-mapped and IPv6 addresses", f)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		prefixes = append(prefixes, p.Masked())
	}
	return prefixes, nil
}

// parseHosts parses a comma- or space-separated list of DNS names.
func parseHosts(s string) ([]string, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	for _, f := range fields {
		if len(f) > 253 {
			return nil, fmt.Errorf("%q is too long for a host name", f)
		}
		if _, err := netip.ParseAddr(f); err == nil {
			return nil, fmt.Errorf("%q is an address; list it in %s", f, EnvAllowPeers)
		}
		for _, label := range strings.Split(f, ".") {
			if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
				return nil, fmt.Errorf("%q is not a host name", f)
			}
			for _, c := range label {
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
					return nil, fmt.Errorf("%q is not a host name", f)
				}
			}
		}
	}
	return fields, nil
}

func str(env Lookup, key, def string) string {
	v, ok := env(key)
	if !ok || strings.TrimSpace(v) == "" {
		return def
	}
	return strings.TrimSpace(v)
}

// secret reads key or key_FILE; setting both is refused because which one
// wins would be a guess.
func secret(env Lookup, key string) ([]byte, error) {
	v, hasValue := env(key)
	path, hasFile := env(key + fileSuffix)
	hasValue = hasValue && v != ""
	hasFile = hasFile && path != ""
	switch {
	case hasValue && hasFile:
		return nil, fmt.Errorf("config: %s and %s%s are both set; set one", key, key, fileSuffix)
	case hasFile:
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %s%s: %w", key, fileSuffix, err)
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	case hasValue:
		return []byte(v), nil
	default:
		return nil, nil
	}
}

func listenAddr(env Lookup, key, def string) (string, error) {
	v := str(env, key, def)
	if v == "" {
		return "", nil
	}
	host, p, err := net.SplitHostPort(v)
	if err != nil {
		return "", fmt.Errorf("config: %s: %q is not host:port", key, v)
	}
	if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("config: %s: %q has no valid port", key, v)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil && host != "localhost" {
			return "", fmt.Errorf("config: %s: %q: host must be an IP address", key, v)
		}
	}
	return v, nil
}

func certificate(env Lookup) (*tls.Certificate, error) {
	certFile := str(env, EnvTLSCertFile, "")
	keyFile := str(env, EnvTLSKeyFile, "")
	if certFile == "" {
		return nil, fmt.Errorf("config: %s is required when %s is set", EnvTLSCertFile, EnvTLSListen)
	}
	if keyFile == "" {
		return nil, fmt.Errorf("config: %s is required when %s is set", EnvTLSKeyFile, EnvTLSListen)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("config: %s/%s: %w", EnvTLSCertFile, EnvTLSKeyFile, err)
	}
	return &cert, nil
}

// publicIP returns the configured relay address, or guesses the host's
// first non-loopback IPv4 address. pion/turn v4 relays over udp4 only, so
// an IPv6 relay address would be announced but never work.
func publicIP(env Lookup) (netip.Addr, bool, error) {
	v := str(env, EnvPublicIP, "")
	if v != "" {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return netip.Addr{}, false, fmt.Errorf("config: %s: %q is not an IP address", EnvPublicIP, v)
		}
		a = a.Unmap()
		if !a.Is4() {
			return netip.Addr{}, false, fmt.Errorf("config: %s: %q is not an IPv4 address", EnvPublicIP, v)
		}
		if a.IsUnspecified() || a.IsMulticast() {
			return netip.Addr{}, false, fmt.Errorf("config: %s: %q cannot be a relay address", EnvPublicIP, v)
		}
		return a, false, nil
	}
	a, err := firstHostIPv4()
	if err != nil {
		return netip.Addr{}, false, fmt.Errorf("config: %s: not set and %w", EnvPublicIP, err)
	}
	return a, true, nil
}

var errNoHostIPv4 = errors.New("the host has no non-loopback IPv4 address")

func firstHostIPv4() (netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("cannot list interfaces: %w", err)
	}
	for _, a := range addrs {
		ipNet, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipNet.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.Is4() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
			return ip, nil
		}
	}
	return netip.Addr{}, errNoHostIPv4
}

func port(env Lookup, key string, def uint16) (uint16, error) {
	v := str(env, key, "")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("config: %s: %q is not a port between 1 and 65535", key, v)
	}
	return uint16(n), nil
}

func positive(env Lookup, key string, def int) (int, error) {
	v := str(env, key, "")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("config: %s: %q is not a whole number of at least 1", key, v)
	}
	return n, nil
}

func logLevel(env Lookup) (slog.Level, error) {
	switch v := strings.ToLower(str(env, EnvLogLevel, "info")); v {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	default:
		return 0, fmt.Errorf("config: %s: %q is not one of debug, info, warn, error", EnvLogLevel, v)
	}
}
