package clientinfo

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultRefresh is how often edge host names are resolved again: container
// addresses change when the edge restarts.
const DefaultRefresh = 30 * time.Second

// MissRefreshGap bounds how often a request from a peer outside the set
// makes it resolve its names again. The edge may start (or restart with a
// new address) after the backend: without this, its first requests would
// be taken for a stranger's until the next periodic refresh.
const MissRefreshGap = time.Second

// LookupFunc resolves a host name, like (*net.Resolver).LookupNetIP.
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// EdgeParams configures NewEdge.
type EdgeParams struct {
	// Prefixes are literal addresses and networks of the edge.
	Prefixes []netip.Prefix
	// HostNames are resolved at start and every Refresh.
	HostNames []string
	// Lookup resolves names; net.DefaultResolver when nil.
	Lookup LookupFunc
	// Logger receives a warning when a name does not resolve.
	Logger *slog.Logger
}

// Edge is the set of trusted reverse-proxy addresses. It is safe for
// concurrent use. A lookup blocks on DNS only for a peer outside the set,
// at most once per MissRefreshGap, for at most a second.
type Edge struct {
	prefixes []netip.Prefix
	names    []string
	lookup   LookupFunc
	logger   *slog.Logger

	mu        sync.Mutex              // guards lastKnown
	lastKnown map[string][]netip.Addr // per host name
	addrs     atomic.Pointer[[]netip.Addr]
	lastMiss  atomic.Int64 // unix nanoseconds of the last miss-driven refresh
}

// NewEdge builds the set. Call Refresh once before serving.
func NewEdge(p EdgeParams) *Edge {
	lookup := p.Lookup
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	e := &Edge{
		prefixes:  slices.Clone(p.Prefixes),
		names:     slices.Clone(p.HostNames),
		lookup:    lookup,
		logger:    p.Logger,
		lastKnown: map[string][]netip.Addr{},
	}
	e.addrs.Store(&[]netip.Addr{})
	return e
}

// Contains reports whether addr is an edge address. For an address outside
// the set it resolves the host names again first, unless that was done less
// than MissRefreshGap ago.
func (e *Edge) Contains(addr netip.Addr) bool {
	addr = addr.Unmap()
	if e.contains(addr) {
		return true
	}
	if len(e.names) == 0 {
		return false
	}
	now := time.Now().UnixNano()
	last := e.lastMiss.Load()
	if now-last < int64(MissRefreshGap) || !e.lastMiss.CompareAndSwap(last, now) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	e.Refresh(ctx)
	return e.contains(addr)
}

func (e *Edge) contains(addr netip.Addr) bool {
	for _, p := range e.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return slices.Contains(*e.addrs.Load(), addr)
}

// Refresh resolves every host name. A name that fails keeps its last known
// addresses, so a DNS hiccup does not suddenly distrust the edge.
func (e *Edge) Refresh(ctx context.Context) {
	if len(e.names) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, name := range e.names {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		addrs, err := e.lookup(lctx, name)
		cancel()
		if err != nil || len(addrs) == 0 {
			e.logger.Warn("edge proxy host name did not resolve; keeping last known addresses",
				"host", name, "last_known", len(e.lastKnown[name]), "error", errString(err))
			continue
		}
		for i := range addrs {
			addrs[i] = addrs[i].Unmap()
		}
		e.lastKnown[name] = addrs
	}
	var all []netip.Addr
	for _, addrs := range e.lastKnown {
		all = append(all, addrs...)
	}
	e.addrs.Store(&all)
}

// Run refreshes every interval until ctx is done.
func (e *Edge) Run(ctx context.Context, interval time.Duration) {
	if len(e.names) == 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.Refresh(ctx)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "no addresses"
	}
	return err.Error()
}
