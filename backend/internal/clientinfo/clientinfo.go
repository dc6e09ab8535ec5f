// Package clientinfo decides who a request comes from. X-Forwarded-* headers
// are believed only when the TCP peer is the edge (our reverse proxy);
// anyone else could have written them.
package clientinfo

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Info is the client as the edge saw it.
type Info struct {
	// IP is the client address: the one the edge appended to
	// X-Forwarded-For, or the TCP peer when the peer is not the edge.
	IP netip.Addr
	// Scheme is "https" or "http" as used by the client.
	Scheme string
	// Host is the host[:port] the client asked for.
	Host string
	// ViaEdge reports whether the TCP peer was a trusted edge address.
	ViaEdge bool
}

// IPString returns IP as text, or "" when unknown.
func (i Info) IPString() string {
	if !i.IP.IsValid() {
		return ""
	}
	return i.IP.String()
}

type ctxKey struct{}

// NewContext returns ctx carrying info.
func NewContext(ctx context.Context, info Info) context.Context {
	return context.WithValue(ctx, ctxKey{}, info)
}

// FromContext returns the Info stored by NewContext.
func FromContext(ctx context.Context) (Info, bool) {
	info, ok := ctx.Value(ctxKey{}).(Info)
	return info, ok
}

// Trusted reports whether an address belongs to the edge.
type Trusted interface {
	Contains(addr netip.Addr) bool
}

// FromRequest computes the Info of r. trusted may be nil (trust no one).
func FromRequest(r *http.Request, trusted Trusted) Info {
	peer := parseAddr(r.RemoteAddr)
	info := Info{IP: peer, Scheme: "http", Host: r.Host}
	if r.TLS != nil {
		info.Scheme = "https"
	}
	if !peer.IsValid() || trusted == nil || !trusted.Contains(peer) {
		return info
	}
	info.ViaEdge = true
	// The edge appends the address it saw to whatever the client sent, so
	// only the last entry is the edge's own word; earlier ones are claims.
	if ip := parseAddr(lastValue(r.Header.Values("X-Forwarded-For"))); ip.IsValid() {
		info.IP = ip
	}
	switch proto := strings.ToLower(lastValue(r.Header.Values("X-Forwarded-Proto"))); proto {
	case "http", "https":
		info.Scheme = proto
	}
	if host := lastValue(r.Header.Values("X-Forwarded-Host")); host != "" && !strings.ContainsAny(host, "/ \\@") {
		info.Host = host
	}
	return info
}

// lastValue returns the last comma separated, non-empty entry over all
// instances of a header.
func lastValue(values []string) string {
	for i := len(values) - 1; i >= 0; i-- {
		parts := strings.Split(values[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			if p := strings.TrimSpace(parts[j]); p != "" {
				return p
			}
		}
	}
	return ""
}

// parseAddr accepts "ip", "ip:port" and "[ipv6]:port" and returns the
// unmapped address, or the zero Addr.
func parseAddr(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return a.Unmap()
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}
