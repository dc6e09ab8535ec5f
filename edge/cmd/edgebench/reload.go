package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os/exec"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

func runReload(args []string) error {
	fs := flag.NewFlagSet("reload", flag.ExitOnError)
	url := fs.String("url", "wss://127.0.0.1:20443/ws", "WebSocket URL through the proxy")
	n := fs.Int("n", 500, "WebSockets")
	every := fs.Duration("every", 100*time.Millisecond, "message interval per connection")
	cmdline := fs.String("cmd", "", "reload command, run with sh -c")
	window := fs.Duration("window", 10*time.Second, "how long after the reload to count closed sockets")
	settle := fs.Duration("settle", 3*time.Second, "traffic before the reload")
	pid := fs.Int("pid", 0, "proxy pid: list its child processes before and after (optional)")
	sni := fs.String("sni", "localhost", "TLS server name")
	connect := fs.String("connect", "", "host:port to connect to instead of the URL's (whose host then only names the site)")
	curves := fs.String("curves", "x25519", "key exchange: x25519, p256, x25519mlkem768, default")
	label := fs.String("label", "", "label printed on the result line")
	_ = fs.Parse(args)
	if *cmdline == "" {
		return fmt.Errorf("-cmd is required")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := newWSDialer(*sni, *curves, *connect)
	if err != nil {
		return err
	}
	conns, err := d.dialMany(ctx, *url, *n, 50)
	if err != nil {
		return err
	}
	defer closeAll(conns)

	type result struct {
		at  time.Time
		err error
	}
	results := make([]result, *n)
	lastOK := make([]atomic.Int64, *n)
	var sent atomic.Int64
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the connections' ticks over the interval.
			time.Sleep(time.Duration(i) * *every / time.Duration(*n))
			t := time.NewTicker(*every)
			defer t.Stop()
			msg := []byte("tick tick tick tick tick tick")
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
				err := roundTrip(rctx, c, msg)
				rcancel()
				if err != nil {
					if ctx.Err() == nil {
						results[i] = result{time.Now(), err}
					}
					return
				}
				sent.Add(1)
				lastOK[i].Store(time.Now().UnixNano())
			}
		}()
	}
	time.Sleep(*settle)
	childrenBefore := []string{}
	if *pid != 0 {
		childrenBefore = describeTree(*pid)
	}
	sentBefore := sent.Load()
	t0 := time.Now()
	out, err := exec.Command("sh", "-c", *cmdline).CombinedOutput()
	cmdDur := time.Since(t0)
	if err != nil {
		return fmt.Errorf("reload command: %v: %s", err, out)
	}
	childrenAfter1s := []string{}
	if *pid != 0 {
		time.Sleep(time.Second - cmdDur)
		childrenAfter1s = describeTree(*pid)
	}
	time.Sleep(time.Until(t0.Add(*window)))
	end := time.Now()
	childrenAfter := []string{}
	if *pid != 0 {
		childrenAfter = describeTree(*pid)
	}
	cancel()
	wg.Wait()

	var before, within, aliveAtEnd int
	kinds := map[string]int{}
	var firstClose, lastClose time.Duration = -1, -1
	for i, r := range results {
		switch {
		case r.err == nil:
		case r.at.Before(t0):
			before++
		case !r.at.After(end):
			within++
			kinds[errKind(r.err)]++
			dt := r.at.Sub(t0)
			if firstClose < 0 || dt < firstClose {
				firstClose = dt
			}
			if dt > lastClose {
				lastClose = dt
			}
		}
		if r.err == nil && time.Duration(end.UnixNano()-lastOK[i].Load()) < time.Second {
			aliveAtEnd++
		}
	}
	fmt.Printf("reload %s n=%d closed_before=%d closed_within_%s=%d alive_at_end=%d reload_cmd_ms=%d echoes_before=%d echoes_total=%d",
		*label, *n, before, *window, within, aliveAtEnd, cmdDur.Milliseconds(), sentBefore, sent.Load())
	if within > 0 {
		fmt.Printf(" first_close_ms=%d last_close_ms=%d", firstClose.Milliseconds(), lastClose.Milliseconds())
	}
	fmt.Println()
	ks := make([]string, 0, len(kinds))
	for k := range kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		fmt.Printf("  close: %dx %s\n", kinds[k], k)
	}
	if *pid != 0 {
		fmt.Printf("  children before: %d %q\n", len(childrenBefore), childrenBefore)
		fmt.Printf("  children 1s after: %d %q\n", len(childrenAfter1s), childrenAfter1s)
		fmt.Printf("  children %s after: %d %q\n", *window, len(childrenAfter), childrenAfter)
	}
	return nil
}

func errKind(err error) string {
	if s := websocket.CloseStatus(err); s != -1 {
		return "close status " + s.String()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no echo within 5s"
	}
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}
