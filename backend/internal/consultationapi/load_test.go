package consultationapi_test

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// Load figures, in process: a real HTTP server and real sockets on one
// replica (startProcess) and a real PostgreSQL, with the load generator in
// the same process. They are measurements, not tests: each runs only when
// its flag asks for it, prints its figures and appends them to -load.out.
// docs/benchmarks.md records what they gave and on which machine.
//
//	go test ./internal/consultationapi -run TestLoadJoinPath -count=1 -v -args -load.join=50,100,200
//	go test ./internal/consultationapi -run TestLoadChat -count=1 -v -args -load.chat=1000
var (
	loadJoin       = flag.String("load.join", "", "TestLoadJoinPath: joins per second, one step each (e.g. 50,100,200)")
	loadChat       = flag.Int("load.chat", 0, "TestLoadChat: messages each of the three participants sends")
	loadDuration   = flag.Duration("load.duration", 10*time.Second, "TestLoadJoinPath: timed phase of each step")
	loadRounds     = flag.Int("load.rounds", 1, "rounds of every step; report the first as warm-up")
	loadPerQueue   = flag.Int("load.per-queue", 10, "TestLoadJoinPath: waiting patients per fresh queue")
	loadWindow     = flag.Int("load.window", chatWindow, "TestLoadChat: sends each participant leaves unacknowledged at most")
	loadConns      = flag.Int("load.conns", 0, "the replica's pool size (0: pgxpool's default, as in production)")
	loadOut        = flag.String("load.out", "", "append the figures (Markdown) to this file")
	loadCPUProfile = flag.String("load.cpuprofile", "", "write a CPU profile of the timed phases to this file")
	loadWaits      = flag.Bool("load.waits", true, "sample what the replica's database sessions wait for during timed phases")
	loadDBCPU      = flag.String("load.db-cpu", "", "a file holding the database server's CPU time in ns (its cgroup's cpuacct.usage), to report its CPU per join or message")
)

// TestLoadJoinPath is the join path of cmd/loadtest (redeem an invite,
// open /ws and read hello, GET /participant/me), open loop at fixed
// rates, without the edge and TLS: what the backend and PostgreSQL cost.
func TestLoadJoinPath(t *testing.T) {
	if *loadJoin == "" {
		t.Skip("a measurement: run with -args -load.join=50,100,200")
	}
	var rates []float64
	for _, f := range strings.Split(*loadJoin, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		require.NoError(t, err)
		rates = append(rates, r)
	}
	e := newEnv(t)
	f := e.clinic()
	p := e.startProcess("load", processOptions{MaxConns: int32(*loadConns)})
	out := newLoadReport(t, fmt.Sprintf("join path in process (GOMAXPROCS %d, pool %s, %s per step, %d per queue)",
		runtime.GOMAXPROCS(0), poolSize(p), *loadDuration, *loadPerQueue))
	out.line("| round | joins/s | joins | p50 ms | p90 ms | p99 ms | max ms | errors | max start lag ms | redeem p50/p99 | socket+hello p50/p99 | me p50/p99 |")
	out.line("|---|---|---|---|---|---|---|---|---|---|---|---|")
	for round := 1; round <= *loadRounds; round++ {
		for _, rate := range rates {
			n := int(math.Floor(rate * loadDuration.Seconds()))
			tokens := e.joinTokens(f, n, *loadPerQueue)
			stopProfile := startLoadProfile(t, fmt.Sprintf("r%d-%g", round, rate))
			waits := startWaitSampler(e, "hcw-load")
			cpu := startCPU()
			pool := startPoolWaits(p)
			res := runJoins(t, p, rate, tokens)
			cpuNote := cpu(len(tokens), "join") + "; " + pool()
			stopProfile()
			out.line(res.row(round, rate))
			out.note(fmt.Sprintf("round %d, %g/s, %s", round, rate, cpuNote))
			if w := waits(); w != "" {
				out.note(fmt.Sprintf("round %d, %g/s, database sessions waiting: %s", round, rate, w))
			}
			if res.firstErr != "" {
				out.note(fmt.Sprintf("round %d, %g/s, first error: %s", round, rate, res.firstErr))
			}
			time.Sleep(time.Second)
		}
	}
}

