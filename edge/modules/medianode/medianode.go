// Package medianode routes signalling to media nodes. A client reaches a
// node at /n/<node id>/...; the handler looks the id up in the backend's
// node registry and hands the node's address to reverse_proxy through a
// request variable, so one edge fronts any number of nodes without a config
// reload when one joins or leaves.
//
// The registry is fetched in the background and kept in memory: a request
// for a known node never waits on the backend. Only an id the edge has not
// seen yet triggers a synchronous fetch (at most one per second), so a node
// that registered a moment ago is found without waiting for the next
// refresh, and a flood of made-up ids cannot flood the backend.
package medianode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hcw-home/hcw/contract/nodeapi"
	"github.com/hcw-home/hcw/edge/internal/backendfetch"
)

func init() {
	caddy.RegisterModule(MediaNode{})
	httpcaddyfile.RegisterHandlerDirective("hcw_media_node", parseCaddyfile)
	// After authentication (hcw_media_grant goes after basic_auth), before
	// the reverse_proxy that reads the variable.
	httpcaddyfile.RegisterDirectiveOrder("hcw_media_node", httpcaddyfile.After, "forward_auth")
}

// UpstreamVar is the request variable that receives the node's upstream
// (host:port); reverse_proxy reads it as {http.vars.hcw_media_upstream}.
const UpstreamVar = "hcw_media_upstream"

// PathPrefix is the path under which every node is reached.
const PathPrefix = "/n/"

// Error codes of the JSON answers ({"code": ...}).
const (
	CodeUnknownNode     = "unknown_node"
	CodeNodeUnavailable = "node_unavailable"
)

// Defaults.
const (
	DefaultRefresh = 2 * time.Second
	DefaultTimeout = 2 * time.Second
	// maxRegistryBytes bounds a registry document.
	maxRegistryBytes = 1 << 20
)

// missRefreshInterval bounds the synchronous fetches that unknown ids
// trigger (a variable for tests).
var missRefreshInterval = time.Second

// MediaNode is an HTTP handler that selects the media node named in the
// path. Requests outside /n/ pass through untouched.
type MediaNode struct {
	// RegistryURL is the backend's node registry
	// (GET nodeapi.PathNodes), e.g.
	// http://backend:8080/internal/v1/media/nodes. Global placeholders such
	// as {env.X} are replaced at provisioning.
	RegistryURL string `json:"registry_url,omitempty"`

	// Secret is the shared node secret, sent as the bearer token. It may be
	// a placeholder ({env.X}, {file./path}); prefer SecretFile for Docker
	// secrets. Exactly one of Secret and SecretFile must be set.
	Secret string `json:"secret,omitempty"`

	// SecretFile is a file holding the node secret (a Docker secret), read
	// once at provisioning; a trailing newline is ignored.
	SecretFile string `json:"secret_file,omitempty"`

	// Refresh is how often the registry is fetched in the background
	// (default 2s).
	Refresh caddy.Duration `json:"refresh,omitempty"`

	// Timeout bounds one registry fetch (default 2s).
	Timeout caddy.Duration `json:"timeout,omitempty"`

	logger *zap.Logger
	reg    *registry
	cancel context.CancelFunc
	done   chan struct{}
}

// registry is the cached node list and the means to refresh it.
type registry struct {
	src    backendfetch.Getter
	logger *zap.Logger

	snap    atomic.Pointer[snapshot]
	failing backendfetch.Latch
	// miss bounds the synchronous fetches of unknown ids.
	miss    backendfetch.Throttle
	skipped sync.Map // invalid entries already logged
}

// snapshot is one fetched registry, immutable once stored.
type snapshot struct {
	nodes map[string]nodeapi.RegistryNode
	// started is when the fetch that produced it began; an older fetch
	// finishing late never replaces a newer one.
	started time.Time
}

// CaddyModule returns the Caddy module information.
func (MediaNode) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.hcw_media_node",
		New: func() caddy.Module { return new(MediaNode) },
	}
}

// Provision resolves the URL and the secret and starts the background
// refresh. A missing or short secret stops the edge: without it no node
// would ever be found.
func (m *MediaNode) Provision(ctx caddy.Context) error {
	m.logger = ctx.Logger()
	repl := caddy.NewReplacer()

	reg := &registry{logger: m.logger}
	reg.src.URL = repl.ReplaceAll(m.RegistryURL, "")
	u, err := url.Parse(reg.src.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("registry_url %q: not an http(s) URL", reg.src.URL)
	}
	var secret string

	switch {
	case m.SecretFile != "":
		path := repl.ReplaceAll(m.SecretFile, "")
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("secret_file: %w", err)
		}
		secret = strings.TrimRight(string(b), "\r\n")
	default:
		secret = repl.ReplaceAll(m.Secret, "")
	}
	if len(secret) < nodeapi.MinSecretLen {
		return fmt.Errorf("node secret: shorter than %d characters", nodeapi.MinSecretLen)
	}

	if m.Refresh == 0 {
		m.Refresh = caddy.Duration(DefaultRefresh)
	}
	if m.Timeout == 0 {
		m.Timeout = caddy.Duration(DefaultTimeout)
	}
	reg.src.Client = &http.Client{Timeout: time.Duration(m.Timeout)}
	reg.src.MaxBytes = maxRegistryBytes
	reg.src.Authorize = func(r *http.Request) { nodeapi.Authorize(r, secret) }
	reg.miss.Interval = missRefreshInterval
	reg.snap.Store(&snapshot{})
	m.reg = reg

	loopCtx, cancel := context.WithCancel(ctx)
	m.cancel = cancel
	m.done = make(chan struct{})
	go m.refreshLoop(loopCtx)

	m.logger.Info("media node registry", zap.String("url", reg.src.URL), zap.Duration("refresh", time.Duration(m.Refresh)))
	return nil
}

