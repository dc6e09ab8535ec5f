package relay_test

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/pion/turn/v4"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/contract/turncred"
	"github.com/hcw-home/hcw/turn/internal/metrics"
	"github.com/hcw-home/hcw/turn/internal/peerpolicy"
	"github.com/hcw-home/hcw/turn/internal/pionslog"
	"github.com/hcw-home/hcw/turn/internal/probe"
	"github.com/hcw-home/hcw/turn/internal/relay"
)

const realm = "hcw"

var secret = []byte("0123456789abcdef0123456789abcdef")

// quiet is the silent window in which a target must receive nothing.
const quiet = 300 * time.Millisecond

// clock is a settable clock so credential expiry needs no sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type harness struct {
	srv     *relay.Server
	metrics *metrics.Metrics
	clock   *clock
}

type option func(*relay.Params)

func allowPeers(cidrs ...string) option {
	return func(p *relay.Params) {
		var prefixes []netip.Prefix
		for _, c := range cidrs {
			prefixes = append(prefixes, netip.MustParsePrefix(c))
		}
		p.Policy = peerpolicy.New(prefixes)
	}
}

func quota(n int) option { return func(p *relay.Params) { p.UserQuota = n } }

func start(t *testing.T, opts ...option) *harness {
	t.Helper()
	h := &harness{metrics: metrics.New(), clock: &clock{now: time.Now()}}
	p := relay.Params{
		Secret:       secret,
		Realm:        realm,
		ListenUDP:    "127.0.0.1:0",
		ListenTCP:    "127.0.0.1:0",
		PublicIP:     netip.MustParseAddr("127.0.0.1"),
		RelayBind:    "127.0.0.1",
		RelayPortMin: 40000,
		RelayPortMax: 60000,
		UserQuota:    10,
		Policy:       peerpolicy.New(nil),
		Metrics:      h.metrics,
		Logger:       slog.New(slog.DiscardHandler),
		Now:          h.clock.Now,
	}
	for _, o := range opts {
		o(&p)
	}
	srv, err := relay.New(p)
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	h.srv = srv
	return h
}

func (h *harness) mint(t *testing.T, user string, ttl time.Duration) turncred.Credential {
	t.Helper()
	c, err := turncred.Mint(secret, user, ttl, h.clock.Now())
	require.NoError(t, err)
	return c
}

// client is a pion TURN client plus the server address it talks to.
type client struct {
	*turn.Client
	server net.Addr
}

func newClient(t *testing.T, conn net.PacketConn, server net.Addr, username, password string, rto time.Duration) *client {
	t.Helper()
	c, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: server.String(),
		Username:       username,
		Password:       password,
		Realm:          realm,
		RTO:            rto,
		Conn:           conn,
		LoggerFactory:  pionslog.Factory{Logger: slog.New(slog.DiscardHandler)},
	})
	require.NoError(t, err)
	require.NoError(t, c.Listen())
	t.Cleanup(func() {
		c.Close()
		_ = conn.Close()
	})
	return &client{Client: c, server: server}
}

func udpClient(t *testing.T, h *harness, username, password string) *client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	return newClient(t, conn, h.srv.UDPAddr(), username, password, 0)
}

func tcpClient(t *testing.T, h *harness, username, password string, rto time.Duration) *client {
	t.Helper()
	conn, err := net.Dial("tcp4", h.srv.TCPAddr().String())
	require.NoError(t, err)
	return newClient(t, turn.NewSTUNConn(conn), h.srv.TCPAddr(), username, password, rto)
}

func allocate(t *testing.T, c *client) net.PacketConn {
	t.Helper()
	relayConn, err := c.Allocate()
	require.NoError(t, err)
	t.Cleanup(func() { _ = relayConn.Close() })
	return relayConn
}

// udpPeer is a UDP listener standing in for a relay target.
func udpPeer(t *testing.T) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = pc.Close() })
	return pc
}

func receive(t *testing.T, pc net.PacketConn, within time.Duration) ([]byte, net.Addr, error) {
	t.Helper()
	require.NoError(t, pc.SetReadDeadline(time.Now().Add(within)))
	buf := make([]byte, 1500)
	n, from, err := pc.ReadFrom(buf)
	return buf[:n], from, err
}

