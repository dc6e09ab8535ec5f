// Package relay runs the TURN relay: pion/turn v4 with our credential
// check, peer policy, per-user quota and metrics.
package relay

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pion/turn/v4"

	"github.com/hcw-home/hcw/contract/turncred"
	"github.com/hcw-home/hcw/contract/udpbuf"
	"github.com/hcw-home/hcw/turn/internal/metrics"
	"github.com/hcw-home/hcw/turn/internal/peerpolicy"
	"github.com/hcw-home/hcw/turn/internal/pionslog"
)

// Params configures a Server.
type Params struct {
	// Secret is the TURN REST shared secret.
	Secret []byte
	// Realm is the STUN realm.
	Realm string
	// ListenUDP and ListenTCP are plain TURN listen addresses; an empty one
	// is not opened.
	ListenUDP string
	ListenTCP string
	// ListenTLS, with TLSCertificate, opens a TURN-over-TLS listener.
	ListenTLS      string
	TLSCertificate *tls.Certificate
	// PublicIP is announced to clients as the relay address.
	PublicIP netip.Addr
	// RelayBind is the address relay sockets bind to; "0.0.0.0" when empty.
	RelayBind string
	// RelayPortMin and RelayPortMax bound the relay ports (inclusive).
	RelayPortMin, RelayPortMax uint16
	// UserQuota is the number of concurrent allocations per credential user.
	UserQuota int
	// Policy decides which peers may be relayed to.
	Policy *peerpolicy.Policy
	// Metrics receives the counters.
	Metrics *metrics.Metrics
	// Logger receives our logs and pion's.
	Logger *slog.Logger
	// Now is the clock used for credential expiry; time.Now when nil.
	Now func() time.Time
	// FirstMessageTimeout bounds how long a new TCP or TLS connection may
	// take to send its first bytes (the TLS handshake included), so idle
	// connections cannot pile up (slowloris); DefaultFirstMessageTimeout
	// when zero. IdleTimeout closes a connection silent for that long
	// afterwards; DefaultIdleTimeout (longer than an allocation's lifetime,
	// so a live client always refreshes in time) when zero.
	FirstMessageTimeout time.Duration
	IdleTimeout         time.Duration
}

// Timeouts of TCP and TLS client connections (pion/turn sets none).
const (
	DefaultFirstMessageTimeout = 10 * time.Second
	DefaultIdleTimeout         = 15 * time.Minute
)

// Server is a running TURN relay.
//
// TCP relaying (RFC 6062 CONNECT): pion/turn v4.1.4 does not implement it.
// Its server has no handler for the Connect and ConnectionBind methods (the
// request is dropped unanswered), and an Allocate asking for
// REQUESTED-TRANSPORT TCP gets a UDP relay socket like any other. So there
// is no path by which TCP can be relayed to a peer, refused or not, and the
// permission-check gap fixed upstream in pion/turn PR #570 cannot be
// reached here. As a second line, the relay address generator refuses TCP
// relay sockets (AllocateConn returns ErrTCPRelay), so a pion upgrade that
// adds CONNECT fails closed until this decision is revisited; the test
// TestTCPConnectRefused guards it. TURN over TCP and TLS (client to
// server) is supported; only the relay leg is UDP.
type Server struct {
	p       Params
	log     *slog.Logger
	turn    *turn.Server
	ledger  *ledger
	udpAddr net.Addr
	tcpAddr net.Addr
	tlsAddr net.Addr
	ready   atomic.Bool
}

// New opens the listeners and starts the TURN server.
func New(p Params) (*Server, error) {
	switch {
	case len(p.Secret) < turncred.MinSecretLen:
		return nil, fmt.Errorf("%w: secret shorter than %d bytes", ErrParams, turncred.MinSecretLen)
	case p.Policy == nil, p.Metrics == nil, p.Logger == nil:
		return nil, fmt.Errorf("%w: policy, metrics and logger are required", ErrParams)
	case !p.PublicIP.Is4():
		return nil, fmt.Errorf("%w: public IP %s is not IPv4", ErrParams, p.PublicIP)
	case p.UserQuota < 1:
		return nil, fmt.Errorf("%w: user quota %d", ErrParams, p.UserQuota)
	case p.ListenTLS != "" && p.TLSCertificate == nil:
		return nil, fmt.Errorf("%w: TLS listener without certificate", ErrParams)
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.RelayBind == "" {
		p.RelayBind = "0.0.0.0"
	}
	s := &Server{p: p, log: p.Logger.With("component", "relay"), ledger: newLedger()}

	generator := func() turn.RelayAddressGenerator {
		return &countingGenerator{
			RelayAddressGenerator: &turn.RelayAddressGeneratorPortRange{
				RelayAddress: net.IP(p.PublicIP.AsSlice()),
				Address:      p.RelayBind,
				MinPort:      p.RelayPortMin,
				MaxPort:      p.RelayPortMax,
			},
			metrics: p.Metrics,
		}
	}

	var (
		packetConfigs   []turn.PacketConnConfig
		listenerConfigs []turn.ListenerConfig
		closers         []func() error
	)
	fail := func(err error) (*Server, error) {
		for _, c := range closers {
			_ = c()
		}
		return nil, err
	}

	if p.ListenUDP != "" {
		pc, err := net.ListenPacket("udp4", p.ListenUDP)
		if err != nil {
			return fail(fmt.Errorf("listen udp %s: %w", p.ListenUDP, err))
		}
		closers = append(closers, pc.Close)
		if uc, ok := pc.(*net.UDPConn); ok {
			if n := udpbuf.Grow(uc); n > 0 && n < udpbuf.Size {
				s.log.Info("the UDP listener's receive buffer is smaller than asked; raise net.core.rmem_max on the host",
					"bytes", n, "asked", udpbuf.Size)
			}
		}
		s.udpAddr = pc.LocalAddr()
		packetConfigs = append(packetConfigs, turn.PacketConnConfig{
			PacketConn:            pc,
			RelayAddressGenerator: generator(),
			PermissionHandler:     s.permit,
		})
	}
	if p.ListenTCP != "" {
		l, err := net.Listen("tcp4", p.ListenTCP)
		if err != nil {
			return fail(fmt.Errorf("listen tcp %s: %w", p.ListenTCP, err))
		}
		closers = append(closers, l.Close)
		s.tcpAddr = l.Addr()
		listenerConfigs = append(listenerConfigs, turn.ListenerConfig{
			Listener:              s.bounded(l),
			RelayAddressGenerator: generator(),
			PermissionHandler:     s.permit,
		})
	}
	if p.ListenTLS != "" {
		l, err := tls.Listen("tcp4", p.ListenTLS, &tls.Config{
			Certificates: []tls.Certificate{*p.TLSCertificate},
			MinVersion:   tls.VersionTLS12,
		})
		if err != nil {
			return fail(fmt.Errorf("listen tls %s: %w", p.ListenTLS, err))
		}
		closers = append(closers, l.Close)
		s.tlsAddr = l.Addr()
		listenerConfigs = append(listenerConfigs, turn.ListenerConfig{
			Listener:              s.bounded(l),
			RelayAddressGenerator: generator(),
			PermissionHandler:     s.permit,
		})
	}

	t, err := turn.NewServer(turn.ServerConfig{
		PacketConnConfigs: packetConfigs,
		ListenerConfigs:   listenerConfigs,
		LoggerFactory:     pionslog.Factory{Logger: p.Logger},
		Realm:             p.Realm,
		AuthHandler:       s.authenticate,
		QuotaHandler:      s.admit,
		EventHandler: turn.EventHandler{
			OnAuth:              s.onAuth,
			OnAllocationCreated: s.onAllocationCreated,
			OnAllocationDeleted: s.onAllocationDeleted,
		},
	})
	if err != nil {
		return fail(fmt.Errorf("start turn server: %w", err))
	}
	s.turn = t
	s.ready.Store(true)
	return s, nil
}

// UDPAddr, TCPAddr and TLSAddr return the bound listener addresses (nil when
// that listener is off); useful when listening on port 0.
func (s *Server) UDPAddr() net.Addr { return s.udpAddr }

// TCPAddr returns the bound TCP listener address.
func (s *Server) TCPAddr() net.Addr { return s.tcpAddr }

// TLSAddr returns the bound TLS listener address.
func (s *Server) TLSAddr() net.Addr { return s.tlsAddr }

// Ready reports whether the listeners are up.
func (s *Server) Ready() bool { return s.ready.Load() }

// Close stops the listeners; pion then closes every allocation.
func (s *Server) Close() error {
	s.ready.Store(false)
	if err := s.turn.Close(); err != nil {
		return fmt.Errorf("close turn server: %w", err)
	}
	return nil
}

// authenticate is the AuthHandler. It differs from pion's
// LongTermTURNRESTAuthHandler, which checks expiry on every request, in one
// way: an expired credential is still accepted from a client 5-tuple that
// already holds an allocation made with that very username, so refreshes,
// permissions and channel binds of a call longer than the credential's
// lifetime keep working, while a new allocation needs a fresh credential
// (the 5-tuple is taken, so pion answers any new Allocate with 437).
// The password itself is proven by MESSAGE-INTEGRITY, checked by pion with
// the key returned here; a wrong secret or forged password fails there.
func (s *Server) authenticate(username, _ string, src net.Addr) ([]byte, bool) {
	_, err := turncred.Check(username, s.p.Now())
	switch {
	case errors.Is(err, turncred.ErrExpired):
		if !s.ledger.holds(src, username) {
			s.authFailed("expired", username, src)
			return nil, false
		}
	case errors.Is(err, turncred.ErrMalformed):
		s.authFailed("malformed", username, src)
		return nil, false
	case err != nil:
		s.authFailed("invalid", username, src)
		return nil, false
	}
	return turn.GenerateAuthKey(username, s.p.Realm, turncred.Password(s.p.Secret, username)), true
}

func (s *Server) authFailed(reason, username string, src net.Addr) {
	s.p.Metrics.AuthFailures.WithLabelValues(reason).Inc()
	// The username is a pseudonymous participant ID, never a secret; it is
	// truncated because an attacker chooses it.
	s.log.Debug("turn credential refused", "reason", reason, "client", src.String(), "username", truncate(username, 64))
}

// onAuth counts the failures pion detects itself: a MESSAGE-INTEGRITY
// mismatch (wrong password, other secret, forged credential).
func (s *Server) onAuth(src, _ net.Addr, _, username, _, method string, verdict bool) {
	if verdict {
		return
	}
	s.p.Metrics.AuthFailures.WithLabelValues("integrity").Inc()
	s.log.Debug("turn message integrity mismatch", "client", src.String(), "method", method, "username", truncate(username, 64))
}

// admit is the QuotaHandler.
func (s *Server) admit(username, _ string, src net.Addr) bool {
	user := userOf(username)
	if s.ledger.reserve(src, user, s.p.UserQuota, s.p.Now()) {
		return true
	}
	s.p.Metrics.QuotaRefusals.Inc()
	s.log.Info("turn allocation quota reached", "client", src.String(), "user", truncate(user, 64), "quota", s.p.UserQuota)
	return false
}

// permit is the PermissionHandler; pion v4.1.4 calls it for CreatePermission
// and ChannelBind, and Send indications and ChannelData only flow to peers
// holding a permission.
func (s *Server) permit(client net.Addr, peer net.IP) bool {
	reason := s.p.Policy.CheckIP(peer)
	if reason == peerpolicy.Allowed {
		return true
	}
	s.p.Metrics.PermissionRefusals.WithLabelValues(string(reason)).Inc()
	s.log.Debug("turn peer refused", "client", client.String(), "peer", peer.String(), "reason", string(reason))
	return false
}

func (s *Server) onAllocationCreated(src, _ net.Addr, _, username, _ string, relay net.Addr, _ int) {
	s.ledger.created(src, username)
	s.p.Metrics.Allocations.Inc()
	s.p.Metrics.AllocationsTotal.Inc()
	s.log.Debug("turn allocation created", "client", src.String(), "relay", relay.String())
}

func (s *Server) onAllocationDeleted(src, _ net.Addr, _, username, _ string) {
	s.ledger.deleted(src, username)
	s.p.Metrics.Allocations.Dec()
	s.log.Debug("turn allocation deleted", "client", src.String())
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
