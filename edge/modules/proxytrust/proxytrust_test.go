package proxytrust

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: nil},
		{in: "   ", want: nil},
		{in: "10.0.0.0/8", want: []string{"10.0.0.0/8"}},
		{in: "10.0.0.0/8, 192.0.2.7", want: []string{"10.0.0.0/8", "192.0.2.7/32"}},
		{in: "2001:db8::/32 ::ffff:192.0.2.1", want: []string{"2001:db8::/32", "192.0.2.1/32"}},
		{in: "10.0.0.0/33", wantErr: `"10.0.0.0/33" is not a CIDR`},
		{in: "10.0.0.1/8", wantErr: "host bits set"},
		{in: "proxy.example", wantErr: `"proxy.example" is not an IP address or CIDR`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Parse(%q) = %v, want %v", tt.in, got, tt.want)
			}
			for i := range got {
				if got[i] != netip.MustParsePrefix(tt.want[i]) {
					t.Fatalf("Parse(%q)[%d] = %v, want %v", tt.in, i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParsePrivateRanges(t *testing.T) {
	got, err := Parse("private_ranges")
	if err != nil {
		t.Fatal(err)
	}
	var has10 bool
	for _, p := range got {
		has10 = has10 || p == netip.MustParsePrefix("10.0.0.0/8")
	}
	if !has10 {
		t.Fatalf("private_ranges = %v, want 10.0.0.0/8 among them", got)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		input   string
		want    string
		wantErr bool
	}{
		{input: "hcw_trusted_proxies", want: ""},
		{input: "hcw_trusted_proxies 10.0.0.0/8, 192.0.2.7", want: "10.0.0.0/8, 192.0.2.7"},
		{input: "hcw_trusted_proxies 10.0.0.0/8 {\n}", want: "10.0.0.0/8"},
		{input: "hcw_trusted_proxies {\n foo\n}", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			var tp TrustedProxies
			err := tp.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tp.List != tt.want {
				t.Fatalf("List = %q, want %q", tp.List, tt.want)
			}
		})
	}
}

func TestValidateNamesVariable(t *testing.T) {
	err := (&TrustedProxies{List: "nope"}).Validate()
	if err == nil || !strings.HasPrefix(err.Error(), "HCW_TRUSTED_PROXIES: ") {
		t.Fatalf("Validate error = %v, want it to name HCW_TRUSTED_PROXIES", err)
	}
}
