// Package config reads the media node's settings from the environment and
// validates all of them at start-up, failing with one line that names the
// bad variable. The node secret also has a _FILE variant so that a Docker
// secret can be mounted instead of passed in the environment.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hcw-home/hcw/contract/nodeapi"
)

// Environment variable names. They are the public interface of the image.
const (
	EnvNodeID       = "HCW_MEDIA_NODE_ID"
	EnvUDPPort      = "HCW_MEDIA_UDP_PORT"
	EnvTCPPort      = "HCW_MEDIA_TCP_PORT"
	EnvHTTPListen   = "HCW_MEDIA_HTTP_LISTEN"
	EnvPublicIP     = "HCW_MEDIA_PUBLIC_IP"
	EnvUpstream     = "HCW_MEDIA_UPSTREAM"
	EnvCapacity     = "HCW_MEDIA_CAPACITY"
	EnvGracePeriod  = "HCW_MEDIA_GRACE_PERIOD"
	EnvDrainTimeout = "HCW_MEDIA_DRAIN_TIMEOUT"
	EnvBackendURL   = "HCW_MEDIA_BACKEND_URL"
	EnvNodeSecret   = "HCW_MEDIA_NODE_SECRET"
	EnvJWKSURL      = "HCW_MEDIA_JWKS_URL"
	EnvProbeMax     = "HCW_MEDIA_PROBE_MAX_BITRATE"
	EnvLogLevel     = "HCW_LOG_LEVEL"
)

// Defaults for the variables that have a fixed one. The upstream defaults
// to "<node id>:<HTTP port>" and the JWKS URL to the backend's PathJWKS.
const (
	DefaultNodeID       = "media-1"
	DefaultUDPPort      = 7882
	DefaultTCPPort      = 7881
	DefaultHTTPListen   = ":7880"
	DefaultCapacity     = 200
	DefaultGracePeriod  = 30 * time.Second
	DefaultDrainTimeout = 2 * time.Hour
	DefaultBackendURL   = "http://backend:8080"
	DefaultLogLevel     = "info"
	// DefaultProbeMax matches sfu.DefaultProbeMaxBitrate: above the top
	// simulcast layer of a 720p camera plus a screen share.
	DefaultProbeMax = 10_000_000
)

// Bounds of HCW_MEDIA_PROBE_MAX_BITRATE when it is not 0 (off): below the
// lowest of these probing could not lift a subscriber past the low layer,
// above the highest it would flood a hospital's uplink with padding.
const (
	minProbeMax = 100_000
	maxProbeMax = 1_000_000_000
)

// fileSuffix marks the variant of a secret variable that names a file.
const fileSuffix = "_FILE"

// ErrInvalid is wrapped by every validation error, so a caller can tell a
// configuration mistake from an I/O failure.
var ErrInvalid = errors.New("invalid configuration")

// Config is the media node's validated configuration.
type Config struct {
	// NodeID names the node in the backend's registry, in signalling URLs
	// (/n/<id>/signal) and in grants.
	NodeID string
	// UDPPort is the one UDP port all peers share.
	UDPPort int
	// TCPPort is the ICE-TCP port; 0 disables ICE-TCP.
	TCPPort int
	// HTTPListen is the address of the signalling, control and health HTTP
	// server. The edge forwards /n/<id>/ here.
	HTTPListen string
	// HTTPPort is the port part of HTTPListen (used by the healthcheck).
	HTTPPort string
	// PublicIPs are the addresses announced to peers; empty means the
	// host's own.
	PublicIPs []netip.Addr
	// Upstream is host:port where the edge reaches the HTTP listener; the
	// node tells the backend in every heartbeat.
	Upstream string
	// Capacity is the most participants the node accepts at once.
	Capacity int
	// GracePeriod is how long a participant whose connection dropped keeps
	// their place in the room.
	GracePeriod time.Duration
	// DrainTimeout bounds how long a draining node waits for its calls to
	// end before it closes them.
	DrainTimeout time.Duration
	// BackendURL is the backend's internal base URL (no trailing slash).
	BackendURL string
	// NodeSecret is the shared bearer secret of the internal node API.
	NodeSecret string
	// JWKSURL is where the node fetches the keys that sign media grants.
	JWKSURL string
	// LogLevel is the minimum level written to the log.
	LogLevel slog.Level
	// ProbeMaxBitrate caps (bits/s) how far a subscriber's downlink is
	// probed with padding to climb to better simulcast layers; 0 turns
	// probing off.
	ProbeMaxBitrate int64
}

