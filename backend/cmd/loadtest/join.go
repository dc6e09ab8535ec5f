package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// runner drives the join path at a fixed rate.
type runner struct {
	e           *edge
	adminHost   string
	patientHost string
	key         string
	perQueue    int
	prepWorkers int
	hold        bool
	timeout     time.Duration
}

// prepare creates the queues and the n invites one step needs, before its
// timed phase, and returns the invites' tokens. Queues are fresh and hold
// at most perQueue waiting patients each: every redemption reads the
// places of its queue, so the queue length is a parameter of the figure,
// not noise.
func (r *runner) prepare(ctx context.Context, label string, n int) ([]string, error) {
	queues := make([]string, (n+r.perQueue-1)/r.perQueue)
	for i := range queues {
		var q struct {
			ID string `json:"id"`
		}
		name := fmt.Sprintf("loadtest %s q%d %d", label, i, time.Now().UnixNano())
		if _, err := r.e.callJSON(ctx, r.adminHost, "POST", "/api/v1/admin/queues", r.key,
			map[string]any{"name": name}, 201, &q); err != nil {
			return nil, err
		}
		queues[i] = q.ID
	}
	tokens := make([]string, n)
	errs := make(chan error, r.prepWorkers)
	next := make(chan int)
	var wg sync.WaitGroup
	for range r.prepWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				var issued struct {
					Link string `json:"link"`
				}
				body := map[string]any{"first_name": "Load", "last_name": fmt.Sprintf("Test %d", i),
					"email": fmt.Sprintf("loadtest-%d@example.net", i), "queue_id": queues[i%len(queues)]}
				if _, err := r.e.callJSON(ctx, r.adminHost, "POST", "/api/v1/invites", r.key, body, 201, &issued); err != nil {
					select {
					case errs <- err:
					default:
					}
					continue
				}
				tokens[i] = issued.Link[strings.LastIndexByte(issued.Link, '/')+1:]
			}
		}()
	}
	for i := range n {
		select {
		case err := <-errs:
			close(next)
			wg.Wait()
			return nil, fmt.Errorf("create invite: %w", err)
		case next <- i:
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, fmt.Errorf("create invite: %w", err)
	default:
	}
	return tokens, nil
}

// step runs one timed phase: joins start on schedule, each on its own
// goroutine, without waiting for earlier ones (open loop).
func (r *runner) step(ctx context.Context, rate float64, d time.Duration, tokens []string) []outcome {
	offsets := schedule(rate, d)
	outcomes := make([]outcome, len(offsets))
	sockets := make([]*websocket.Conn, len(offsets))
	var wg sync.WaitGroup
	t0 := time.Now().Add(50 * time.Millisecond)
	for i, off := range offsets {
		at := t0.Add(off)
		time.Sleep(time.Until(at))
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, conn := r.join(ctx, tokens[i])
			o.Lag = max(o.Start.Sub(at), 0)
			outcomes[i], sockets[i] = o.outcome, conn
		}()
	}
	wg.Wait()
	for _, c := range sockets {
		if c != nil {
			c.Close(websocket.StatusNormalClosure, "")
		}
	}
	return outcomes
}

type timedOutcome struct {
	outcome
	Start time.Time
}

// join is one patient arriving: redeem the link, open the socket and read
// its hello, fetch who they are. Latency runs from the redemption's start to
// the last answer. With hold, the socket stays open until the step ends, as
// a waiting patient's does.
func (r *runner) join(ctx context.Context, token string) (timedOutcome, *websocket.Conn) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	start := time.Now()
	fail := func(stage string, err error) (timedOutcome, *websocket.Conn) {
		return timedOutcome{outcome: outcome{Stage: stage, Err: err}, Start: start}, nil
	}
	h, err := r.e.callJSON(ctx, r.patientHost, "POST", "/api/v1/invites/redeem", "", map[string]string{"token": token}, 200, nil)
	if err != nil {
		return fail("redeem", err)
	}
	redeemed := time.Now()
	session := sessionFrom(h)
	if session == "" {
		return fail("redeem", errors.New("no session cookie"))
	}
	header := http.Header{}
	header.Set("Origin", r.e.origin(r.patientHost))
	header.Set("Cookie", (&http.Cookie{Name: sessionCookie, Value: session}).String())
	conn, _, err := websocket.Dial(ctx, "wss://"+r.patientHost+":"+r.e.port+"/ws",
		&websocket.DialOptions{HTTPClient: r.e.ws, HTTPHeader: header})
	if err != nil {
		return fail("socket", err)
	}
	var hello struct {
		Type string `json:"type"`
	}
	if err := wsjson.Read(ctx, conn, &hello); err != nil || hello.Type != "hello" {
		conn.CloseNow()
		if err == nil {
			err = fmt.Errorf("first message %q, want hello", hello.Type)
		}
		return fail("hello", err)
	}
	greeted := time.Now()
	if _, err := r.e.callJSON(ctx, r.patientHost, "GET", "/api/v1/participant/me", session, nil, 200, nil); err != nil {
		conn.CloseNow()
		return fail("me", err)
	}
	end := time.Now()
	latency := end.Sub(start)
	if !r.hold {
		conn.Close(websocket.StatusNormalClosure, "")
		conn = nil
	} else {
		// Keep reading so pings are answered and events do not back up.
		go func() {
			for {
				if _, _, err := conn.Read(context.Background()); err != nil {
					return
				}
			}
		}()
	}
	stages := [3]time.Duration{redeemed.Sub(start), greeted.Sub(redeemed), end.Sub(greeted)}
	return timedOutcome{outcome: outcome{Latency: latency, Stages: stages}, Start: start}, conn
}
