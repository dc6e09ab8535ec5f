// Package proxytrust provides the edge's source of trusted proxy ranges:
// the addresses of a hospital's own reverse proxy in front of the edge,
// whose X-Forwarded-* headers the edge keeps. From anyone else those headers
// are replaced.
//
// Caddy's static source takes one range per token; this one takes the
// operator's HCW_TRUSTED_PROXIES as written in an .env file (commas or
// spaces, bare addresses or CIDRs, "private_ranges", or empty for none) and
// refuses a bad entry with a message that names the variable, so a typo
// stops the edge instead of silently trusting nobody or everybody.
package proxytrust

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(TrustedProxies{})
}

// TrustedProxies is an IP range source for the servers' trusted_proxies
// option.
type TrustedProxies struct {
	// List is the operator's list: CIDRs or bare IP addresses, separated by
	// commas and/or spaces, and the keyword "private_ranges". Empty means no
	// proxy is trusted.
	List string `json:"list,omitempty"`

	// Variable names the setting in error messages (default
	// HCW_TRUSTED_PROXIES).
	Variable string `json:"variable,omitempty"`

	prefixes []netip.Prefix
}

// CaddyModule returns the Caddy module information.
func (TrustedProxies) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.ip_sources.hcw_trusted_proxies",
		New: func() caddy.Module { return new(TrustedProxies) },
	}
}

// Provision parses the list.
func (t *TrustedProxies) Provision(ctx caddy.Context) error {
	prefixes, err := Parse(t.List)
	if err != nil {
		return fmt.Errorf("%s: %w", t.variable(), err)
	}
	t.prefixes = prefixes
	ctx.Logger().Info("trusted proxies", zap.String("variable", t.variable()), zap.Int("ranges", len(prefixes)))
	return nil
}

// Validate checks the list without keeping anything.
func (t *TrustedProxies) Validate() error {
	if _, err := Parse(t.List); err != nil {
		return fmt.Errorf("%s: %w", t.variable(), err)
	}
	return nil
}

// GetIPRanges returns the trusted ranges.
func (t *TrustedProxies) GetIPRanges(*http.Request) []netip.Prefix {
	return t.prefixes
}

func (t *TrustedProxies) variable() string {
	if t.Variable == "" {
		return "HCW_TRUSTED_PROXIES"
	}
	return t.Variable
}

// Parse turns an operator's list into prefixes. It is strict: an entry that
// is neither an address, a CIDR nor "private_ranges" is an error naming the
// entry.
func Parse(list string) ([]netip.Prefix, error) {
	fields := strings.FieldsFunc(list, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n'
	})
	var out []netip.Prefix
	for _, f := range fields {
		if f == "private_ranges" {
			for _, cidr := range caddyhttp.PrivateRangesCIDR() {
				p, err := caddyhttp.CIDRExpressionToPrefix(cidr)
				if err != nil {
					return nil, fmt.Errorf("private_ranges: %w", err)
				}
				out = append(out, p)
			}
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR", f)
			}
			if p != p.Masked() {
				return nil, fmt.Errorf("%q has host bits set (did you mean %s?)", f, p.Masked())
			}
			out = append(out, p)
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Interface guards.
var (
	_ caddy.Provisioner       = (*TrustedProxies)(nil)
	_ caddy.Validator         = (*TrustedProxies)(nil)
	_ caddyhttp.IPRangeSource = (*TrustedProxies)(nil)
)
