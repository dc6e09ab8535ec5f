package main

import (
	"context"
	"flag"
	"fmt"
	"time"
)

func runWSIdle(args []string) error {
	fs := flag.NewFlagSet("ws-idle", flag.ExitOnError)
	url := fs.String("url", "wss://127.0.0.1:20443/ws", "WebSocket URL through the proxy")
	n := fs.Int("n", 1000, "WebSockets to open")
	pid := fs.Int("pid", 0, "proxy pid (its descendants are summed too)")
	par := fs.Int("par", 50, "concurrent dials")
	settle := fs.Duration("settle", 3*time.Second, "idle time before each RSS reading")
	sni := fs.String("sni", "localhost", "TLS server name")
	connect := fs.String("connect", "", "host:port to connect to instead of the URL's (whose host then only names the site)")
	curves := fs.String("curves", "x25519", "key exchange: x25519, p256, x25519mlkem768, default")
	label := fs.String("label", "", "label printed on the result line")
	_ = fs.Parse(args)
	if *pid == 0 {
		return fmt.Errorf("-pid is required")
	}
	ctx := context.Background()
	d, err := newWSDialer(*sni, *curves, *connect)
	if err != nil {
		return err
	}
	// Warm the proxy up (first-use allocations) before the baseline.
	warm, err := d.dialMany(ctx, *url, 20, 20)
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	for _, c := range warm {
		if err := roundTrip(ctx, c, []byte("warm")); err != nil {
			return fmt.Errorf("warm-up echo: %w", err)
		}
	}
	closeAll(warm)
	time.Sleep(*settle)
	before, err := rssKiB(*pid)
	if err != nil {
		return err
	}

	start := time.Now()
	conns, err := d.dialMany(ctx, *url, *n, *par)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	dialTime := time.Since(start)
	msg := []byte("hello, idle")
	for i, c := range conns {
		if err := roundTrip(ctx, c, msg); err != nil {
			return fmt.Errorf("echo on connection %d: %w", i, err)
		}
	}
	time.Sleep(*settle)
	after, err := rssKiB(*pid)
	if err != nil {
		return err
	}
	fmt.Printf("ws-idle %s n=%d procs=%d rss_before_kib=%d rss_after_kib=%d per_conn_kib=%.1f dial_s=%.2f\n",
		*label, *n, len(procTree(*pid)), before, after, float64(after-before)/float64(*n), dialTime.Seconds())
	return nil
}
