package backendfetch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestGetter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			if r.Header.Get("Authorization") != "Bearer s" || r.Header.Get("Accept") != "application/json" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			_, _ = w.Write([]byte(`{"a":1}`))
		case "/big":
			_, _ = w.Write([]byte(strings.Repeat("x", 11)))
		default:
			http.Error(w, "no", http.StatusTeapot)
		}
	}))
	defer srv.Close()
	get := func(path string) ([]byte, error) {
		g := Getter{URL: srv.URL + path, Client: srv.Client(), MaxBytes: 10,
			Authorize: func(r *http.Request) { r.Header.Set("Authorization", "Bearer s") }}
		return g.Get(context.Background())
	}
	if b, err := get("/ok"); err != nil || string(b) != `{"a":1}` {
		t.Fatalf("ok: %q, %v", b, err)
	}
	if _, err := get("/big"); err == nil || !strings.Contains(err.Error(), "larger than 10") {
		t.Fatalf("big: %v", err)
	}
	if _, err := get("/other"); err == nil || !strings.Contains(err.Error(), "status 418") {
		t.Fatalf("status: %v", err)
	}
	srv.Close()
	if _, err := get("/ok"); err == nil {
		t.Fatal("closed server: no error")
	}
}

func TestLatch(t *testing.T) {
	var l Latch
	if l.Recover() {
		t.Fatal("recover without an outage")
	}
	if !l.Fail() || l.Fail() {
		t.Fatal("only the first failure starts an outage")
	}
	if !l.Recover() || l.Recover() {
		t.Fatal("only the first success ends it")
	}
}

func TestThrottle(t *testing.T) {
	th := Throttle{Interval: time.Hour}
	runs := 0
	if !th.Do(nil, func() { runs++ }) || th.Do(nil, func() { runs++ }) {
		t.Fatal("second call within the interval ran")
	}
	if th.Do(func() bool { return true }, func() { runs++ }) {
		t.Fatal("ran although retry found the answer")
	}
	if runs != 1 {
		t.Fatalf("runs = %d", runs)
	}

	// Callers arriving during a run wait for it.
	th = Throttle{Interval: 0}
	var mu sync.Mutex
	done := false
	var wg sync.WaitGroup
	started := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		th.Do(nil, func() {
			close(started)
			time.Sleep(20 * time.Millisecond)
			mu.Lock()
			done = true
			mu.Unlock()
		})
	}()
	<-started
	th.Do(func() bool { mu.Lock(); defer mu.Unlock(); return done }, func() { t.Error("ran again") })
	wg.Wait()
}

func TestWriteCode(t *testing.T) {
	rec := httptest.NewRecorder()
	_ = WriteCode(rec, http.StatusNotFound, "unknown_node")
	if rec.Code != 404 || rec.Body.String() != "{\"code\":\"unknown_node\"}\n" ||
		rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
}