// joinTokens creates n invites in fresh queues of perQueue, as the admin,
// and returns their tokens.
func (e *env) joinTokens(f fixture, n, perQueue int) []string {
	e.t.Helper()
	tokens := make([]string, n)
	var q struct{ ID string }
	for i := range n {
		if i%perQueue == 0 {
			res := e.do(f.admin, "POST", "/api/v1/admin/queues", map[string]any{"name": fmt.Sprintf("load %d %d", i, time.Now().UnixNano())})
			require.Equal(e.t, 201, res.status, string(res.body))
			res.json(e.t, &q)
		}
		_, tokens[i] = e.invite(f.admin, map[string]any{"queue_id": q.ID, "last_name": fmt.Sprintf("Load %d", i)})
	}
	return tokens
}

type joinOutcome struct {
	err     string
	lag     time.Duration
	latency time.Duration
	stages  [3]time.Duration
}

type joinResults struct {
	outcomes []joinOutcome
	firstErr string
}

// runJoins starts one join per token on schedule, each on its own
// goroutine whatever the earlier ones are doing (open loop), and keeps
// each socket open until the step ends, as a waiting patient's is.
func runJoins(t *testing.T, p *process, rate float64, tokens []string) joinResults {
	res := joinResults{outcomes: make([]joinOutcome, len(tokens))}
	sockets := make([]*websocket.Conn, len(tokens))
	var wg sync.WaitGroup
	t0 := time.Now().Add(20 * time.Millisecond)
	for i, tok := range tokens {
		at := t0.Add(time.Duration(float64(i) * float64(time.Second) / rate))
		time.Sleep(time.Until(at))
		wg.Go(func() {
			o := &res.outcomes[i]
			start := time.Now()
			o.lag = max(start.Sub(at), 0)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			c := newWebClient(patientHost, "")
			c.hc = sharedJoinClient
			status, body, err := c.call(ctx, p, "POST", "/api/v1/invites/redeem", map[string]string{"token": tok})
			if err != nil || status != 200 || c.cookie == "" {
				o.err = fmt.Sprintf("redeem: %d %v %.100s", status, err, body)
				return
			}
			redeemed := time.Now()
			ws, err := c.dial(ctx, p)
			if err != nil {
				o.err = fmt.Sprintf("socket: %v", err)
				return
			}
			sockets[i] = ws
			go func() { // answer pings, drain events
				for {
					if _, _, err := ws.Read(context.Background()); err != nil {
						return
					}
				}
			}()
			greeted := time.Now()
			status, body, err = c.call(ctx, p, "GET", "/api/v1/participant/me", nil)
			if err != nil || status != 200 {
				o.err = fmt.Sprintf("me: %d %v %.100s", status, err, body)
				return
			}
			end := time.Now()
			o.latency = end.Sub(start)
			o.stages = [3]time.Duration{redeemed.Sub(start), greeted.Sub(redeemed), end.Sub(greeted)}
		})
	}
	wg.Wait()
	for i, ws := range sockets {
		if ws != nil {
			ws.Close(websocket.StatusNormalClosure, "")
		}
		if e := res.outcomes[i].err; e != "" && res.firstErr == "" {
			res.firstErr = e
		}
	}
	return res
}

// sharedJoinClient carries the joins' REST calls over kept-alive
// connections, as browsers talking to one edge do.
var sharedJoinClient = newWebClient(patientHost, "").hc

func (r joinResults) row(round int, rate float64) string {
	var ok []time.Duration
	var stages [3][]time.Duration
	var lag time.Duration
	errs := 0
	for _, o := range r.outcomes {
		lag = max(lag, o.lag)
		if o.err != "" {
			errs++
			continue
		}
		ok = append(ok, o.latency)
		for k := range stages {
			stages[k] = append(stages[k], o.stages[k])
		}
	}
	slices.Sort(ok)
	s := fmt.Sprintf("| %d | %g | %d | %s | %s | %s | %s | %d | %s |", round, rate, len(r.outcomes),
		ms(pct(ok, 50)), ms(pct(ok, 90)), ms(pct(ok, 99)), ms(pct(ok, 100)), errs, ms(lag))
	for k := range stages {
		slices.Sort(stages[k])
		s += fmt.Sprintf(" %s/%s |", ms(pct(stages[k], 50)), ms(pct(stages[k], 99)))
	}
	return s
}

