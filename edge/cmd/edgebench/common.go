package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// clientTLS is the clients' TLS configuration: TLS 1.3 only, any
// certificate, no session cache (so no resumption), and the given key
// exchange groups.
func clientTLS(sni, curves string) (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName:         sni,
		InsecureSkipVerify: true, // one self-signed benchmark certificate
		MinVersion:         tls.VersionTLS13,
		MaxVersion:         tls.VersionTLS13,
	}
	switch curves {
	case "", "default":
	case "x25519":
		cfg.CurvePreferences = []tls.CurveID{tls.X25519}
	case "p256":
		cfg.CurvePreferences = []tls.CurveID{tls.CurveP256}
	case "x25519mlkem768":
		cfg.CurvePreferences = []tls.CurveID{tls.X25519MLKEM768}
	default:
		return nil, fmt.Errorf("unknown -curves %q (x25519, p256, x25519mlkem768, default)", curves)
	}
	return cfg, nil
}

// wsDialer dials WebSockets over HTTP/1.1 with its own connection for each.
type wsDialer struct {
	opts *websocket.DialOptions
}

// newWSDialer dials with the given TLS server name; connect, when set, is
// the address dialed whatever the URL's host (which then only names the
// site, in the Host header).
func newWSDialer(sni, curves, connect string) (*wsDialer, error) {
	cfg, err := clientTLS(sni, curves)
	if err != nil {
		return nil, err
	}
	var nd net.Dialer
	dial := nd.DialContext
	if connect != "" {
		dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return nd.DialContext(ctx, network, connect)
		}
	}
	tr := &http.Transport{
		DialContext:         dial,
		TLSClientConfig:     cfg,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only
		DisableKeepAlives:   true,
		MaxIdleConnsPerHost: -1,
	}
	return &wsDialer{opts: &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}}}, nil
}

func (d *wsDialer) dial(ctx context.Context, url string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, d.opts)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 20)
	return c, nil
}

// dialMany opens n WebSockets with at most par dials at a time.
func (d *wsDialer) dialMany(ctx context.Context, url string, n, par int) ([]*websocket.Conn, error) {
	conns := make([]*websocket.Conn, n)
	errs := make([]error, n)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conns[i], errs[i] = d.dial(ctx, url)
		}()
	}
	wg.Wait()
	failed := 0
	var first error
	for _, err := range errs {
		if err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if failed > 0 {
		closeAll(conns)
		return nil, fmt.Errorf("%d of %d dials failed, first: %w", failed, n, first)
	}
	return conns, nil
}

func closeAll(conns []*websocket.Conn) {
	for _, c := range conns {
		if c != nil {
			_ = c.CloseNow()
		}
	}
}

// roundTrip writes msg and reads its echo.
func roundTrip(ctx context.Context, c *websocket.Conn, msg []byte) error {
	if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
		return err
	}
	_, got, err := c.Read(ctx)
	if err != nil {
		return err
	}
	if len(got) != len(msg) {
		return fmt.Errorf("echo of %d bytes came back as %d", len(msg), len(got))
	}
	return nil
}

// procTree is pid and its descendants.
func procTree(pid int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state ppid ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		children[pp] = append(children[pp], p)
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	slices.Sort(out)
	return out
}

// rssKiB sums VmRSS over pid and its descendants.
func rssKiB(pid int) (int64, error) {
	var sum int64
	for _, p := range procTree(pid) {
		v, err := statusField(p, "VmRSS:")
		if err != nil {
			if p == pid {
				return 0, err
			}
			continue
		}
		sum += v
	}
	return sum, nil
}

func statusField(pid int, key string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			fs := strings.Fields(rest)
			if len(fs) > 0 {
				return strconv.ParseInt(fs[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("pid %d: no %s", pid, key)
}

// cpuSeconds sums user+system CPU time over pid and its descendants.
func cpuSeconds(pid int) float64 {
	const hz = 100 // USER_HZ on Linux
	var ticks int64
	for _, p := range procTree(pid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	return float64(ticks) / hz
}

// describeTree lists pid's descendants with their command lines.
func describeTree(pid int) []string {
	var out []string
	for _, p := range procTree(pid) {
		if p == pid {
			continue
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		out = append(out, fmt.Sprintf("%d %s", p, strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))))
	}
	return out
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Microsecond)) }
