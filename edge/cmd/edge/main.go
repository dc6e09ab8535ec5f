// Command edge is the appliance's front door: a Caddy build with the
// standard modules and the appliance's own modules (among them TURN over TLS
// on 443, selected by SNI: modules/turntls). It is built from this file, not with xcaddy,
// because xcaddy cannot build inside a multi-module workspace.
package main

import (
	"os"
	_ "time/tzdata"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/hcw-home/hcw/edge/modules/mediagrant"
	_ "github.com/hcw-home/hcw/edge/modules/medianode"
	_ "github.com/hcw-home/hcw/edge/modules/proxytrust"
	_ "github.com/hcw-home/hcw/edge/modules/turntls"
)

func main() {
	caddycmd.Main()
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
