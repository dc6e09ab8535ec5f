// Package config reads the media node's settings from the environment and
// validates all of them at start-up, failing with one line that names the
// bad variable.
package config

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Config is the media node's configuration.
type Config struct {
	// HTTPListen is the address of the signalling and health HTTP server
	// (HCW_MEDIA_HTTP_LISTEN, default ":7880"). The edge forwards the media
	// host here.
	HTTPListen string
	// UDPPort is the one UDP port all peers share (HCW_MEDIA_UDP_PORT,
	// default 7882).
	UDPPort int
	// TCPPort is the ICE-TCP port (HCW_MEDIA_TCP_PORT, default 7881).
	TCPPort int
	// PublicIPs are the addresses announced to peers (HCW_MEDIA_PUBLIC_IP,
	// comma- or space-separated; empty means the host's own).
	PublicIPs []netip.Addr
	// LogLevel is debug, info, warn or error (HCW_LOG_LEVEL).
	LogLevel string
}

// Load reads the configuration through getenv.
func Load(getenv func(string) string) (*Config, error) {
	c := &Config{
		HTTPListen: or(getenv("HCW_MEDIA_HTTP_LISTEN"), ":7880"),
		LogLevel:   or(getenv("HCW_LOG_LEVEL"), "info"),
	}
	var err error
	if c.UDPPort, err = port(getenv, "HCW_MEDIA_UDP_PORT", 7882); err != nil {
		return nil, err
	}
	if c.TCPPort, err = port(getenv, "HCW_MEDIA_TCP_PORT", 7881); err != nil {
		return nil, err
	}
	for _, f := range strings.FieldsFunc(getenv("HCW_MEDIA_PUBLIC_IP"), func(r rune) bool { return r == ',' || r == ' ' }) {
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("config: HCW_MEDIA_PUBLIC_IP: %q is not an IP address", f)
		}
		c.PublicIPs = append(c.PublicIPs, a.Unmap())
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return nil, fmt.Errorf("config: HCW_LOG_LEVEL: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	return c, nil
}

// FromEnv loads the configuration from the process environment.
func FromEnv() (*Config, error) { return Load(os.Getenv) }

func port(getenv func(string) string, key string, def int) (int, error) {
	v := getenv(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("config: %s: %q is not a port (1-65535)", key, v)
	}
	return n, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