// TestLoadChat is the chat of one consultation with three participants
// (its doctor, the patient, a guest), each sending -load.chat messages
// over its socket on one replica with a window of unacknowledged sends,
// and fetching the texts with chat.sync as the live events announce them
// (what the web app does). The per-socket limit of 20 messages a second
// is lifted: the figure is what the backend sustains, not the limit.
func TestLoadChat(t *testing.T) {
	if *loadChat == 0 {
		t.Skip("a measurement: run with -args -load.chat=1000")
	}
	e := newEnv(t)
	f := e.clinic()
	p := e.startProcess("load", processOptions{MaxConns: int32(*loadConns), InboundRate: 100000})
	out := newLoadReport(t, fmt.Sprintf("chat of one consultation, 3 participants x %d messages, window %d (GOMAXPROCS %d, pool %s)",
		*loadChat, *loadWindow, runtime.GOMAXPROCS(0), poolSize(p)))
	out.line("| round | messages | acked in s | messages/s | ack p50 ms | ack p99 ms | ack max ms | histories complete in s |")
	out.line("|---|---|---|---|---|---|---|---|")
	for round := 1; round <= *loadRounds; round++ {
		id, patient := e.chatting(f)
		_, token := e.addParticipant(f.doctorIn, id, map[string]any{"role": "guest"})
		res, guest := e.redeem(token)
		require.Equal(t, 200, res.status, string(res.body))
		total := 3 * *loadChat
		prog := &chatProgress{total: int64(total)}
		clients := []*chatClient{
			newChatClient("doctor", doctorHost, f.doctorIn.cookie, id, "d", *loadChat, 0),
			newChatClient("patient", patientHost, patient.cookie, "", "p", *loadChat, 0),
			newChatClient("guest", patientHost, guest.cookie, "", "g", *loadChat, 0),
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
		stopProfile := startLoadProfile(t, fmt.Sprintf("chat-r%d", round))
		waits := startWaitSampler(e, "hcw-load")
		cpu := startCPU()
		pool := startPoolWaits(p)
		start := time.Now()
		var ackedAt time.Time
		var wg sync.WaitGroup
		errs := make([]error, len(clients))
		for i, c := range clients {
			c.window = *loadWindow
			wg.Go(func() { errs[i] = c.run(ctx, []*process{p}, prog) })
		}
		for !prog.allAcked() && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		ackedAt = time.Now()
		wg.Wait()
		done := time.Now()
		cpuNote := cpu(total, "message") + "; " + pool()
		stopProfile()
		cancel()
		for _, err := range errs {
			require.NoError(t, err)
		}
		var lat []time.Duration
		for _, c := range clients {
			lat = append(lat, c.latencies...)
			require.Len(t, c.historyList(), total)
		}
		slices.Sort(lat)
		acked := ackedAt.Sub(start)
		out.line(fmt.Sprintf("| %d | %d | %.2f | %.0f | %s | %s | %s | %.2f |", round, total, acked.Seconds(),
			float64(total)/acked.Seconds(), ms(pct(lat, 50)), ms(pct(lat, 99)), ms(pct(lat, 100)), done.Sub(start).Seconds()))
		out.note(fmt.Sprintf("round %d, %s", round, cpuNote))
		if w := waits(); w != "" {
			out.note(fmt.Sprintf("round %d, database sessions waiting: %s", round, w))
		}
	}
}

// startPoolWaits reports how often the replica's requests waited for a
// pooled connection, and how long, until the returned function is called.
func startPoolWaits(p *process) func() string {
	s0 := p.pool.Stat()
	return func() string {
		s := p.pool.Stat()
		n := s.AcquireCount() - s0.AcquireCount()
		waited := s.EmptyAcquireCount() - s0.EmptyAcquireCount()
		wait := s.EmptyAcquireWaitTime() - s0.EmptyAcquireWaitTime()
		return fmt.Sprintf("pool: %d acquisitions, %.1f%% waited, %.2f ms on average when waiting", n,
			100*float64(waited)/float64(max(n, 1)), float64(wait)/float64(time.Millisecond)/float64(max(waited, 1)))
	}
}

// startCPU measures the CPU time this process (server and load generator
// together) and, with -load.db-cpu, the database server use until the
// returned function is called with the number of operations done.
func startCPU() func(n int, what string) string {
	self := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	db := func() time.Duration {
		if *loadDBCPU == "" {
			return 0
		}
		b, err := os.ReadFile(*loadDBCPU)
		if err != nil {
			return 0
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return time.Duration(n)
	}
	start, s0, d0 := time.Now(), self(), db()
	return func(n int, what string) string {
		wall, s, d := time.Since(start), self()-s0, db()-d0
		per := func(x time.Duration) string {
			return fmt.Sprintf("%.2f", float64(x)/float64(time.Millisecond)/float64(max(n, 1)))
		}
		note := fmt.Sprintf("CPU: this process %.0f%% of a core, %s ms per %s (server and load generator)", 100*s.Seconds()/wall.Seconds(), per(s), what)
		if *loadDBCPU != "" {
			note += fmt.Sprintf("; database %.0f%% of a core, %s ms per %s", 100*d.Seconds()/wall.Seconds(), per(d), what)
		}
		return note
	}
}

// startWaitSampler samples, every 10 ms, what the non-idle database
// sessions named app wait for (pg_stat_activity) until the returned
// function is called; that function returns the commonest waits.
func startWaitSampler(e *env, app string) func() string {
	if !*loadWaits {
		return func() string { return "" }
	}
	ctx, cancel := context.WithCancel(context.Background())
	counts := map[string]int{}
	samples := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			rows, err := e.pool.Query(ctx, `
				SELECT coalesce(wait_event_type || ':' || wait_event, 'running') || ' (' ||
				       left(regexp_replace(query, '\s+', ' ', 'g'), 40) || ')'
				FROM pg_stat_activity WHERE application_name = $1 AND state <> 'idle'`, app)
			if err != nil {
				continue
			}
			samples++
			for rows.Next() {
				var w string
				if rows.Scan(&w) == nil {
					counts[w]++
				}
			}
			rows.Close()
		}
	}()
	return func() string {
		cancel()
		<-done
		type kv struct {
			k string
			n int
		}
		var all []kv
		for k, n := range counts {
			all = append(all, kv{k, n})
		}
		sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n })
		var b strings.Builder
		fmt.Fprintf(&b, "%d samples;", samples)
		for i, x := range all {
			if i == 8 {
				break
			}
			fmt.Fprintf(&b, " %s %.2f;", x.k, float64(x.n)/float64(max(samples, 1)))
		}
		return strings.TrimSuffix(b.String(), ";")
	}
}