func requireNothing(t *testing.T, pc net.PacketConn) {
	t.Helper()
	_, from, err := receive(t, pc, quiet)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "target received a datagram from %v", from)
}

func turnCode(t *testing.T, err error) int {
	t.Helper()
	var te *stun.TurnError
	require.ErrorAs(t, err, &te)
	return int(te.ErrorCodeAttr.Code)
}

// peerAddress adds an XOR-PEER-ADDRESS attribute.
type peerAddress stun.XORMappedAddress

func (a peerAddress) AddTo(m *stun.Message) error {
	return stun.XORMappedAddress(a).AddToAs(m, stun.AttrXORPeerAddress)
}

// request sends an authenticated TURN request the pion client has no API
// for (a bare Refresh, a ChannelBind to a peer it would never bind) over the
// client's own socket, so it comes from the allocation's 5-tuple.
func request(t *testing.T, c *client, cred turncred.Credential, method stun.Method, attrs ...stun.Setter) *stun.Message {
	t.Helper()
	probeMsg := stun.MustBuild(stun.TransactionID, stun.NewType(method, stun.ClassRequest), stun.Fingerprint)
	res, err := c.PerformTransaction(probeMsg, c.server, false)
	require.NoError(t, err)
	var nonce stun.Nonce
	require.NoError(t, nonce.GetFrom(res.Msg), "expected a 401 carrying a nonce")

	setters := append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}, attrs...)
	setters = append(setters,
		stun.NewUsername(cred.Username), stun.NewRealm(realm), nonce,
		stun.NewLongTermIntegrity(cred.Username, realm, cred.Password), stun.Fingerprint)
	res, err = c.PerformTransaction(stun.MustBuild(setters...), c.server, false)
	require.NoError(t, err)
	return res.Msg
}

func responseCode(m *stun.Message) int {
	if m.Type.Class == stun.ClassSuccessResponse {
		return 0
	}
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(m); err != nil {
		return -1
	}
	return int(code.Code)
}

func refresh(t *testing.T, c *client, cred turncred.Credential) int {
	lifetime := make([]byte, 4)
	binary.BigEndian.PutUint32(lifetime, 600)
	return responseCode(request(t, c, cred, stun.MethodRefresh, stun.RawAttribute{Type: stun.AttrLifetime, Value: lifetime}))
}

func channelBind(t *testing.T, c *client, cred turncred.Credential, peer *net.UDPAddr, channel uint16) int {
	number := []byte{byte(channel >> 8), byte(channel), 0, 0}
	return responseCode(request(t, c, cred, stun.MethodChannelBind,
		stun.RawAttribute{Type: stun.AttrChannelNumber, Value: number},
		peerAddress{IP: peer.IP, Port: peer.Port}))
}

// sendIndication sends a raw Send indication, bypassing the client's own
// permission bookkeeping.
func sendIndication(t *testing.T, c *client, peer *net.UDPAddr, payload []byte) {
	t.Helper()
	m := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodSend, stun.ClassIndication),
		peerAddress{IP: peer.IP, Port: peer.Port},
		stun.RawAttribute{Type: stun.AttrData, Value: payload}, stun.Fingerprint)
	_, err := c.WriteTo(m.Raw, c.server)
	require.NoError(t, err)
}

func TestAllocate(t *testing.T) {
	h := start(t, allowPeers("127.0.0.1/32"))
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			cred := h.mint(t, "participant-"+transport, time.Hour)
			var c *client
			if transport == "udp" {
				c = udpClient(t, h, cred.Username, cred.Password)
			} else {
				c = tcpClient(t, h, cred.Username, cred.Password, 0)
			}
			relayConn := allocate(t, c)
			require.Equal(t, "127.0.0.1", relayConn.LocalAddr().(*net.UDPAddr).IP.String())

			// An allow-listed peer receives relayed data, and its answer
			// comes back through the relay.
			peer := udpPeer(t)
			_, err := relayConn.WriteTo([]byte("hello "+transport), peer.LocalAddr())
			require.NoError(t, err)
			got, from, err := receive(t, peer, 2*time.Second)
			require.NoError(t, err)
			require.Equal(t, "hello "+transport, string(got))
			require.Equal(t, relayConn.LocalAddr().(*net.UDPAddr).Port, from.(*net.UDPAddr).Port)

			_, err = peer.WriteTo([]byte("answer"), from)
			require.NoError(t, err)
			require.NoError(t, relayConn.SetReadDeadline(time.Now().Add(2*time.Second)))
			buf := make([]byte, 100)
			n, _, err := relayConn.ReadFrom(buf)
			require.NoError(t, err)
			require.Equal(t, "answer", string(buf[:n]))
		})
	}
	require.Equal(t, 2.0, testutil.ToFloat64(h.metrics.AllocationsTotal))
	require.Positive(t, testutil.ToFloat64(h.metrics.RelayedBytes.WithLabelValues(metrics.DirectionOut)))
	require.Positive(t, testutil.ToFloat64(h.metrics.RelayedPackets.WithLabelValues(metrics.DirectionIn)))
}

