package relay

import (
	"net"
	"time"
)

// bounded wraps a TCP or TLS listener so that its connections time out:
// the first bytes (for TLS, the handshake, which the first Read drives)
// within FirstMessageTimeout, then at most IdleTimeout between reads.
func (s *Server) bounded(l net.Listener) net.Listener {
	first, idle := s.p.FirstMessageTimeout, s.p.IdleTimeout
	if first <= 0 {
		first = DefaultFirstMessageTimeout
	}
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	return &deadlineListener{Listener: l, first: first, idle: idle}
}

type deadlineListener struct {
	net.Listener
	first, idle time.Duration
}

func (l *deadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &deadlineConn{Conn: c, first: l.first, idle: l.idle}, nil
}

// deadlineConn sets a read deadline before each Read. pion/turn reads a
// connection from one goroutine, so started needs no lock.
type deadlineConn struct {
	net.Conn
	first, idle time.Duration
	started     bool
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	d := c.idle
	if !c.started {
		d = c.first
	}
	if err := c.Conn.SetReadDeadline(time.Now().Add(d)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.started = true
	}
	return n, err
}
