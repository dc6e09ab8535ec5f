// Package udpbuf is the UDP socket buffer policy the TURN server and the
// media nodes share: both relay media on UDP sockets and ask the kernel
// for the same buffers.
//
// The kernel's default receive buffer (net.core.rmem_default, about
// 208 KiB) holds some 20 ms of traffic at 10,000 packets/s: a pause of the
// process that long (a GC, a busy core) and the kernel drops what arrives.
// Measured against coturn on a shared two-core machine, our TURN listening
// socket dropped packets where coturn's, with 4 MiB, dropped none.
package udpbuf

import "net"

// Size is what Grow asks for, each way. The kernel caps it at
// net.core.rmem_max and net.core.wmem_max; raise those on the host
// (sysctl) for the request to take full effect.
const Size = 4 << 20

// Grow asks for Size-byte receive and send buffers on c and returns the
// usable receive buffer in effect (ReadBuffer).
func Grow(c *net.UDPConn) int {
	_ = c.SetReadBuffer(Size)
	_ = c.SetWriteBuffer(Size)
	return ReadBuffer(c)
}

// ReadBuffer is c's usable receive buffer in bytes, or 0 where it cannot
// be read (readBuffer: Linux only; the appliance runs on Linux, the
// other systems only build).
func ReadBuffer(c *net.UDPConn) int { return readBuffer(c) }
