// Command edgebench measures a TLS-terminating reverse proxy (our edge, or
// nginx for comparison) in front of a tiny backend. It is one tool with a
// server and several clients; the proxy under test is started separately.
//
// Subcommands:
//
//	edgebench backend    -addr 127.0.0.1:20080
//	    Serves GET /ws (WebSocket echo) and GET /api/json (a small JSON body).
//	edgebench ws-idle    -url wss://127.0.0.1:20443/ws -n 1000 -pid <proxy pid>
//	    Opens n WebSockets through the proxy, echoes one message on each, lets
//	    them sit idle and prints the proxy's VmRSS (summed over the pid and its
//	    descendants, e.g. nginx's master and workers) before and after, per
//	    connection.
//	edgebench handshakes -addr 127.0.0.1:20443 -c 8 -d 10s -pid <proxy pid>
//	    Full TLS 1.3 handshakes (new TCP connection each, no session
//	    resumption) with c workers for d; prints handshakes/s and, with -pid,
//	    the proxy's CPU time and handshakes per proxy CPU-second.
//	edgebench ws-latency -url wss://127.0.0.1:20443/ws -conns 50 -n 1000
//	    n sequential echo round trips on each of conns WebSockets; prints
//	    round-trip p50/p90/p99/max. Run it against the backend directly
//	    (ws://127.0.0.1:20080/ws) for the baseline.
//	edgebench reload     -url wss://127.0.0.1:20443/ws -n 500 -every 100ms \
//	                     -cmd 'nginx -p /tmp/x -c /tmp/x/nginx.conf -s reload' -pid <proxy pid>
//	    Opens n WebSockets each sending a message every 100 ms and reading
//	    its echo, runs cmd (the config reload), and counts the sockets that
//	    closed or failed within -window (10 s) after it; with -pid it also
//	    lists the proxy's child processes before and after (nginx workers).
//
// Every client accepts any certificate (the benchmark uses one self-signed
// ECDSA P-256 certificate for every proxy) and sends SNI -sni (localhost).
// Raise the file limit first (ulimit -n) for thousands of connections, and
// pin the proxy and the clients to different cores with taskset, e.g.
//
//	cd edge && go build -o /tmp/edgebench ./cmd/edgebench
//	taskset -c 1 /tmp/edgebench backend &
//	taskset -c 0 /tmp/edge-bench run --config bench.Caddyfile &   # or nginx
//	taskset -c 1 /tmp/edgebench ws-idle -url wss://127.0.0.1:20443/ws -n 5000 -pid $(pgrep -n edge-bench)
//
// where bench.Caddyfile terminates TLS on 127.0.0.1:20443 with one
// certificate and has a single reverse_proxy 127.0.0.1:20080 (nginx: the
// same with proxy_http_version 1.1, upstream keepalive and the WebSocket
// Upgrade/Connection headers). It prints one result line per run.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	args := os.Args[2:]
	var err error
	switch os.Args[1] {
	case "backend":
		err = runBackend(args)
	case "ws-idle":
		err = runWSIdle(args)
	case "handshakes":
		err = runHandshakes(args)
	case "ws-latency":
		err = runWSLatency(args)
	case "reload":
		err = runReload(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgebench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: edgebench backend|ws-idle|handshakes|ws-latency|reload [flags]  (-h for flags)")
	os.Exit(2)
}
