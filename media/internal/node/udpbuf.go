package node

import "net"

// udpBufferSize is what the node asks for its one UDP socket's kernel
// buffers, each way. Every peer's media goes in and out of that socket
// (at 200 audio subscribers, 50,000 packets/s out); the kernel default
// (net.core.rmem_default/wmem_default, about 208 KiB) holds some 20 ms of
// that, so a GC pause or a busy core drops packets. The kernel caps the
// request at net.core.rmem_max and wmem_max (raise them with sysctl on the
// host); the TURN server does the same with its listener.
const udpBufferSize = 4 << 20

// growUDPBuffers asks for udpBufferSize on pc (if it is a UDP socket) and
// returns the receive buffer in effect in usable bytes, or 0 if unknown
// (off Linux).
func growUDPBuffers(pc net.PacketConn) int {
	c, ok := pc.(*net.UDPConn)
	if !ok {
		return 0
	}
	_ = c.SetReadBuffer(udpBufferSize)
	_ = c.SetWriteBuffer(udpBufferSize)
	return readBuffer(c) / 2 // Linux reports twice the usable size
}
