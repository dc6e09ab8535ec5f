package peerpolicy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"
)

type fakeDNS struct {
	mu    sync.Mutex
	table map[string][]netip.Addr
	calls int
}

func (f *fakeDNS) lookup(_ context.Context, _, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	a, ok := f.table[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	return append([]netip.Addr(nil), a...), nil
}

func (f *fakeDNS) set(host string, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if addrs == nil {
		delete(f.table, host)
		return
	}
	var as []netip.Addr
	for _, s := range addrs {
		as = append(as, netip.MustParseAddr(s))
	}
	f.table[host] = as
}

func TestWatchHostsAllowsOnlyTheNamedHostsAddresses(t *testing.T) {
	dns := &fakeDNS{table: map[string][]netip.Addr{}}
	dns.set("media", "172.18.0.5")
	p := New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p.WatchHosts(ctx, log, []string{"media", "media2"}, 10*time.Millisecond, dns.lookup)

	if r := p.Check(netip.MustParseAddr("172.18.0.5")); r != Allowed {
		t.Fatalf("media node refused: %s", r)
	}
	if r := p.Check(netip.MustParseAddr("172.18.0.6")); r != Private {
		t.Fatalf("its neighbour allowed: %q", r)
	}
	if r := p.Check(netip.MustParseAddr("::ffff:172.18.0.5")); r != Allowed {
		t.Fatalf("mapped form refused: %s", r)
	}

	// media2 appears later; media is recreated with a new address; then
	// DNS fails for media: its last address stays allowed.
	dns.set("media2", "172.18.0.9")
	dns.set("media", "172.18.0.7")
	eventually(t, func() bool {
		return p.Check(netip.MustParseAddr("172.18.0.9")) == Allowed && p.Check(netip.MustParseAddr("172.18.0.7")) == Allowed
	})
	if r := p.Check(netip.MustParseAddr("172.18.0.5")); r != Private {
		t.Fatalf("the old address of a recreated node is still allowed: %q", r)
	}
	dns.set("media")
	dns.mu.Lock()
	before := dns.calls
	dns.mu.Unlock()
	eventually(t, func() bool { dns.mu.Lock(); defer dns.mu.Unlock(); return dns.calls > before+4 })
	if r := p.Check(netip.MustParseAddr("172.18.0.7")); r != Allowed {
		t.Fatalf("a DNS failure dropped a known node: %q", r)
	}
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
