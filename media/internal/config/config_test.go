package config

import (
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPListen != ":7880" || c.UDPPort != 7882 || c.TCPPort != 7881 || len(c.PublicIPs) != 0 {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestPublicIPs(t *testing.T) {
	c, err := Load(env(map[string]string{"HCW_MEDIA_PUBLIC_IP": "203.0.113.5, 2001:db8::5"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.PublicIPs) != 2 || c.PublicIPs[0].String() != "203.0.113.5" {
		t.Fatalf("PublicIPs = %v", c.PublicIPs)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	for key, val := range map[string]string{
		"HCW_MEDIA_UDP_PORT":  "70000",
		"HCW_MEDIA_TCP_PORT":  "tcp",
		"HCW_MEDIA_PUBLIC_IP": "203.0.113.5, nope",
		"HCW_LOG_LEVEL":       "loud",
	} {
		t.Run(key, func(t *testing.T) {
			_, err := Load(env(map[string]string{key: val}))
			if err == nil || !strings.Contains(err.Error(), key) {
				t.Fatalf("Load with %s=%q: err = %v, want it to name %s", key, val, err, key)
			}
		})
	}
}
