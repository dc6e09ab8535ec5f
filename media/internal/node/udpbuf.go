package node

import (
	"net"

	"github.com/hcw-home/hcw/contract/udpbuf"
)

// growUDPBuffers gives pc, if it is a UDP socket, the buffers of
// udpbuf.Grow: every peer's media goes in and out of the node's one UDP
// socket (at 200 audio subscribers, 50,000 packets/s out). It returns the
// usable receive buffer in effect, or 0 if unknown.
func growUDPBuffers(pc net.PacketConn) int {
	c, ok := pc.(*net.UDPConn)
	if !ok {
		return 0
	}
	return udpbuf.Grow(c)
}
