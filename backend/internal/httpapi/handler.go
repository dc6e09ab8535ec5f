// Package httpapi is the backend's HTTP surface: routing, middleware, the
// JSON error shape, health endpoints and the liveness probe client.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/version"
)

// Timeouts of the HTTP surface.
const (
	// ReadyTimeout bounds one readiness check; /readyz must never hang.
	ReadyTimeout = 2 * time.Second
	// ResponseWriteTimeout bounds writing any non-WebSocket response.
	ResponseWriteTimeout = 30 * time.Second
)

// ErrNotReady is returned by a ReadyFunc that has nothing more specific.
var ErrNotReady = errors.New("not ready")

// errReadyTimeout is reported when a check overruns its deadline.
var errReadyTimeout = errors.New("readiness check timed out")

// readyGrace is how long past ReadyTimeout a check may take to notice its
// context before the handler answers without it.
const readyGrace = 500 * time.Millisecond

// ReadyFunc returns nil when the process can serve traffic. Its error text
// becomes the "reason" of the 503 response, so keep it free of secrets.
type ReadyFunc func(ctx context.Context) error

// Params configures NewHandler.
type Params struct {
	Logger *slog.Logger
	// Edge decides whose X-Forwarded-* headers are believed.
	Edge clientinfo.Trusted
	// Ready backs /readyz.
	Ready ReadyFunc
	// Realtime serves GET /ws; omitted when nil.
	Realtime http.Handler
	// AppHosts are the doctor, patient and admin hosts: the only origins
	// a state-changing request may come from.
	AppHosts []string
	// Metrics records per-operation request counts and latency (optional).
	Metrics *Metrics
	// Auth resolves sessions and API keys for operations that need them.
	Auth Authenticator
	// Mount registers the domain's operations (accounts, sign-in, ...).
	Mount []func(*Router)
}

// NewHandler returns the root handler with all routes and middleware, and
// the router that documents them.
func NewHandler(p Params) (http.Handler, *Router) {
	mux := http.NewServeMux()
	plain := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, withWriteDeadline(ResponseWriteTimeout, p.Metrics.instrument("other", h)))
	}
	rt := &Router{mux: mux, wrap: func(op Operation, h http.Handler) http.Handler {
		return withWriteDeadline(ResponseWriteTimeout, p.Metrics.instrument(op.ID, authorize(p.Auth, op, h)))
	}}
	// Probes for Docker and orchestrators; not part of the public API.
	plain("GET /healthz", handleHealthz)
	plain("GET /readyz", readyHandler(p.Ready))

	rt.HandleFunc(Operation{
		Method: http.MethodGet, Path: "/api/v1/version", ID: "getVersion", Tags: []string{"meta"},
		Summary: "Product name, version and commit of the running backend.",
		Auth:    AuthNone, Response: versionBody{},
	}, handleVersion)
	rt.HandleFunc(Operation{
		Method: http.MethodGet, Path: "/api/v1/openapi.json", ID: "getOpenAPI", Tags: []string{"meta"},
		Summary: "This OpenAPI 3.1 document.",
		Auth:    AuthNone, Response: map[string]any{},
	}, rt.serveOpenAPI)
	for _, mount := range p.Mount {
		mount(rt)
	}
	plain("/api/", handleNotFound)
	plain("/", handleNotFound)
	if p.Realtime != nil {
		mux.Handle("GET /ws", p.Realtime)
	}
	return withClientInfo(p.Edge, withAccessLog(p.Logger, withOriginCheck(p.AppHosts, mux))), rt
}

func handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type unavailableBody struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
}

func readyHandler(ready ReadyFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ready == nil {
			writeJSON(w, http.StatusServiceUnavailable, unavailableBody{"unavailable", ErrNotReady.Error()})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
		defer cancel()
		// Run the check in its own goroutine so a check that ignores the
		// deadline still cannot hold this response much past it.
		done := make(chan error, 1)
		go func() { done <- ready(ctx) }()
		hardStop := time.NewTimer(ReadyTimeout + readyGrace)
		defer hardStop.Stop()
		var err error
		select {
		case err = <-done:
		case <-hardStop.C:
			err = errReadyTimeout
		}
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, unavailableBody{"unavailable", err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

type versionBody struct {
	Name    string `json:"name" doc:"product name"`
	Version string `json:"version" doc:"release version, or dev"`
	Commit  string `json:"commit" doc:"source commit the binary was built from"`
}

func handleVersion(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, versionBody{Name: version.Name, Version: version.Version, Commit: version.Commit})
}

func handleNotFound(w http.ResponseWriter, _ *http.Request) {
	WriteError(w, http.StatusNotFound, CodeNotFound, "no such resource")
}
