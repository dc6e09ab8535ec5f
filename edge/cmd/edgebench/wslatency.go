package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"slices"
	"sync"
	"time"
)

func runWSLatency(args []string) error {
	fs := flag.NewFlagSet("ws-latency", flag.ExitOnError)
	url := fs.String("url", "wss://127.0.0.1:20443/ws", "WebSocket URL (proxy, or ws:// to the backend directly)")
	nconns := fs.Int("conns", 50, "concurrent WebSockets")
	n := fs.Int("n", 1000, "round trips per connection")
	warmup := fs.Int("warmup", 50, "unrecorded round trips per connection first")
	size := fs.Int("size", 64, "message size in bytes")
	sni := fs.String("sni", "localhost", "TLS server name")
	connect := fs.String("connect", "", "host:port to connect to instead of the URL's (whose host then only names the site)")
	curves := fs.String("curves", "x25519", "key exchange: x25519, p256, x25519mlkem768, default")
	label := fs.String("label", "", "label printed on the result line")
	_ = fs.Parse(args)
	ctx := context.Background()
	d, err := newWSDialer(*sni, *curves, *connect)
	if err != nil {
		return err
	}
	conns, err := d.dialMany(ctx, *url, *nconns, *nconns)
	if err != nil {
		return err
	}
	defer closeAll(conns)

	lat := make([][]time.Duration, *nconns)
	errs := make([]error, *nconns)
	var ready, wg sync.WaitGroup
	startGate := make(chan struct{})
	ready.Add(*nconns)
	var start time.Time
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := make([]byte, max(*size, 8))
			for range *warmup {
				if err := roundTrip(ctx, c, msg); err != nil {
					errs[i] = err
					ready.Done()
					return
				}
			}
			ready.Done()
			<-startGate
			lat[i] = make([]time.Duration, 0, *n)
			for range *n {
				t := time.Now()
				binary.BigEndian.PutUint64(msg, uint64(t.UnixNano())) // send time in the payload
				if err := roundTrip(ctx, c, msg); err != nil {
					errs[i] = err
					return
				}
				lat[i] = append(lat[i], time.Since(t))
			}
		}()
	}
	ready.Wait()
	start = time.Now()
	close(startGate)
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	fmt.Printf("ws-latency %s conns=%d n=%d size=%d rtt_us p50=%s p90=%s p99=%s max=%s msgs_per_s=%.0f\n",
		*label, *nconns, *n, *size, us(percentile(all, 50)), us(percentile(all, 90)), us(percentile(all, 99)), us(all[len(all)-1]),
		float64(len(all))/elapsed.Seconds())
	return nil
}