// startLoadProfile profiles the CPU until the returned function is
// called, into -load.cpuprofile with label before its extension.
func startLoadProfile(t *testing.T, label string) func() {
	if *loadCPUProfile == "" {
		return func() {}
	}
	name := *loadCPUProfile
	if dot := strings.LastIndexByte(name, '.'); dot > 0 {
		name = name[:dot] + "-" + label + name[dot:]
	} else {
		name += "-" + label
	}
	fh, err := os.Create(name)
	require.NoError(t, err)
	require.NoError(t, pprof.StartCPUProfile(fh))
	return func() {
		pprof.StopCPUProfile()
		require.NoError(t, fh.Close())
	}
}

// loadReport prints figures and appends them to -load.out.
type loadReport struct {
	t     *testing.T
	lines []string
}

func newLoadReport(t *testing.T, title string) *loadReport {
	r := &loadReport{t: t}
	r.line(fmt.Sprintf("\n%s, %s:\n", title, time.Now().UTC().Format(time.RFC3339)))
	t.Cleanup(r.flush)
	return r
}

func (r *loadReport) line(s string) {
	r.t.Log(s)
	r.lines = append(r.lines, s)
}

func (r *loadReport) note(s string) { r.line("<!-- " + s + " -->") }

func (r *loadReport) flush() {
	if *loadOut == "" {
		return
	}
	fh, err := os.OpenFile(*loadOut, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		r.t.Errorf("load report: %v", err)
		return
	}
	defer fh.Close()
	fmt.Fprintln(fh, strings.Join(r.lines, "\n"))
}

func poolSize(p *process) string { return strconv.Itoa(int(p.pool.Config().MaxConns)) }

// pct is the nearest-rank percentile of sorted (100: the maximum).
func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }
