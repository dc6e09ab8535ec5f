package proxytrust

import (
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// UnmarshalCaddyfile sets up the source from Caddyfile tokens:
//
//	trusted_proxies hcw_trusted_proxies [<entries...>]
//
// Every remaining argument on the line is part of the list, so an
// environment placeholder that expands to "10.0.0.0/8, 192.0.2.7" or to
// nothing at all both work.
func (t *TrustedProxies) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the source's name
	t.List = strings.Join(d.RemainingArgs(), " ")
	if d.NextBlock(0) {
		return d.Errf("hcw_trusted_proxies takes no block")
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*TrustedProxies)(nil)