// LookupFunc reads one environment variable, like os.LookupEnv.
type LookupFunc func(key string) (string, bool)

// FromEnv loads the configuration from the process environment.
func FromEnv() (*Config, error) { return Parse(os.LookupEnv) }

// Parse builds a Config from lookup and validates every variable.
func Parse(lookup LookupFunc) (*Config, error) {
	p := parser{lookup: lookup}
	c := &Config{}
	var err error

	c.NodeID = or(p.get(EnvNodeID), DefaultNodeID)
	if !nodeapi.ValidID(c.NodeID) {
		return nil, invalidf("%s: %q is not a node id (1 to 32 of a-z, 0-9 and -, not starting with -)", EnvNodeID, c.NodeID)
	}
	if c.UDPPort, err = p.port(EnvUDPPort, DefaultUDPPort, false); err != nil {
		return nil, err
	}
	if c.TCPPort, err = p.port(EnvTCPPort, DefaultTCPPort, true); err != nil {
		return nil, err
	}
	if c.HTTPListen, c.HTTPPort, err = p.listen(); err != nil {
		return nil, err
	}
	if c.PublicIPs, err = p.publicIPs(); err != nil {
		return nil, err
	}
	if c.Upstream, err = p.upstream(net.JoinHostPort(c.NodeID, c.HTTPPort)); err != nil {
		return nil, err
	}
	if c.Capacity, err = p.positiveInt(EnvCapacity, DefaultCapacity); err != nil {
		return nil, err
	}
	if c.GracePeriod, err = p.positiveDuration(EnvGracePeriod, DefaultGracePeriod); err != nil {
		return nil, err
	}
	if c.DrainTimeout, err = p.positiveDuration(EnvDrainTimeout, DefaultDrainTimeout); err != nil {
		return nil, err
	}
	if c.BackendURL, err = p.httpURL(EnvBackendURL, DefaultBackendURL); err != nil {
		return nil, err
	}
	if c.NodeSecret, err = p.nodeSecret(); err != nil {
		return nil, err
	}
	if c.JWKSURL, err = p.httpURL(EnvJWKSURL, c.BackendURL+nodeapi.PathJWKS); err != nil {
		return nil, err
	}
	if c.LogLevel, err = p.logLevel(); err != nil {
		return nil, err
	}
	if c.ProbeMaxBitrate, err = p.probeMax(); err != nil {
		return nil, err
	}
	return c, nil
}

// HTTPPort returns the port of the HTTP listener from lookup, without
// validating anything else: the container healthcheck runs with the same
// environment but must not fail because, say, a secret file is unreadable
// by the probe.
func HTTPPort(lookup LookupFunc) (string, error) {
	_, port, err := parser{lookup: lookup}.listen()
	return port, err
}

type parser struct {
	lookup LookupFunc
}

// get returns the trimmed value of key, or "" when unset or empty.
func (p parser) get(key string) string {
	v, _ := p.lookup(key)
	return strings.TrimSpace(v)
}

func (p parser) port(key string, def int, zeroDisables bool) (int, error) {
	v := p.get(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	lowest := 1
	if zeroDisables {
		lowest = 0
	}
	if err != nil || n < lowest || n > 65535 {
		if zeroDisables {
			return 0, invalidf("%s: %q is not a port (1-65535, or 0 to disable)", key, v)
		}
		return 0, invalidf("%s: %q is not a port (1-65535)", key, v)
	}
	return n, nil
}

func (p parser) listen() (addr, port string, err error) {
	addr = or(p.get(EnvHTTPListen), DefaultHTTPListen)
	_, port, splitErr := net.SplitHostPort(addr)
	if n, convErr := strconv.Atoi(port); splitErr != nil || convErr != nil || n < 1 || n > 65535 {
		return "", "", invalidf("%s: %q is not a host:port address with a numeric port", EnvHTTPListen, addr)
	}
	return addr, port, nil
}

func (p parser) publicIPs() ([]netip.Addr, error) {
	var ips []netip.Addr
	for _, f := range strings.FieldsFunc(p.get(EnvPublicIP), func(r rune) bool { return r == ',' || r == ' ' }) {
		a, err := netip.ParseAddr(f)
		if err != nil || a.Zone() != "" {
			return nil, invalidf("%s: %q is not an IP address", EnvPublicIP, f)
		}
		a = a.Unmap()
		if a.IsUnspecified() || a.IsMulticast() {
			return nil, invalidf("%s: %q cannot be announced to peers", EnvPublicIP, f)
		}
		ips = append(ips, a)
	}
	return ips, nil
}

func (p parser) upstream(def string) (string, error) {
	v := p.get(EnvUpstream)
	if v == "" {
		return def, nil
	}
	host, port, err := net.SplitHostPort(v)
	n, convErr := strconv.Atoi(port)
	if err != nil || host == "" || convErr != nil || n < 1 || n > 65535 || strings.ContainsAny(host, "/@?#") {
		return "", invalidf("%s: %q is not a host:port address", EnvUpstream, v)
	}
	return v, nil
}

func (p parser) positiveInt(key string, def int) (int, error) {
	v := p.get(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, invalidf("%s: %q is not a positive integer", key, v)
	}
	return n, nil
}

func (p parser) positiveDuration(key string, def time.Duration) (time.Duration, error) {
	v := p.get(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, invalidf("%s: %q is not a positive duration such as 30s or 2h", key, v)
	}
	return d, nil
}

// httpURL validates an http(s) base URL and returns it without a trailing
// slash.
func (p parser) httpURL(key, def string) (string, error) {
	v := or(p.get(key), def)
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", invalidf("%s: %q is not an http(s) URL without credentials, query or fragment", key, v)
	}
	return strings.TrimSuffix(v, "/"), nil
}

