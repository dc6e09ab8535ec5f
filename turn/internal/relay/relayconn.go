package relay

import (
	"net"

	"github.com/pion/turn/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hcw-home/hcw/turn/internal/metrics"
)

// countingGenerator wraps pion's relay address generator so every relay
// socket it hands out counts the traffic it carries.
type countingGenerator struct {
	turn.RelayAddressGenerator
	metrics *metrics.Metrics
}

// AllocatePacketConn allocates a relay socket and wraps it for counting.
func (g *countingGenerator) AllocatePacketConn(network string, requestedPort int) (net.PacketConn, net.Addr, error) {
	conn, addr, err := g.RelayAddressGenerator.AllocatePacketConn(network, requestedPort)
	if err != nil {
		return nil, nil, err
	}
	return &countingConn{
		PacketConn: conn,
		inBytes:    g.metrics.RelayedBytes.WithLabelValues(metrics.DirectionIn),
		inPackets:  g.metrics.RelayedPackets.WithLabelValues(metrics.DirectionIn),
		outBytes:   g.metrics.RelayedBytes.WithLabelValues(metrics.DirectionOut),
		outPackets: g.metrics.RelayedPackets.WithLabelValues(metrics.DirectionOut),
	}, addr, nil
}

// AllocateConn refuses TCP relay sockets: see the Server doc comment.
func (g *countingGenerator) AllocateConn(string, int) (net.Conn, net.Addr, error) {
	return nil, nil, ErrTCPRelay
}

type countingConn struct {
	net.PacketConn
	inBytes, inPackets, outBytes, outPackets prometheus.Counter
}

func (c *countingConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if n > 0 {
		c.inBytes.Add(float64(n))
		c.inPackets.Inc()
	}
	return n, addr, err
}

func (c *countingConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	n, err := c.PacketConn.WriteTo(p, addr)
	if n > 0 {
		c.outBytes.Add(float64(n))
		c.outPackets.Inc()
	}
	return n, err
}
