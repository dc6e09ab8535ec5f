package udpbuf

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGrow: the buffer in effect is what the host lets a process have, up
// to Size (the kernel's default is far below either).
func TestGrow(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skip("no /proc/sys/net/core/rmem_max: not Linux")
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	c := pc.(*net.UDPConn)
	before := ReadBuffer(c)
	require.Positive(t, before)

	rmemMax, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	want := min(Size, rmemMax)

	got := Grow(c)
	// Linux reports twice what was set.
	require.GreaterOrEqual(t, got, 2*want, "before %d, rmem_max %d", before, rmemMax)
}
