// Package peerpolicy decides which peer addresses the relay may send to.
//
// pion/turn relays to any peer when no PermissionHandler is set, which turns
// a TURN server into an open proxy into the network it runs in (the
// database, the backend, the cloud metadata service). The policy therefore
// refuses every address that is not public unicast, unless an operator
// explicitly allows it (the media nodes on a private network).
package peerpolicy

import (
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
)

// Reason names why an address is refused; it is used as a metric label, so
// the set is small and fixed.
type Reason string

// Refusal reasons. Allowed is the empty reason.
const (
	Allowed       Reason = ""
	Invalid       Reason = "invalid"
	Unspecified   Reason = "unspecified"
	Loopback      Reason = "loopback"
	Private       Reason = "private"
	LinkLocal     Reason = "link_local"
	Multicast     Reason = "multicast"
	Reserved      Reason = "reserved"
	Documentation Reason = "documentation"
	EmbeddedIPv4  Reason = "embedded_ipv4"
	NotGlobal     Reason = "not_global"
)

type rule struct {
	prefix netip.Prefix
	reason Reason
}

// rules lists the special-purpose ranges (RFC 6890 and successors) that the
// netip predicates do not cover.
var rules = []rule{
	{netip.MustParsePrefix("0.0.0.0/8"), Reserved},            // "this network"
	{netip.MustParsePrefix("100.64.0.0/10"), Private},         // CGNAT shared space
	{netip.MustParsePrefix("192.0.0.0/24"), Reserved},         // IETF protocol assignments
	{netip.MustParsePrefix("192.0.2.0/24"), Documentation},    // TEST-NET-1
	{netip.MustParsePrefix("198.51.100.0/24"), Documentation}, // TEST-NET-2
	{netip.MustParsePrefix("203.0.113.0/24"), Documentation},  // TEST-NET-3
	{netip.MustParsePrefix("198.18.0.0/15"), Reserved},        // benchmarking
	{netip.MustParsePrefix("240.0.0.0/4"), Reserved},          // future use, includes 255.255.255.255
	{netip.MustParsePrefix("::/96"), EmbeddedIPv4},            // deprecated IPv4-compatible
	{netip.MustParsePrefix("64:ff9b::/96"), EmbeddedIPv4},     // NAT64 well-known prefix
	{netip.MustParsePrefix("64:ff9b:1::/48"), EmbeddedIPv4},   // local-use NAT64
	{netip.MustParsePrefix("2002::/16"), EmbeddedIPv4},        // 6to4
	{netip.MustParsePrefix("2001::/32"), EmbeddedIPv4},        // Teredo
	{netip.MustParsePrefix("100::/64"), Reserved},             // discard-only
	{netip.MustParsePrefix("2001:db8::/32"), Documentation},
	{netip.MustParsePrefix("3fff::/20"), Documentation},
}

// Policy is a peer policy; safe for concurrent use. Its prefixes are fixed;
// its host addresses (the media nodes named by DNS) are replaced as they are
// re-resolved.
type Policy struct {
	allow []netip.Prefix
	hosts atomic.Pointer[[]netip.Addr]
}

// New returns a policy that refuses every non-public address except those
// inside allow. The prefixes are expected unmapped (IPv4 as IPv4).
func New(allow []netip.Prefix) *Policy {
	return &Policy{allow: append([]netip.Prefix(nil), allow...)}
}

// SetHostAddrs replaces the exact addresses allowed besides the prefixes
// (see WatchHosts).
func (p *Policy) SetHostAddrs(addrs []netip.Addr) {
	cp := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		cp = append(cp, a.Unmap().WithZone(""))
	}
	p.hosts.Store(&cp)
}

// CheckIP is Check for a net.IP, which Go often hands over as a 16-byte
// IPv4-mapped slice.
func (p *Policy) CheckIP(ip net.IP) Reason {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return Invalid
	}
	return p.Check(a)
}

// Check returns Allowed when the relay may send to a, or why not.
// IPv4-mapped IPv6 addresses are unmapped first, so ::ffff:127.0.0.1 is
// judged as 127.0.0.1.
func (p *Policy) Check(a netip.Addr) Reason {
	if !a.IsValid() {
		return Invalid
	}
	a = a.Unmap().WithZone("")
	if h := p.hosts.Load(); h != nil && slices.Contains(*h, a) {
		return Allowed
	}
	for _, pre := range p.allow {
		if pre.Contains(a) {
			return Allowed
		}
	}
	return classify(a)
}

func classify(a netip.Addr) Reason {
	switch {
	case a.IsUnspecified():
		return Unspecified
	case a.IsLoopback():
		return Loopback
	case a.IsPrivate():
		return Private
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return LinkLocal
	case a.IsMulticast(), a.IsInterfaceLocalMulticast():
		return Multicast
	}
	for _, r := range rules {
		if r.prefix.Contains(a) {
			return r.reason
		}
	}
	// Anything else that is not global unicast (for example IPv6 site-local
	// or unassigned space the predicates know about) is refused too.
	if !a.IsGlobalUnicast() {
		return NotGlobal
	}
	return Allowed
}