func TestBadCredentialsRefused(t *testing.T) {
	h := start(t)
	now := h.clock.Now()
	good := h.mint(t, "alice", time.Hour)
	expired, err := turncred.Mint(secret, "alice", time.Hour, now.Add(-2*time.Hour))
	require.NoError(t, err)
	other, err := turncred.Mint([]byte("another-secret-another-secret"), "alice", time.Hour, now)
	require.NoError(t, err)
	bob := h.mint(t, "bob", time.Hour)

	for _, tc := range []struct {
		name, username, password, reason string
	}{
		{"expired", expired.Username, expired.Password, "expired"},
		{"forged password", good.Username, "Zm9yZ2VkLXBhc3N3b3JkLTEyMzQ1Ng==", "integrity"},
		{"other secret", other.Username, other.Password, "integrity"},
		{"other user's password", bob.Username, good.Password, "integrity"},
		{"malformed username", "alice", turncred.Password(secret, "alice"), "malformed"},
		{"non-numeric expiry", "tomorrow:alice", turncred.Password(secret, "tomorrow:alice"), "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := testutil.ToFloat64(h.metrics.AuthFailures.WithLabelValues(tc.reason))
			c := udpClient(t, h, tc.username, tc.password)
			_, err := c.Allocate()
			require.Error(t, err)
			// pion/turn v4.1.4 answers a refused credential with 400, where
			// RFC 8489 would say 401; either way no allocation is made.
			require.Contains(t, []int{400, 401}, turnCode(t, err))
			require.Equal(t, before+1, testutil.ToFloat64(h.metrics.AuthFailures.WithLabelValues(tc.reason)))
		})
	}
	require.Zero(t, testutil.ToFloat64(h.metrics.AllocationsTotal))
}

// TestLongCallOutlivesCredential: expiry is checked on Allocate only.
func TestLongCallOutlivesCredential(t *testing.T) {
	h := start(t, allowPeers("127.0.0.1/32"))
	cred := h.mint(t, "long-call", time.Minute)
	c := udpClient(t, h, cred.Username, cred.Password)
	relayConn := allocate(t, c)

	h.clock.advance(2 * time.Minute)
	_, err := turncred.Check(cred.Username, h.clock.Now())
	require.ErrorIs(t, err, turncred.ErrExpired, "precondition: the credential has expired")

	peer := udpPeer(t)
	peerAddr := peer.LocalAddr().(*net.UDPAddr)
	require.NoError(t, c.CreatePermission(peerAddr), "CreatePermission after expiry")
	_, err = relayConn.WriteTo([]byte("still here"), peerAddr)
	require.NoError(t, err, "send after expiry")
	got, _, err := receive(t, peer, 2*time.Second)
	require.NoError(t, err)
	require.Equal(t, "still here", string(got))
	require.Equal(t, 0, refresh(t, c, cred), "refresh after expiry")
	// The client binds a channel to peerAddr by itself after the write;
	// bind another peer explicitly.
	other := udpPeer(t).LocalAddr().(*net.UDPAddr)
	require.Equal(t, 0, channelBind(t, c, cred, other, 0x4001), "channel bind after expiry")

	// The same expired credential cannot open a new allocation elsewhere.
	fresh := udpClient(t, h, cred.Username, cred.Password)
	_, err = fresh.Allocate()
	require.Error(t, err)
	require.Equal(t, 1.0, testutil.ToFloat64(h.metrics.AuthFailures.WithLabelValues("expired")))
	// Nor from the allocation's own 5-tuple: that one is taken.
	_, err = c.AllocateTCP()
	require.Error(t, err)
	require.Equal(t, 1.0, testutil.ToFloat64(h.metrics.Allocations))
}

func TestRefusedPeers(t *testing.T) {
	h := start(t)
	for i, ip := range []string{
		"127.0.0.1", "::1", "0.0.0.0", "::", "::ffff:127.0.0.1",
		"10.0.0.1", "192.168.1.1", "169.254.169.254", "fe80::1",
	} {
		t.Run(ip, func(t *testing.T) {
			cred := h.mint(t, "peer-test-"+string(rune('a'+i)), time.Hour)
			c := udpClient(t, h, cred.Username, cred.Password)
			relayConn := allocate(t, c)

			addr := &net.UDPAddr{IP: net.ParseIP(ip), Port: 9}
			var target net.PacketConn
			if ip == "127.0.0.1" {
				target = udpPeer(t)
				addr = target.LocalAddr().(*net.UDPAddr)
			}

			// pion/turn v4.1.4 answers a refused CreatePermission with an
			// error response without ERROR-CODE, and a refused ChannelBind
			// with 401, where RFC 8656 says 403; the test pins refusal, not
			// the code.
			err := c.CreatePermission(addr)
			require.ErrorContains(t, err, "CreatePermission error response")
			require.Contains(t, []int{401, 403}, channelBind(t, c, cred, addr, 0x4000), "ChannelBind")
			_, err = relayConn.WriteTo([]byte("x"), addr)
			require.Error(t, err, "WriteTo on the relay conn")
			sendIndication(t, c, addr, []byte("raw send"))
			if target != nil {
				requireNothing(t, target)
			}
		})
	}
	require.Positive(t, testutil.ToFloat64(h.metrics.PermissionRefusals.WithLabelValues(string(peerpolicy.Loopback))))
}

func TestQuota(t *testing.T) {
	h := start(t, quota(2))
	alice := h.mint(t, "alice", time.Hour)
	a1 := allocate(t, udpClient(t, h, alice.Username, alice.Password))
	allocate(t, tcpClient(t, h, alice.Username, alice.Password, 0))

	_, err := udpClient(t, h, alice.Username, alice.Password).Allocate()
	require.Error(t, err)
	require.Equal(t, 486, turnCode(t, err))
	require.Equal(t, 1.0, testutil.ToFloat64(h.metrics.QuotaRefusals))

	bob := h.mint(t, "bob", time.Hour)
	allocate(t, udpClient(t, h, bob.Username, bob.Password))

	// Releasing an allocation frees the slot.
	require.NoError(t, a1.Close())
	require.Eventually(t, func() bool { return testutil.ToFloat64(h.metrics.Allocations) == 2 }, 5*time.Second, 20*time.Millisecond)
	allocate(t, udpClient(t, h, alice.Username, alice.Password))
}

// TestTCPConnectRefused: RFC 6062 TCP relaying never reaches a peer, refused
// or allow-listed (pion/turn v4.1.4 does not implement CONNECT; see the
// relay.Server doc comment).
func TestTCPConnectRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the client's CONNECT transaction to time out")
	}
	for _, tc := range []struct {
		name string
		opts []option
		want string // expected error text
	}{
		{"refused peer", nil, "CreatePermission error response"},
		{"allow-listed peer", []option{allowPeers("127.0.0.1/32")}, "all retransmissions failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, tc.opts...)
			target, err := net.Listen("tcp4", "127.0.0.1:0")
			require.NoError(t, err)
			t.Cleanup(func() { _ = target.Close() })
			accepted := make(chan net.Conn, 1)
			go func() {
				if conn, err := target.Accept(); err == nil {
					accepted <- conn
				}
			}()

			cred := h.mint(t, "tcp-relay", time.Hour)
			c := tcpClient(t, h, cred.Username, cred.Password, 20*time.Millisecond)
			alloc, err := c.AllocateTCP()
			require.NoError(t, err)
			t.Cleanup(func() { _ = alloc.Close() })

			_, err = alloc.DialTCP("tcp4", nil, target.Addr().(*net.TCPAddr))
			require.ErrorContains(t, err, tc.want)
			select {
			case conn := <-accepted:
				_ = conn.Close()
				t.Fatal("the target accepted a relayed TCP connection")
			case <-time.After(quiet):
			}
		})
	}
}

