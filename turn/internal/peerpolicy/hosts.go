package peerpolicy

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"time"
)

// LookupFunc resolves a host name (net.Resolver.LookupNetIP fits).
type LookupFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

// WatchHosts allows the addresses the named hosts resolve to, re-resolving
// every interval until ctx ends. This is how the relay reaches the media
// nodes of a compose network without allowing the whole private range: a
// container's address changes when it is recreated, its name does not.
// A host that fails to resolve keeps its last known addresses (a DNS blip
// must not cut running calls); a host never resolved is retried each round.
// The first round runs before WatchHosts returns.
func (p *Policy) WatchHosts(ctx context.Context, log *slog.Logger, hosts []string, interval time.Duration, lookup LookupFunc) {
	known := make(map[string][]netip.Addr, len(hosts))
	round := func() {
		changed := false
		for _, h := range hosts {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			addrs, err := lookup(rctx, "ip", h)
			cancel()
			if err != nil || len(addrs) == 0 {
				if _, ok := known[h]; !ok {
					log.Warn("allowed peer host does not resolve yet", "host", h, "error", err)
				}
				continue
			}
			for i := range addrs {
				addrs[i] = addrs[i].Unmap().WithZone("")
			}
			slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
			if !slices.Equal(known[h], addrs) {
				known[h] = addrs
				changed = true
				log.Info("allowed peer host resolved", "host", h, "addresses", addrs)
			}
		}
		if changed {
			var all []netip.Addr
			for _, a := range known {
				all = append(all, a...)
			}
			p.SetHostAddrs(all)
		}
	}
	round()
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				round()
			}
		}
	}()
}
