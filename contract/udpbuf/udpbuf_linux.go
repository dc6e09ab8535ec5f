package udpbuf

import (
	"net"
	"syscall"
)

// readBuffer reads SO_RCVBUF, which Linux reports as twice the usable
// size (the rest is its bookkeeping).
func readBuffer(c *net.UDPConn) int {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	_ = raw.Control(func(fd uintptr) {
		if v, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF); err == nil {
			n = v / 2
		}
	})
	return n
}
