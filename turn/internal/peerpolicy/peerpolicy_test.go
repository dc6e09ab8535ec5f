package peerpolicy_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/turn/internal/peerpolicy"
)

func TestCheck(t *testing.T) {
	p := peerpolicy.New(nil)
	for _, tc := range []struct {
		ip   string
		want peerpolicy.Reason
	}{
		{"127.0.0.1", peerpolicy.Loopback},
		{"127.255.255.254", peerpolicy.Loopback},
		{"::1", peerpolicy.Loopback},
		{"::ffff:127.0.0.1", peerpolicy.Loopback},
		{"0.0.0.0", peerpolicy.Unspecified},
		{"::", peerpolicy.Unspecified},
		{"0.1.2.3", peerpolicy.Reserved},
		{"10.0.0.1", peerpolicy.Private},
		{"172.16.0.1", peerpolicy.Private},
		{"172.31.255.255", peerpolicy.Private},
		{"192.168.1.1", peerpolicy.Private},
		{"::ffff:10.1.2.3", peerpolicy.Private},
		{"fc00::1", peerpolicy.Private},
		{"fd12:3456::1", peerpolicy.Private},
		{"100.64.0.1", peerpolicy.Private},
		{"100.127.255.254", peerpolicy.Private},
		{"169.254.169.254", peerpolicy.LinkLocal},
		{"169.254.0.1", peerpolicy.LinkLocal},
		{"fe80::1", peerpolicy.LinkLocal},
		{"224.0.0.1", peerpolicy.LinkLocal},
		{"239.1.2.3", peerpolicy.Multicast},
		{"ff02::1", peerpolicy.LinkLocal},
		{"ff0e::1", peerpolicy.Multicast},
		{"255.255.255.255", peerpolicy.Reserved},
		{"240.0.0.1", peerpolicy.Reserved},
		{"192.0.0.8", peerpolicy.Reserved},
		{"198.18.0.1", peerpolicy.Reserved},
		{"198.19.255.255", peerpolicy.Reserved},
		{"192.0.2.1", peerpolicy.Documentation},
		{"198.51.100.1", peerpolicy.Documentation},
		{"203.0.113.1", peerpolicy.Documentation},
		{"2001:db8::1", peerpolicy.Documentation},
		{"64:ff9b::7f00:1", peerpolicy.EmbeddedIPv4},
		{"64:ff9b::808:808", peerpolicy.EmbeddedIPv4},
		{"2002:7f00:1::1", peerpolicy.EmbeddedIPv4},
		{"2001:0:4136:e378::1", peerpolicy.EmbeddedIPv4},
		{"::127.0.0.1", peerpolicy.EmbeddedIPv4},
		{"8.8.8.8", peerpolicy.Allowed},
		{"1.1.1.1", peerpolicy.Allowed},
		{"172.32.0.1", peerpolicy.Allowed},
		{"100.128.0.1", peerpolicy.Allowed},
		{"::ffff:8.8.8.8", peerpolicy.Allowed},
		{"2001:4860::8888", peerpolicy.Allowed},
		{"2a00:1450:4007::200e", peerpolicy.Allowed},
	} {
		t.Run(tc.ip, func(t *testing.T) {
			a := netip.MustParseAddr(tc.ip)
			require.Equal(t, tc.want, p.Check(a))
			// The net.IP path, as pion hands it over, agrees, including for
			// 16-byte IPv4.
			require.Equal(t, tc.want, p.CheckIP(net.IP(a.AsSlice())))
			if a.Is4() {
				require.Equal(t, tc.want, p.CheckIP(net.ParseIP(tc.ip).To16()))
			}
		})
	}
}

func TestCheckInvalid(t *testing.T) {
	p := peerpolicy.New(nil)
	require.Equal(t, peerpolicy.Invalid, p.CheckIP(nil))
	require.Equal(t, peerpolicy.Invalid, p.CheckIP(net.IP{1, 2, 3}))
	require.Equal(t, peerpolicy.Invalid, p.Check(netip.Addr{}))
}

func TestAllowList(t *testing.T) {
	p := peerpolicy.New([]netip.Prefix{
		netip.MustParsePrefix("10.20.0.0/16"),
		netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("fd00:1::/64"),
	})
	for _, tc := range []struct {
		ip   string
		want peerpolicy.Reason
	}{
		{"10.20.3.4", peerpolicy.Allowed},
		{"::ffff:10.20.3.4", peerpolicy.Allowed},
		{"10.21.0.1", peerpolicy.Private},
		{"127.0.0.1", peerpolicy.Allowed},
		{"127.0.0.2", peerpolicy.Loopback},
		{"fd00:1::5", peerpolicy.Allowed},
		{"fd00:2::5", peerpolicy.Private},
		{"169.254.169.254", peerpolicy.LinkLocal},
	} {
		t.Run(tc.ip, func(t *testing.T) {
			require.Equal(t, tc.want, p.Check(netip.MustParseAddr(tc.ip)))
		})
	}
}
