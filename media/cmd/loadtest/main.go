// Command loadtest measures a media node: it starts the node binary as a
// child process (with a stand-in backend that serves the grant keys and
// takes heartbeats), joins publishers sending synthetic Opus or three-layer
// simulcast VP8 with the send time and a sequence number stamped in each
// payload, and subscribers that measure loss, jitter and one-way latency.
// It prints a table and can write JSON. The node's CPU time comes from
// /proc, so the figure is the node's alone even though the clients share
// the machine.
//
//	go build -o /tmp/media ./cmd/media
//	go run ./cmd/loadtest -node /tmp/media -scenario audio -subs 25,50 -duration 20s
package main

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/nodeapi"
)

type options struct {
	node     string
	scenario string
	pubs     int
	subs     []int
	duration time.Duration
	warmup   time.Duration
	jsonOut  string
	nodeCPUs string
	nodeLog  string
	rounds   int
}

func main() {
	var o options
	var subs string
	flag.StringVar(&o.node, "node", "", "path of the media node binary (required)")
	flag.StringVar(&o.scenario, "scenario", "audio", "audio (publishers send Opus) or video (one publisher, three-layer simulcast VP8)")
	flag.IntVar(&o.pubs, "pubs", 0, "publishers (default 5 for audio, 1 for video)")
	flag.StringVar(&subs, "subs", "25", "comma-separated subscriber counts, one run each")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "measured time per run")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "time after everyone joined before measuring")
	flag.StringVar(&o.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.StringVar(&o.nodeCPUs, "node-cpus", "", "pin the node to these CPUs with taskset (e.g. 0; run the tester itself under taskset -c 1)")
	flag.StringVar(&o.nodeLog, "node-log", "warn", "the node's log level (HCW_LOG_LEVEL; its log goes to stderr)")
	flag.IntVar(&o.rounds, "rounds", 1, "runs per subscriber count (compare the median; the first is often an outlier)")
	flag.Parse()
	if o.node == "" {
		fmt.Fprintln(os.Stderr, "loadtest: -node is required")
		os.Exit(2)
	}
	if o.scenario != "audio" && o.scenario != "video" {
		fmt.Fprintln(os.Stderr, "loadtest: -scenario must be audio or video")
		os.Exit(2)
	}
	if o.pubs == 0 {
		o.pubs = 5
		if o.scenario == "video" {
			o.pubs = 1
		}
	}
	for _, s := range strings.Split(subs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "loadtest: -subs: %q is not a positive number\n", s)
			os.Exit(2)
		}
		o.subs = append(o.subs, n)
	}
	var results []result
	for _, n := range o.subs {
		for range max(o.rounds, 1) {
			r, err := runOnce(o, n)
			if err != nil {
				fmt.Fprintln(os.Stderr, "loadtest:", err)
				os.Exit(1)
			}
			results = append(results, r)
			printTable(results)
		}
	}
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			os.Exit(1)
		}
	}
}

// node is a running media node with its stand-in backend.
type node struct {
	cmd       *exec.Cmd
	key       ed25519.PrivateKey
	signalURL string
	metrics   string
	backend   *http.Server
}

func startNode(path, cpus, logLevel string) (*node, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	secretBytes := make([]byte, 24)
	_, _ = rand.Read(secretBytes)
	secret := base64.RawURLEncoding.EncodeToString(secretBytes)
	jwks, _ := json.Marshal(grant.NewJWKS(key.Public().(ed25519.PublicKey)))
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+nodeapi.PathJWKS, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	})
	mux.HandleFunc(nodeapi.PathNode, func(w http.ResponseWriter, r *http.Request) {
		if !nodeapi.Authorized(r, secret) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(nodeapi.HeartbeatReply{SignalURL: "ws://unused"})
	})
	bl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	backend := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = backend.Serve(bl) }()

	httpPort, udpPort, tcpPort := freeTCP(), freeUDP(), freeTCP()
	cmd := exec.Command(path)
	if cpus != "" {
		cmd = exec.Command("taskset", "-c", cpus, path)
	}
	cmd.Env = append(os.Environ(),
		"HCW_MEDIA_NODE_ID=load-1",
		"HCW_MEDIA_HTTP_LISTEN=127.0.0.1:"+strconv.Itoa(httpPort),
		"HCW_MEDIA_UPSTREAM=127.0.0.1:"+strconv.Itoa(httpPort),
		"HCW_MEDIA_UDP_PORT="+strconv.Itoa(udpPort),
		"HCW_MEDIA_TCP_PORT="+strconv.Itoa(tcpPort),
		"HCW_MEDIA_PUBLIC_IP=127.0.0.1",
		"HCW_MEDIA_CAPACITY=100000",
		"HCW_MEDIA_BACKEND_URL=http://"+bl.Addr().String(),
		"HCW_MEDIA_JWKS_URL=http://"+bl.Addr().String()+nodeapi.PathJWKS,
		"HCW_MEDIA_NODE_SECRET="+secret,
		"HCW_LOG_LEVEL="+logLevel,
	)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		_ = backend.Close()
		return nil, fmt.Errorf("start node: %w", err)
	}
	n := &node{
		cmd: cmd, key: key, backend: backend,
		signalURL: fmt.Sprintf("ws://127.0.0.1:%d/n/load-1/signal", httpPort),
		metrics:   fmt.Sprintf("http://127.0.0.1:%d/metrics", httpPort),
	}
	ready := fmt.Sprintf("http://127.0.0.1:%d/readyz", httpPort)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n, nil
			}
		}
		if time.Now().After(deadline) {
			n.stop()
			return nil, errors.New("node not ready within 15 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (n *node) stop() {
	_ = n.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
	}
	_ = n.backend.Close()
}

// scrape reads the node's metrics: each sample's value by its name and
// labels as exposed ("name" or `name{label="value"}`).
func (n *node) scrape() (map[string]float64, error) {
	resp, err := http.Get(n.metrics)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", n.metrics, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// grantFor signs a grant for participant id in room.
func (n *node) grantFor(room, id string) (string, error) {
	return grant.Sign(n.key, grant.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: id, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))},
		Room:             room, Node: "load-1", Name: id, Role: "guest",
		Sources: []string{grant.SourceCamera, grant.SourceMicrophone},
	}, time.Now())
}

// cpu returns the node's user+system CPU time and resident memory.
func (n *node) cpu() (time.Duration, int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name (which may hold spaces) start at ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	rssPages, _ := strconv.ParseInt(f[21], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, rssPages * int64(os.Getpagesize()), nil
}

func freeTCP() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func freeUDP() int {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