// Validate checks the configuration.
func (m *MediaNode) Validate() error {
	switch {
	case m.RegistryURL == "":
		return errors.New("registry_url is required")
	case m.Secret == "" && m.SecretFile == "":
		return errors.New("secret or secret_file is required")
	case m.Secret != "" && m.SecretFile != "":
		return errors.New("secret and secret_file are exclusive")
	case m.Refresh < 0:
		return errors.New("refresh must not be negative")
	case m.Refresh > 0 && time.Duration(m.Refresh) < 100*time.Millisecond:
		return errors.New("refresh must be at least 100ms")
	case m.Timeout < 0:
		return errors.New("timeout must not be negative")
	}
	return nil
}

// Cleanup stops the background refresh.
func (m *MediaNode) Cleanup() error {
	if m.cancel != nil {
		m.cancel()
		<-m.done
	}
	return nil
}

// ServeHTTP routes requests under /n/<id>/ to the node's upstream.
func (m *MediaNode) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	id, ok := NodeID(r.URL.Path)
	if !ok {
		if strings.HasPrefix(r.URL.Path, PathPrefix) {
			return writeCode(w, http.StatusNotFound, CodeUnknownNode)
		}
		return next.ServeHTTP(w, r)
	}
	node, found := m.reg.lookup(r.Context(), id)
	switch {
	case !found:
		return writeCode(w, http.StatusNotFound, CodeUnknownNode)
	case !node.Healthy:
		return writeCode(w, http.StatusServiceUnavailable, CodeNodeUnavailable)
	}
	caddyhttp.SetVar(r.Context(), UpstreamVar, node.Upstream)
	return next.ServeHTTP(w, r)
}

// NodeID returns the node id in a path under /n/ and whether it is a valid
// id (nodeapi.ValidID).
func NodeID(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, PathPrefix)
	if !ok {
		return "", false
	}
	id, _, _ := strings.Cut(rest, "/")
	return id, nodeapi.ValidID(id)
}

// lookup finds id in the cached registry; on a miss it fetches once,
// unless a miss did so less than a second ago.
func (reg *registry) lookup(ctx context.Context, id string) (nodeapi.RegistryNode, bool) {
	if n, ok := reg.snap.Load().nodes[id]; ok {
		return n, true
	}
	// Another request may have fetched while this one waited.
	known := func() bool { _, ok := reg.snap.Load().nodes[id]; return ok }
	reg.miss.Do(known, func() { reg.refresh(ctx) })
	n, ok := reg.snap.Load().nodes[id]
	return n, ok
}

func (m *MediaNode) refreshLoop(ctx context.Context) {
	defer close(m.done)
	t := time.NewTicker(time.Duration(m.Refresh))
	defer t.Stop()
	for {
		m.reg.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refresh fetches the registry and stores it, keeping the last good one on
// failure (nodes keep working while the backend restarts). Failures are
// logged when they start and when they end, not on every attempt.
func (reg *registry) refresh(ctx context.Context) {
	started := time.Now()
	nodes, err := reg.fetch(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if reg.failing.Fail() {
			reg.logger.Warn("media node registry unavailable; keeping the last known nodes", zap.Error(err))
		}
		return
	}
	if reg.failing.Recover() {
		reg.logger.Info("media node registry available again", zap.Int("nodes", len(nodes)))
	}
	next := &snapshot{nodes: nodes, started: started}
	for {
		cur := reg.snap.Load()
		if cur.started.After(started) || reg.snap.CompareAndSwap(cur, next) {
			return
		}
	}
}

func (reg *registry) fetch(ctx context.Context) (map[string]nodeapi.RegistryNode, error) {
	body, err := reg.src.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch registry: %w", err)
	}
	var doc nodeapi.Registry
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("fetch registry: %w", err)
	}
	nodes := make(map[string]nodeapi.RegistryNode, len(doc.Nodes))
	for _, n := range doc.Nodes {
		if !nodeapi.ValidID(n.ID) || !validUpstream(n.Upstream) {
			// Once per entry, not on every refresh.
			if _, seen := reg.skipped.LoadOrStore(n.ID+" "+n.Upstream, true); seen {
				continue
			}
			reg.logger.Warn("media node registry: skipping invalid entry", zap.String("id", n.ID), zap.String("upstream", n.Upstream))
			continue
		}
		nodes[n.ID] = n
	}
	return nodes, nil
}

// validUpstream accepts host:port only: the value becomes reverse_proxy's
// dial address, where a network prefix or a placeholder would change its
// meaning.
func validUpstream(s string) bool {
	host, port, err := net.SplitHostPort(s)
	return err == nil && host != "" && port != "" && !strings.ContainsAny(s, "/{}")
}

// writeCode answers with the edge's JSON error shape; see
// backendfetch.WriteCode.
var writeCode = backendfetch.WriteCode

// Interface guards.
var (
	_ caddy.Provisioner           = (*MediaNode)(nil)
	_ caddy.Validator             = (*MediaNode)(nil)
	_ caddy.CleanerUpper          = (*MediaNode)(nil)
	_ caddyhttp.MiddlewareHandler = (*MediaNode)(nil)
)
