package sfu

import (
	"math/rand/v2"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"
	"github.com/stretchr/testify/require"
)

// testNetwork is a pion vnet: one router, the node on nodeIP and each
// client on an address of its own, so a test can squeeze or drop one
// participant's packets.
type testNetwork struct {
	t      *testing.T
	router *vnet.Router
	links  []*link
}

const nodeIP = "10.0.0.1"

// link is the impairment of one host's connection: a token bucket on what
// it receives and a loss rate each way.
type link struct {
	ip      string
	tbf     *vnet.TBFQueue
	queue   *vnet.Queue
	inLoss  *vnet.LossFilter
	outLoss atomic.Int32 // percent
}

// unlimited is the rate of a link nobody squeezes (bits/s).
const unlimited = 1_000_000_000

// newTestNetwork starts a router whose links delay every packet by delay
// each way.
func newTestNetwork(t *testing.T, delay time.Duration) *testNetwork {
	t.Helper()
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	r, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", MinDelay: delay, LoggerFactory: lf})
	require.NoError(t, err)
	tn := &testNetwork{t: t, router: r}
	r.AddChunkFilter(tn.dropOutbound)
	t.Cleanup(tn.stop)
	return tn
}

func (tn *testNetwork) stop() {
	_ = tn.router.Stop()
	for _, l := range tn.links {
		_ = l.queue.Close()
	}
}

// dropOutbound drops what a lossy host sends.
func (tn *testNetwork) dropOutbound(c vnet.Chunk) bool {
	src, _, _ := net.SplitHostPort(c.SourceAddr().String())
	for _, l := range tn.links {
		if l.ip == src {
			if pct := l.outLoss.Load(); pct > 0 && rand.IntN(100) < int(pct) {
				return false
			}
		}
	}
	return true
}

// host adds a host on ip with an unimpaired link.
func (tn *testNetwork) host(ip string) *vnet.Net {
	tn.t.Helper()
	n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
	require.NoError(tn.t, err)
	require.NoError(tn.t, tn.router.AddNet(n))
	return n
}

// impairedHost adds a host on ip whose link test code can squeeze and make
// lossy. It starts unlimited and lossless.
func (tn *testNetwork) impairedHost(ip string) (*vnet.Net, *link) {
	tn.t.Helper()
	n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
	require.NoError(tn.t, err)
	l := &link{ip: ip}
	l.inLoss, err = vnet.NewLossFilter(n, 0)
	require.NoError(tn.t, err)
	// A 16 KB burst and a 20 KB queue: at 100 kbit/s the queue holds 1.6 s,
	// like a home router's buffer.
	l.tbf = vnet.NewTBFQueue(unlimited, 16_000, 20_000)
	l.queue, err = vnet.NewQueue(l.inLoss, l.tbf)
	require.NoError(tn.t, err)
	require.NoError(tn.t, tn.router.AddNet(l.queue))
	tn.links = append(tn.links, l)
	return n, l
}

// start starts routing; add the hosts first.
func (tn *testNetwork) start() {
	tn.t.Helper()
	require.NoError(tn.t, tn.router.Start())
}

// nodeConn is the node's one UDP socket, on the virtual network.
func (tn *testNetwork) nodeConn() net.PacketConn {
	tn.t.Helper()
	n := tn.host(nodeIP)
	c, err := n.ListenPacket("udp4", nodeIP+":7882")
	require.NoError(tn.t, err)
	return c
}

// setRate limits what the host receives to bps bits/s.
func (l *link) setRate(bps int) { l.tbf.SetRate(bps) }

// setLoss drops pct percent of the packets each way.
func (l *link) setLoss(pct int) {
	_ = l.inLoss.SetLossRate(pct, true)
	l.outLoss.Store(int32(pct))
}
