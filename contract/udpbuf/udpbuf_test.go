package udpbuf

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestGrow: the buffer in effect is what the host lets a process have, up
// to Size (the kernel's default is far below either).
func TestGrow(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skip("no /proc/sys/net/core/rmem_max: not Linux")
	}
	rmemMax, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c := pc.(*net.UDPConn)
	before := ReadBuffer(c)
	if before <= 0 {
		t.Fatalf("read buffer before = %d", before)
	}
	if got, want := Grow(c), min(Size, rmemMax); got < want {
		t.Fatalf("read buffer after Grow = %d, want at least %d (before %d, rmem_max %d)", got, want, before, rmemMax)
	}
}