func (p parser) nodeSecret() (string, error) {
	name := EnvNodeSecret
	if p.get(EnvNodeSecret+fileSuffix) != "" {
		name += fileSuffix
	}
	s, err := p.secret(EnvNodeSecret)
	if err != nil {
		return "", err
	}
	switch {
	case s == "":
		return "", invalidf("%s (or %s%s) is required: the backend and the node authenticate each other with it", EnvNodeSecret, EnvNodeSecret, fileSuffix)
	case len(s) < nodeapi.MinSecretLen:
		return "", invalidf("%s: the secret is %d bytes, want at least %d", name, len(s), nodeapi.MinSecretLen)
	}
	// The secret travels in an Authorization header; never echo it.
	for _, r := range s {
		if r <= ' ' || r >= 0x7f {
			return "", invalidf("%s: the secret may hold only printable ASCII without spaces", name)
		}
	}
	return s, nil
}

// secret returns the value of key or the content of the file named by
// key_FILE, with one trailing newline removed. Setting both is an error so an
// operator never wonders which one won.
func (p parser) secret(key string) (string, error) {
	v, hasV := p.lookup(key)
	path, hasFile := p.lookup(key + fileSuffix)
	hasV = hasV && v != ""
	path = strings.TrimSpace(path)
	hasFile = hasFile && path != ""
	switch {
	case hasV && hasFile:
		return "", invalidf("%s and %s%s are both set; use only one", key, key, fileSuffix)
	case hasFile:
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("config: %s%s: %w", key, fileSuffix, err)
		}
		s := strings.TrimSuffix(string(b), "\n")
		s = strings.TrimSuffix(s, "\r")
		if s == "" {
			return "", invalidf("%s%s: file %q is empty", key, fileSuffix, path)
		}
		return s, nil
	default:
		return v, nil
	}
}

func (p parser) logLevel() (slog.Level, error) {
	v := strings.ToLower(or(p.get(EnvLogLevel), DefaultLogLevel))
	switch v {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, invalidf("%s: %q is not one of debug, info, warn, error", EnvLogLevel, v)
}

// probeMax reads the probing cap: bits per second, with an optional k or M
// suffix (1000s), or 0 for no probing.
func (p parser) probeMax() (int64, error) {
	v := p.get(EnvProbeMax)
	if v == "" {
		return DefaultProbeMax, nil
	}
	num, mult := v, int64(1)
	switch {
	case strings.HasSuffix(v, "k"):
		num, mult = strings.TrimSuffix(v, "k"), 1_000
	case strings.HasSuffix(v, "M"):
		num, mult = strings.TrimSuffix(v, "M"), 1_000_000
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err == nil && n == 0 {
		return 0, nil
	}
	if err != nil || n < 0 || n > maxProbeMax/mult || n*mult < minProbeMax {
		return 0, invalidf("%s: %q is not 0 (off) or a bit rate from 100k to 1000M (bits/s, k and M suffixes allowed)", EnvProbeMax, v)
	}
	return n * mult, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func invalidf(format string, args ...any) error {
	return &invalidError{msg: "config: " + fmt.Sprintf(format, args...)}
}

type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }
