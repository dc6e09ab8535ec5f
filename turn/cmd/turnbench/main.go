// Command turnbench drives a TURN server (ours or any other accepting TURN
// REST credentials, such as coturn with use-auth-secret) with pion/turn's
// client and prints one line of key=value figures per run.
//
// Two modes:
//
//	turnbench -mode alloc -server 127.0.0.1:23478 -secret S -n 1000 -c 16 -pid PID
//	turnbench -mode relay -server 127.0.0.1:23478 -secret S -allocs 50 -rate 200 -size 160 -duration 10s -pid PID
//
// alloc opens -n allocations, -c at a time, each from its own client socket
// with its own credential user, and reports allocations/s, errors and the
// allocate latency (two round trips: the 401 challenge, then the
// authenticated request). The allocations are released after the timed
// phase.
//
// relay opens -allocs allocations and sends -rate datagrams/s of -size bytes
// through each (ChannelData after a warm-up) to a UDP peer this tool runs on
// -peer, which echoes every datagram back through the relay. It reports the
// datagrams sent, received by the peer and received back, the loss, the
// round-trip time and the datagrams the server relayed (peer_rx+back_rx),
// and where datagrams were dropped for a full receive buffer
// (/proc/net/udp): the server's listen socket, its relay sockets, the peer
// or the client sockets.
//
// With -pid, the server's own CPU time (utime+stime from /proc/PID/stat) is
// read around the timed phase and divided by the allocations made or the
// datagrams relayed. Credentials: username "<expiry unix>:<user>", password
// base64(HMAC-SHA1(secret, username)). -tcp speaks TURN over TCP to the
// server (the relay leg stays UDP). Pin the server and this tool to
// different cores (taskset) so neither steals the other's CPU.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v3"
	"github.com/pion/turn/v4"

	"github.com/hcw-home/hcw/contract/turncred"
)

type options struct {
	mode     string
	server   string
	secret   string
	tcp      bool
	pid      int
	label    string
	n        int
	conc     int
	allocs   int
	rate     int
	size     int
	duration time.Duration
	peer     string
	timeout  time.Duration
	clientIP string
}

func main() {
	var o options
	flag.StringVar(&o.mode, "mode", "relay", "alloc or relay")
	flag.StringVar(&o.server, "server", "127.0.0.1:3478", "TURN server host:port")
	flag.StringVar(&o.secret, "secret", "", "TURN REST shared secret (or env TURNBENCH_SECRET)")
	flag.BoolVar(&o.tcp, "tcp", false, "speak TURN over TCP to the server")
	flag.IntVar(&o.pid, "pid", 0, "server process id, to measure its CPU time")
	flag.StringVar(&o.label, "label", "", "label printed at the start of the result line")
	flag.IntVar(&o.n, "n", 1000, "alloc: allocations to make")
	flag.IntVar(&o.conc, "c", 16, "alloc: allocations in flight at once")
	flag.IntVar(&o.allocs, "allocs", 50, "relay: allocations carrying traffic")
	flag.IntVar(&o.rate, "rate", 50, "relay: datagrams per second per allocation")
	flag.IntVar(&o.size, "size", 160, "relay: datagram payload bytes (at least 16)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "relay: timed sending phase")
	flag.StringVar(&o.peer, "peer", "127.0.0.1:0", "relay: UDP address of the echoing peer")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Second, "alloc: give up on one allocation after this long")
	flag.StringVar(&o.clientIP, "client-ip", "", "UDP client sockets' address; a random 127.x.y.z when empty")
	flag.Parse()
	if o.clientIP == "" {
		o.clientIP = randomLoopback()
	}
	if o.secret == "" {
		o.secret = os.Getenv("TURNBENCH_SECRET")
	}
	var err error
	switch {
	case o.secret == "":
		err = errors.New("-secret (or TURNBENCH_SECRET) is required")
	case o.mode == "alloc":
		err = runAlloc(o)
	case o.mode == "relay":
		err = runRelay(o)
	default:
		err = fmt.Errorf("unknown -mode %q", o.mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "turnbench:", err)
		os.Exit(1)
	}
}

// session is one client socket with its TURN client and allocation.
type session struct {
	conn   net.PacketConn
	client *turn.Client
	relay  net.PacketConn
}

func (s *session) close() {
	if s.relay != nil {
		_ = s.relay.Close() // Refresh with lifetime 0 releases the allocation.
	}
	if s.client != nil {
		s.client.Close()
	}
	if s.conn != nil {
		_ = s.conn.Close()
	}
}

// quietLogs keeps pion's client warnings (late retransmissions and the like)
// off the result line.
var quietLogs = func() logging.LoggerFactory {
	f := logging.NewDefaultLoggerFactory()
	f.DefaultLogLevel = logging.LogLevelError
	return f
}()

// allocate opens a client socket and one UDP allocation on it.
func allocate(o options, user string) (*session, error) {
	cred, err := turncred.Mint([]byte(o.secret), user, time.Hour, time.Now())
	if err != nil {
		return nil, err
	}
	s := &session{}
	if o.tcp {
		c, err := net.DialTimeout("tcp4", o.server, o.timeout)
		if err != nil {
			return nil, fmt.Errorf("dial: %w", err)
		}
		s.conn = turn.NewSTUNConn(c)
	} else if s.conn, err = net.ListenPacket("udp4", net.JoinHostPort(o.clientIP, "0")); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	} else {
		_ = s.conn.(*net.UDPConn).SetReadBuffer(loadRcvBuf)
	}
	s.client, err = turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: o.server,
		STUNServerAddr: o.server,
		Username:       cred.Username,
		Password:       cred.Password,
		Conn:           s.conn,
		LoggerFactory:  quietLogs,
	})
	if err != nil {
		s.close()
		return nil, fmt.Errorf("client: %w", err)
	}
	if err = s.client.Listen(); err != nil {
		s.close()
		return nil, fmt.Errorf("client listen: %w", err)
	}
	if s.relay, err = s.client.Allocate(); err != nil {
		s.close()
		return nil, fmt.Errorf("allocate: %w", err)
	}
	return s, nil
}

func runAlloc(o options) error {
	serverPort, err := portOf(o.server)
	if err != nil {
		return err
	}
	drops0, _ := udpDrops()
	cpu := newCPUMeter(o.pid)
	if err := cpu.start(); err != nil {
		return err
	}
	var (
		mu       sync.Mutex
		sessions []*session
		lat      []time.Duration
		errs     = map[string]int{}
		next     atomic.Int64
		wg       sync.WaitGroup
		runID    = time.Now().UnixNano()
		started  = time.Now()
		deadline = started.Add(time.Duration(o.n) * o.timeout)
	)
	for w := 0; w < o.conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(o.n) || time.Now().After(deadline) {
					return
				}
				t0 := time.Now()
				s, err := allocate(o, fmt.Sprintf("bench-%d-%d", runID, i))
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					errs[errKind(err)]++
				} else {
					sessions = append(sessions, s)
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(started)
	cpuSec, cpuErr := cpu.stop()
	drops1, _ := udpDrops()

	for _, s := range sessions {
		s.close()
	}
	nerr := 0
	for _, n := range errs {
		nerr += n
	}
	fields := []string{
		o.label + "mode=alloc", "transport=" + transport(o),
		fmt.Sprintf("n=%d", o.n), fmt.Sprintf("c=%d", o.conc),
		fmt.Sprintf("ok=%d", len(sessions)), fmt.Sprintf("errors=%d", nerr),
		fmt.Sprintf("elapsed_s=%.3f", elapsed.Seconds()),
		fmt.Sprintf("allocs_per_s=%.1f", float64(len(sessions))/elapsed.Seconds()),
		fmt.Sprintf("lat_p50_ms=%.2f", ms(percentile(lat, 0.50))),
		fmt.Sprintf("lat_p99_ms=%.2f", ms(percentile(lat, 0.99))),
	}
	fields = append(fields, cpuFields(o.pid, cpuSec, cpuErr, len(sessions), "cpu_us_per_alloc")...)
	fields = append(fields, fmt.Sprintf("drops_listen=%d", dropDelta(drops0, drops1, []int{serverPort})))
	if nerr > 0 {
		fields = append(fields, "error_kinds="+kinds(errs))
	}
	fmt.Println(strings.Join(fields, " "))
	return nil
}

// loadRcvBuf is the receive buffer asked for on the peer and client sockets.
const loadRcvBuf = 4 << 20

// Payload layout: byte 0 is the phase (0 warm-up, 1 timed), bytes 8-16 the
// send time in Unix nanoseconds.
const (
	phaseWarmup = 0
	phaseTimed  = 1
	headerLen   = 16
)

