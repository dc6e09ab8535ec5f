package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

func runHandshakes(args []string) error {
	fs := flag.NewFlagSet("handshakes", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:20443", "proxy TLS address")
	conc := fs.Int("c", 8, "concurrent workers")
	dur := fs.Duration("d", 10*time.Second, "duration")
	pid := fs.Int("pid", 0, "proxy pid for CPU accounting (optional)")
	sni := fs.String("sni", "localhost", "TLS server name")
	curves := fs.String("curves", "x25519", "key exchange: x25519, p256, x25519mlkem768, default")
	label := fs.String("label", "", "label printed on the result line")
	_ = fs.Parse(args)
	cfg, err := clientTLS(*sni, *curves)
	if err != nil {
		return err
	}

	// One handshake first: fail fast on a wrong address or TLS setup.
	if err := handshake(context.Background(), *addr, cfg); err != nil {
		return err
	}
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	cpu0 := 0.0
	if *pid != 0 {
		cpu0 = cpuSeconds(*pid)
	}
	start := time.Now()
	deadline := start.Add(*dur)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var wg sync.WaitGroup
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := handshake(ctx, *addr, cfg); err != nil {
					if !time.Now().Before(deadline) {
						return // cut off by the end of the run
					}
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("at %.3fs: %v", time.Since(start).Seconds(), err))
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	line := fmt.Sprintf("handshakes %s c=%d ok=%d failed=%d per_s=%.0f", *label, *conc, ok.Load(), failed.Load(), float64(ok.Load())/elapsed)
	if *pid != 0 {
		cpu := cpuSeconds(*pid) - cpu0
		line += fmt.Sprintf(" proxy_cpu_s=%.2f proxy_cpu_pct=%.0f per_proxy_cpu_s=%.0f", cpu, 100*cpu/elapsed, float64(ok.Load())/cpu)
	}
	fmt.Println(line)
	if e := firstErr.Load(); e != nil {
		fmt.Println("  first error:", e)
	}
	return nil
}

// handshake opens a TCP connection, completes a full TLS handshake and
// resets the connection (SO_LINGER 0: no TIME_WAIT to exhaust ports).
func handshake(ctx context.Context, addr string, cfg *tls.Config) error {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	_ = raw.(*net.TCPConn).SetLinger(0)
	c := tls.Client(raw, cfg)
	defer c.Close()
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.HandshakeContext(hctx); err != nil {
		return err
	}
	if c.ConnectionState().DidResume {
		return fmt.Errorf("session resumed")
	}
	return nil
}
