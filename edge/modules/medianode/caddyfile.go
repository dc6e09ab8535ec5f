package medianode

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	hcw_media_node {
//	    registry_url <url>
//	    secret       <secret>
//	    secret_file  <path>
//	    refresh      <duration>
//	    timeout      <duration>
//	}
func (m *MediaNode) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch opt := d.Val(); opt {
		case "registry_url", "secret", "secret_file":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			switch opt {
			case "registry_url":
				m.RegistryURL = v
			case "secret":
				m.Secret = v
			default:
				m.SecretFile = v
			}
		case "refresh", "timeout":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil {
				return d.Errf("%s: %v", opt, err)
			}
			if dur <= 0 {
				return d.Errf("%s must be positive", opt)
			}
			if opt == "refresh" {
				m.Refresh = caddy.Duration(dur)
			} else {
				m.Timeout = caddy.Duration(dur)
			}
		default:
			return d.Errf("unrecognized hcw_media_node option %q", opt)
		}
	}
	return nil
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(MediaNode)
	if err := m.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return m, nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*MediaNode)(nil)
