// Command loadtest measures the patient join path of a running appliance
// through its edge: redeem an invite, open /ws and read its hello, fetch
// GET /participant/me, at fixed arrival rates. It prints figures; it never
// passes or fails on them (docs/benchmarks.md, "Join path").
//
// The same join path without the edge and TLS, with a CPU profile and
// what the database sessions wait for, and the chat of one consultation,
// run in process: TestLoadJoinPath and TestLoadChat in
// internal/consultationapi (load_test.go).
//
//	loadtest setup -ca root.crt -setup-link 'https://admin.localhost/setup#...' -email admin@bench.example
//	loadtest run -ca root.crt -key hcw_... -rates 50,100,200 -duration 20s -rounds 4
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadtest setup|run [flags] (loadtest <command> -h for the flags)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "setup":
		err = setupCommand(ctx, os.Args[2:])
	case "run":
		err = runCommand(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want setup or run", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func setupCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("setup", flag.ExitOnError)
	ca := fs.String("ca", "", "the edge's internal CA root (PEM), e.g. copied from /data/caddy/pki/authorities/local/root.crt")
	link := fs.String("setup-link", "", "the link `backend admin create` printed, with the edge's port: https://admin.localhost:PORT/setup#TOKEN")
	email := fs.String("email", "", "the email the admin was created with")
	password := fs.String("password", "loadtest correct horse battery 42", "the password to set")
	fs.Parse(args)
	if *ca == "" || *link == "" || *email == "" {
		return fmt.Errorf("setup: -ca, -setup-link and -email are required")
	}
	u, err := url.Parse(*link)
	if err != nil {
		return fmt.Errorf("setup link: %w", err)
	}
	e, err := newEdge("https://"+u.Host, *ca, false)
	if err != nil {
		return err
	}
	key, err := setupAdmin(ctx, e, *link, *email, *password)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	fmt.Println(key)
	return nil
}

func runCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	base := fs.String("url", "https://patient.localhost:18443", "the patient app's base URL through the edge (*.localhost goes to 127.0.0.1)")
	adminHost := fs.String("admin-host", "admin.localhost", "the admin app's host, on the same port, for queues and invites")
	ca := fs.String("ca", "", "the edge's internal CA root (PEM)")
	key := fs.String("key", os.Getenv("HCW_LOADTEST_KEY"), "an admin API key (hcw_...; default $HCW_LOADTEST_KEY), from loadtest setup")
	rates := fs.String("rates", "50,100,200", "joins per second, one step each, in this order every round")
	duration := fs.Duration("duration", 20*time.Second, "timed phase of each step")
	rounds := fs.Int("rounds", 1, "rounds of all the rates; report the first as warm-up")
	perQueue := fs.Int("per-queue", 10, "waiting patients per fresh queue (each redemption reads its queue's places)")
	workers := fs.Int("prep-workers", 8, "concurrent invite creations before each timed phase (not measured)")
	hold := fs.Bool("hold", true, "keep each patient's socket open until the step ends, as a waiting patient does")
	timeout := fs.Duration("timeout", 10*time.Second, "one join's deadline; past it the join is an error")
	resume := fs.Bool("tls-resume", false, "resume TLS sessions for the sockets' connections (a browser would; off: a full handshake each)")
	pause := fs.Duration("pause", 2*time.Second, "rest between steps")
	connect := fs.String("connect", "", "host:port to connect to instead of 127.0.0.1 on the URL's port, e.g. the edge container's address and 443 to bypass Docker's userland proxy")
	fs.Parse(args)
	if *ca == "" || !strings.HasPrefix(*key, "hcw_") {
		return fmt.Errorf("run: -ca and -key (hcw_...) are required")
	}
	var rs []float64
	for _, f := range strings.Split(*rates, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 {
			return fmt.Errorf("run: -rates %q: want positive numbers", *rates)
		}
		rs = append(rs, r)
	}
	if *perQueue < 1 || *workers < 1 || *rounds < 1 {
		return fmt.Errorf("run: -per-queue, -prep-workers and -rounds must be at least 1")
	}
	e, err := newEdge(*base, *ca, *resume)
	if err != nil {
		return err
	}
	e.connect = *connect
	u, _ := url.Parse(*base)
	r := &runner{e: e, adminHost: *adminHost, patientHost: u.Hostname(), key: *key, perQueue: *perQueue,
		prepWorkers: *workers, hold: *hold, timeout: *timeout}

	fmt.Println(tableHeader)
	for round := 1; round <= *rounds; round++ {
		for _, rate := range rs {
			label := fmt.Sprintf("r%d-%g", round, rate)
			tokens, err := r.prepare(ctx, label, len(schedule(rate, *duration)))
			if err != nil {
				return fmt.Errorf("prepare %s: %w", label, err)
			}
			s := summarize(rate, r.step(ctx, rate, *duration, tokens))
			fmt.Println(s.row(round))
			fmt.Fprintf(os.Stderr, "round %d, %g/s:%s\n", round, rate, s.stages())
			if s.Errors > 0 {
				fmt.Fprintf(os.Stderr, "round %d, %g/s: errors by stage %v; first: %s\n", round, rate, s.ErrorsByStage, s.FirstError)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(*pause)
		}
	}
	return nil
}