func TestInternalEndpoints(t *testing.T) {
	h := start(t)
	web := httptest.NewServer(probe.Handler(h.srv.Ready, h.metrics.Registry))
	t.Cleanup(web.Close)

	cred := h.mint(t, "metrics", time.Hour)
	c := udpClient(t, h, cred.Username, cred.Password)
	allocate(t, c)
	require.Error(t, c.CreatePermission(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}))
	_, err := udpClient(t, h, "1:expired", "x").Allocate()
	require.Error(t, err)

	body := get(t, web.URL+"/metrics", http.StatusOK)
	for _, want := range []string{
		"hcw_turn_allocations 1",
		"hcw_turn_allocations_total 1",
		`hcw_turn_permission_refusals_total{reason="loopback"} 1`,
		`hcw_turn_auth_failures_total{reason="expired"} 1`,
		"hcw_turn_quota_refusals_total 0",
		`hcw_turn_relayed_bytes_total{direction="out"}`,
		`hcw_turn_relayed_packets_total{direction="in"}`,
	} {
		require.Contains(t, body, want)
	}

	require.Equal(t, "ok\n", get(t, web.URL+"/healthz", http.StatusOK))
	_, port, err := net.SplitHostPort(strings.TrimPrefix(web.URL, "http://"))
	require.NoError(t, err)
	require.NoError(t, probe.Check(t.Context(), ":"+port))

	require.NoError(t, h.srv.Close())
	get(t, web.URL+"/healthz", http.StatusServiceUnavailable)
	require.Error(t, probe.Check(t.Context(), ":"+port))
}

func get(t *testing.T, url string, status int) string {
	t.Helper()
	resp, err := http.Get(url) //nolint:noctx // test
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, status, resp.StatusCode, string(b))
	return string(b)
}

// TestSilentTCPConnectionsAreClosed: a TCP client that connects and sends
// nothing (slowloris) is cut after the first-message timeout; one that
// allocates stays, and is cut only after the idle timeout.
func TestSilentTCPConnectionsAreClosed(t *testing.T) {
	h := start(t, allowPeers("127.0.0.0/8"), func(p *relay.Params) {
		p.FirstMessageTimeout = 300 * time.Millisecond
		p.IdleTimeout = 1500 * time.Millisecond
	})
	silent, err := net.Dial("tcp", h.srv.TCPAddr().String())
	require.NoError(t, err)
	defer silent.Close()
	start := time.Now()
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = silent.Read(make([]byte, 1))
	require.Error(t, err, "the silent connection got data")
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "still open after 5 s")
	require.Less(t, time.Since(start), 3*time.Second)

	// A client that talks in time is served past the first timeout, and
	// cut once silent for the idle timeout.
	conn, err := net.Dial("tcp", h.srv.TCPAddr().String())
	require.NoError(t, err)
	defer conn.Close()
	cred := h.mint(t, "tcp-user", time.Hour)
	c := newClient(t, turn.NewSTUNConn(conn), h.srv.TCPAddr(), cred.Username, cred.Password, time.Second)
	relayConn, err := c.Allocate()
	require.NoError(t, err)
	defer relayConn.Close()
	peer := func(ip string) net.Addr {
		pc, err := net.ListenPacket("udp4", ip+":0")
		require.NoError(t, err)
		t.Cleanup(func() { _ = pc.Close() })
		return pc.LocalAddr()
	}
	// Each new peer address makes the client send a CreatePermission
	// request and wait for its answer.
	time.Sleep(500 * time.Millisecond)
	_, err = relayConn.WriteTo([]byte("hello"), peer("127.0.0.1"))
	require.NoError(t, err, "a client that spoke in time was cut")
	time.Sleep(2500 * time.Millisecond)
	_, err = relayConn.WriteTo([]byte("hello"), peer("127.0.0.2"))
	require.Error(t, err, "a connection silent past the idle timeout is still open")
}
