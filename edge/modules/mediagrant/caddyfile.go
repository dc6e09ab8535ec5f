package mediagrant

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	hcw_media_grant {
//	    jwks_url            <url>
//	    refresh             <duration>
//	    unknown_kid_refresh <duration>
//	    timeout             <duration>
//	}
func (g *MediaGrant) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		var v string
		if !d.AllArgs(&v) {
			return d.ArgErr()
		}
		if opt == "jwks_url" {
			g.JWKSURL = v
			continue
		}
		var dst *caddy.Duration
		switch opt {
		case "refresh":
			dst = &g.Refresh
		case "unknown_kid_refresh":
			dst = &g.UnknownKidRefresh
		case "timeout":
			dst = &g.Timeout
		default:
			return d.Errf("unrecognized hcw_media_grant option %q", opt)
		}
		dur, err := caddy.ParseDuration(v)
		if err != nil {
			return d.Errf("%s: %v", opt, err)
		}
		if dur <= 0 {
			return d.Errf("%s must be positive", opt)
		}
		*dst = caddy.Duration(dur)
	}
	return nil
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	g := new(MediaGrant)
	if err := g.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return g, nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*MediaGrant)(nil)