func runRelay(o options) error {
	if o.size < headerLen {
		return fmt.Errorf("-size must be at least %d", headerLen)
	}
	if o.rate < 1 || o.allocs < 1 {
		return errors.New("-rate and -allocs must be at least 1")
	}
	peer, err := net.ListenPacket("udp4", o.peer)
	if err != nil {
		return fmt.Errorf("peer: %w", err)
	}
	defer func() { _ = peer.Close() }()
	// Large receive buffers on the load side (capped by net.core.rmem_max),
	// so drops there measure the load generator's core less than they
	// would otherwise; drops are reported per socket class anyway.
	_ = peer.(*net.UDPConn).SetReadBuffer(loadRcvBuf)
	var peerRx, peerWarm atomic.Int64
	go echo(peer, &peerRx, &peerWarm)
	peerAddr := peer.LocalAddr()

	runID := time.Now().UnixNano()
	sessions := make([]*session, 0, o.allocs)
	defer func() {
		for _, s := range sessions {
			s.close()
		}
	}()
	for i := 0; i < o.allocs; i++ {
		s, err := allocate(o, fmt.Sprintf("relay-%d-%d", runID, i))
		if err != nil {
			return fmt.Errorf("allocation %d: %w", i, err)
		}
		sessions = append(sessions, s)
	}

	var backRx atomic.Int64
	rtts := make([][]time.Duration, len(sessions))
	var readers sync.WaitGroup
	for i, s := range sessions {
		readers.Add(1)
		go func() {
			defer readers.Done()
			rtts[i] = readBack(s.relay, &backRx, o.rate*int(o.duration/time.Second+1))
		}()
	}

	// Warm-up: the first datagram creates the permission; pion binds a
	// channel in the background, after which data goes as ChannelData.
	buf := make([]byte, o.size)
	for round := 0; round < 3; round++ {
		for _, s := range sessions {
			buf[0] = phaseWarmup
			if _, err := s.relay.WriteTo(buf, peerAddr); err != nil {
				return fmt.Errorf("warm-up send: %w", err)
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	if peerWarm.Load() == 0 {
		return errors.New("warm-up: no datagram reached the peer (is the peer allowed?)")
	}

	serverPort, err := portOf(o.server)
	if err != nil {
		return err
	}
	peerPort, err := portOf(peerAddr.String())
	if err != nil {
		return err
	}
	var relayPorts, clientPorts []int
	for _, s := range sessions {
		if p, err := portOf(s.relay.LocalAddr().String()); err == nil {
			relayPorts = append(relayPorts, p)
		}
		if p, err := portOf(s.conn.LocalAddr().String()); err == nil && !o.tcp {
			clientPorts = append(clientPorts, p)
		}
	}
	drops0, _ := udpDrops()
	cpu := newCPUMeter(o.pid)
	if err := cpu.start(); err != nil {
		return err
	}
	var sent, sendErrs atomic.Int64
	var senders sync.WaitGroup
	started := time.Now()
	interval := time.Second / time.Duration(o.rate)
	total := int(o.duration / interval)
	for i, s := range sessions {
		senders.Add(1)
		go func() {
			defer senders.Done()
			b := make([]byte, o.size)
			b[0] = phaseTimed
			// Stagger the allocations across one interval.
			t0 := started.Add(interval * time.Duration(i) / time.Duration(len(sessions)))
			for k := 0; k < total; {
				due := int(time.Since(t0)/interval) + 1
				for ; k < due && k < total; k++ {
					binary.BigEndian.PutUint64(b[8:], uint64(time.Now().UnixNano()))
					if _, err := s.relay.WriteTo(b, peerAddr); err != nil {
						sendErrs.Add(1)
						continue
					}
					sent.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	senders.Wait()
	sendPhase := time.Since(started)
	time.Sleep(time.Second) // drain
	cpuSec, cpuErr := cpu.stop()
	drops1, _ := udpDrops()
	for _, s := range sessions {
		_ = s.relay.SetReadDeadline(time.Now())
	}
	readers.Wait()

	var all []time.Duration
	for _, r := range rtts {
		all = append(all, r...)
	}
	nSent, nPeer, nBack := sent.Load(), peerRx.Load(), backRx.Load()
	relayed := nPeer + nBack
	fields := []string{
		o.label + "mode=relay", "transport=" + transport(o),
		fmt.Sprintf("allocs=%d", o.allocs), fmt.Sprintf("rate=%d", o.rate), fmt.Sprintf("size=%d", o.size),
		fmt.Sprintf("send_s=%.3f", sendPhase.Seconds()),
		fmt.Sprintf("offered_pps=%.0f", float64(nSent)/sendPhase.Seconds()),
		fmt.Sprintf("sent=%d", nSent), fmt.Sprintf("send_errors=%d", sendErrs.Load()),
		fmt.Sprintf("peer_rx=%d", nPeer), fmt.Sprintf("back_rx=%d", nBack),
		fmt.Sprintf("loss_pct=%.3f", lossPct(nSent, nBack)),
		fmt.Sprintf("relayed=%d", relayed),
		fmt.Sprintf("rtt_p50_ms=%.2f", ms(percentile(all, 0.50))),
		fmt.Sprintf("rtt_p99_ms=%.2f", ms(percentile(all, 0.99))),
	}
	fields = append(fields, cpuFields(o.pid, cpuSec, cpuErr, int(relayed), "cpu_us_per_datagram")...)
	if !o.tcp {
		fields = append(fields, fmt.Sprintf("drops_listen=%d", dropDelta(drops0, drops1, []int{serverPort})))
	}
	fields = append(fields,
		fmt.Sprintf("drops_relay=%d", dropDelta(drops0, drops1, relayPorts)),
		fmt.Sprintf("drops_peer=%d", dropDelta(drops0, drops1, []int{peerPort})),
		fmt.Sprintf("drops_client=%d", dropDelta(drops0, drops1, clientPorts)))
	fmt.Println(strings.Join(fields, " "))
	return nil
}

// echo sends every datagram back to its sender, counting timed ones.
func echo(pc net.PacketConn, timed, warm *atomic.Int64) {
	buf := make([]byte, 65536)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if n >= headerLen && buf[0] == phaseTimed {
			timed.Add(1)
		} else {
			warm.Add(1)
		}
		_, _ = pc.WriteTo(buf[:n], from)
	}
}

// readBack counts the timed datagrams coming back and their round trips.
func readBack(pc net.PacketConn, count *atomic.Int64, capHint int) []time.Duration {
	rtts := make([]time.Duration, 0, capHint)
	buf := make([]byte, 65536)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return rtts
		}
		if n < headerLen || buf[0] != phaseTimed {
			continue
		}
		count.Add(1)
		sentAt := int64(binary.BigEndian.Uint64(buf[8:16])) //nolint:gosec // a Unix time we wrote.
		rtts = append(rtts, time.Duration(time.Now().UnixNano()-sentAt))
	}
}

// randomLoopback returns a random address in 127.0.0.0/8 outside
// 127.0.0.0/16. Each run's client sockets then form 5-tuples no earlier run
// used: a server may keep a released allocation's 5-tuple for a moment
// (coturn does, for about a second) and answer a reused one with 437.
func randomLoopback() string {
	return fmt.Sprintf("127.%d.%d.%d", 1+rand.IntN(254), rand.IntN(256), 1+rand.IntN(254))
}

func portOf(hostport string) (int, error) {
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", hostport, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return 0, fmt.Errorf("%q: bad port", hostport)
	}
	return n, nil
}

func transport(o options) string {
	if o.tcp {
		return "tcp"
	}
	return "udp"
}

func cpuFields(pid int, sec float64, err error, units int, name string) []string {
	switch {
	case pid == 0:
		return nil
	case err != nil:
		return []string{"cpu_error=" + strings.ReplaceAll(err.Error(), " ", "_")}
	}
	per := 0.0
	if units > 0 {
		per = sec * 1e6 / float64(units)
	}
	return []string{fmt.Sprintf("server_cpu_s=%.2f", sec), fmt.Sprintf("%s=%.2f", name, per)}
}

// errKind shortens an error to a label for the error_kinds field.
func errKind(err error) string {
	var te *stun.TurnError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("turn_%d", te.ErrorCodeAttr.Code)
	case errors.Is(err, io.EOF):
		return "eof"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	s := err.Error()
	if i := strings.Index(s, ":"); i > 0 {
		s = s[:i]
	}
	return strings.ReplaceAll(s, " ", "_")
}

func kinds(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, m[k])
	}
	return strings.Join(parts, ",")
}

func lossPct(sent, back int64) float64 {
	if sent == 0 {
		return 0
	}
	return 100 * float64(sent-back) / float64(sent)
}

// percentile returns the p-quantile (nearest rank) of d, sorting it.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := int(p*float64(len(d))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(d) {
		i = len(d) - 1
	}
	return d[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
