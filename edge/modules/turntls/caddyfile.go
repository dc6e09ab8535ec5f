package turntls

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// UnmarshalCaddyfile sets up the wrapper from Caddyfile tokens:
//
//	hcw_turn_tls {
//		server_name   <names...>
//		upstream      <host:port>
//		hello_timeout <duration>
//		dial_timeout  <duration>
//	}
func (w *TurnTLS) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the wrapper's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch opt := d.Val(); opt {
		case "server_name":
			names := d.RemainingArgs()
			if len(names) == 0 {
				return d.ArgErr()
			}
			w.ServerNames = append(w.ServerNames, names...)
		case "upstream":
			if !d.NextArg() {
				return d.ArgErr()
			}
			w.Upstream = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "hello_timeout", "dial_timeout":
			if !d.NextArg() {
				return d.ArgErr()
			}
			v, err := caddy.ParseDuration(d.Val())
			if err != nil {
				return d.Errf("%s: %v", opt, err)
			}
			if v <= 0 {
				return d.Errf("%s must be positive", opt)
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			if opt == "hello_timeout" {
				w.HelloTimeout = caddy.Duration(v)
			} else {
				w.DialTimeout = caddy.Duration(v)
			}
		default:
			return d.Errf("unrecognized option %q", opt)
		}
	}
	return nil
}

// Interface guard.
var _ caddyfile.Unmarshaler = (*TurnTLS)(nil)
