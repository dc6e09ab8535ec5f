// Package mediagrant checks media grants at the edge. A signalling
// WebSocket to /n/<node id>/signal carries its grant in the subprotocol list
// (grant.FromSubprotocols); the handler verifies it for that node against
// the backend's public keys before the upgrade is passed on, so a request
// without a valid grant never reaches a media node. The node checks the
// grant again (and the room, which the edge does not know).
//
// Keys come from the backend's JWKS. The edge may start before the
// backend: provisioning does not fail then; the handler answers 503
// keys_unavailable and keeps fetching in the background until keys exist.
// The set is refreshed every few minutes, and early when a grant names a
// key the edge has not seen (a rotation), at most once per interval.
//
// The grant is a bearer credential: it is never logged, and an upstream
// failure after a grant was accepted is answered here rather than returned
// to Caddy, whose error log would record the request's headers.
package mediagrant

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/nodeapi"
	"github.com/hcw-home/hcw/edge/internal/backendfetch"
)

func init() {
	caddy.RegisterModule(MediaGrant{})
	httpcaddyfile.RegisterHandlerDirective("hcw_media_grant", parseCaddyfile)
	// With the other authentication handlers, ahead of hcw_media_node
	// (ordered after forward_auth) and reverse_proxy.
	httpcaddyfile.RegisterDirectiveOrder("hcw_media_grant", httpcaddyfile.After, "basic_auth")
}

// Error codes of the JSON answers ({"code": ...}) besides grant.Code's.
const (
	CodeKeysUnavailable  = "keys_unavailable"
	CodeProtocolRequired = "protocol_required"
	CodeUpgradeRequired  = "upgrade_required"
	CodeUnknownNode      = "unknown_node"
	CodeNodeUnreachable  = "node_unreachable"
)

// Defaults.
const (
	DefaultRefresh           = 5 * time.Minute
	DefaultUnknownKidRefresh = 10 * time.Second
	DefaultTimeout           = 3 * time.Second
	// maxRetry caps the wait between fetches while no key is known.
	maxRetry = 30 * time.Second
	// maxJWKSBytes bounds a JWKS document.
	maxJWKSBytes = 1 << 20
)

// retryMin is the first wait between fetches while no key is known (a
// variable for tests).
var retryMin = time.Second

// MediaGrant is an HTTP handler that refuses signalling upgrades under
// /n/<id>/ without a valid grant for node <id>. Other requests pass, except
// a plain (non-upgrade) request to /n/<id>/signal, which is answered 426.
type MediaGrant struct {
	// JWKSURL is the backend's public key set (nodeapi.PathJWKS), e.g.
	// http://backend:8080/api/v1/media/jwks. Global placeholders such as
	// {env.X} are replaced at provisioning.
	JWKSURL string `json:"jwks_url,omitempty"`

	// Refresh is how often the key set is fetched again (default 5m).
	Refresh caddy.Duration `json:"refresh,omitempty"`

	// UnknownKidRefresh is the shortest interval between early fetches
	// caused by grants naming an unknown key (default 10s), so made-up key
	// ids cannot flood the backend.
	UnknownKidRefresh caddy.Duration `json:"unknown_kid_refresh,omitempty"`

	// Timeout bounds one fetch of the key set (default 3s).
	Timeout caddy.Duration `json:"timeout,omitempty"`

	logger *zap.Logger
	keys   *keySet
	cancel context.CancelFunc
	done   chan struct{}
}

// keySet holds the trusted keys and the means to refresh them.
type keySet struct {
	src      backendfetch.Getter
	logger   *zap.Logger
	verifier *grant.Verifier

	hasKeys atomic.Bool
	failing backendfetch.Latch
	// miss bounds the early fetches of grants naming an unknown key.
	miss backendfetch.Throttle
}

// CaddyModule returns the Caddy module information.
func (MediaGrant) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.hcw_media_grant",
		New: func() caddy.Module { return new(MediaGrant) },
	}
}

// Provision fetches the key set once and starts the background refresh. An
// unreachable backend is not an error: the refresh retries until it
// answers.
func (g *MediaGrant) Provision(ctx caddy.Context) error {
	g.logger = ctx.Logger()
	ks := &keySet{logger: g.logger, verifier: grant.NewVerifier()}
	ks.src.URL = caddy.NewReplacer().ReplaceAll(g.JWKSURL, "")
	u, err := url.Parse(ks.src.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("jwks_url %q: not an http(s) URL", ks.src.URL)
	}
	if g.Refresh == 0 {
		g.Refresh = caddy.Duration(DefaultRefresh)
	}
	if g.UnknownKidRefresh == 0 {
		g.UnknownKidRefresh = caddy.Duration(DefaultUnknownKidRefresh)
	}
	if g.Timeout == 0 {
		g.Timeout = caddy.Duration(DefaultTimeout)
	}
	ks.miss.Interval = time.Duration(g.UnknownKidRefresh)
	ks.src.Client = &http.Client{Timeout: time.Duration(g.Timeout)}
	ks.src.MaxBytes = maxJWKSBytes
	g.keys = ks

	_ = ks.refresh(ctx)

	loopCtx, cancel := context.WithCancel(ctx)
	g.cancel = cancel
	g.done = make(chan struct{})
	go g.refreshLoop(loopCtx)
	return nil
}

// Validate checks the configuration.
func (g *MediaGrant) Validate() error {
	switch {
	case g.JWKSURL == "":
		return errors.New("jwks_url is required")
	case g.Refresh < 0, g.UnknownKidRefresh < 0, g.Timeout < 0:
		return errors.New("durations must not be negative")
	case g.Refresh > 0 && time.Duration(g.Refresh) < time.Second:
		return errors.New("refresh must be at least 1s")
	}
	return nil
}

// Cleanup stops the background refresh.
func (g *MediaGrant) Cleanup() error {
	if g.cancel != nil {
		g.cancel()
		<-g.done
	}
	return nil
}

// ServeHTTP checks the grant of an upgrade under /n/<id>/.
func (g *MediaGrant) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	rest, ok := strings.CutPrefix(r.URL.Path, "/n/")
	if !ok {
		return next.ServeHTTP(w, r)
	}
	// The node is the first segment as written, which is what
	// hcw_media_node routes on.
	node, _, _ := strings.Cut(rest, "/")
	signal := path.Clean(r.URL.Path) == "/n/"+node+"/signal"

	if !isUpgrade(r) {
		if signal {
			w.Header().Set("Upgrade", "websocket")
			return writeCode(w, http.StatusUpgradeRequired, CodeUpgradeRequired)
		}
		return next.ServeHTTP(w, r)
	}

	// Any protocol switch under /n/, on whatever path, needs a grant for
	// the node: nodes serve nothing else over upgrades.
	if !nodeapi.ValidID(node) {
		return writeCode(w, http.StatusNotFound, CodeUnknownNode)
	}
	token, offered := grant.FromSubprotocols(r.Header.Values("Sec-WebSocket-Protocol"))
	if !offered {
		return writeCode(w, http.StatusBadRequest, CodeProtocolRequired)
	}
	if token == "" {
		return g.refuse(w, node, grant.ErrMalformed)
	}
	if !g.keys.hasKeys.Load() {
		return writeCode(w, http.StatusServiceUnavailable, CodeKeysUnavailable)
	}
	if err := g.keys.verify(r.Context(), token, node); err != nil {
		return g.refuse(w, node, err)
	}

	if err := next.ServeHTTP(w, r); err != nil {
		status := http.StatusBadGateway
		var he caddyhttp.HandlerError
		if errors.As(err, &he) && he.StatusCode >= 400 {
			status = he.StatusCode
		}
		g.logger.Error("signalling upgrade failed", zap.String("node", node), zap.Int("status", status), zap.Error(err))
		return writeCode(w, status, CodeNodeUnreachable)
	}
	return nil
}

// verify checks token for node; a grant signed with an unknown key causes
// one early refresh of the key set (rate limited) and a second check.
func (ks *keySet) verify(ctx context.Context, token, node string) error {
	_, err := ks.verifier.Verify(token, time.Now(), "", node)
	if !errors.Is(err, grant.ErrUnknownKey) {
		return err
	}
	ks.miss.Do(nil, func() { _ = ks.refresh(ctx) })
	_, err = ks.verifier.Verify(token, time.Now(), "", node)
	return err
}

// refuse answers a refused grant: 403 for a grant valid for another node,
// 401 otherwise. The log line names the node and the code, never the
// token.
func (g *MediaGrant) refuse(w http.ResponseWriter, node string, err error) error {
	code := grant.Code(err)
	status := http.StatusUnauthorized
	if code == "wrong_node" {
		status = http.StatusForbidden
	}
	g.logger.Debug("grant refused", zap.String("node", node), zap.String("code", code), zap.String("reason", err.Error()))
	return writeCode(w, status, code)
}

func (g *MediaGrant) refreshLoop(ctx context.Context) {
	defer close(g.done)
	retry := retryMin
	for {
		wait := time.Duration(g.Refresh)
		if !g.keys.hasKeys.Load() {
			wait = retry
			retry = min(2*retry, maxRetry)
		} else {
			retry = retryMin
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		_ = g.keys.refresh(ctx)
	}
}

// refresh fetches and installs the key set, keeping the current keys on
// failure. Failures are logged when they start and when they end.
func (ks *keySet) refresh(ctx context.Context) error {
	keys, err := ks.fetch(ctx)
	if err != nil {
		if ctx.Err() == nil && ks.failing.Fail() {
			ks.logger.Warn("media grant keys unavailable; retrying", zap.String("url", ks.src.URL), zap.Bool("have_keys", ks.hasKeys.Load()), zap.Error(err))
		}
		return err
	}
	ks.verifier.SetKeys(keys...)
	first := !ks.hasKeys.Swap(true)
	if ks.failing.Recover() || first {
		kids := make([]string, len(keys))
		for i, k := range keys {
			kids[i] = grant.KeyID(k)
		}
		ks.logger.Info("media grant keys loaded", zap.Strings("kids", kids))
	}
	return nil
}

func (ks *keySet) fetch(ctx context.Context) ([]ed25519.PublicKey, error) {
	body, err := ks.src.Get(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	keys, err := grant.ParseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	return keys, nil
}

// isUpgrade reports whether r asks to switch protocols: an HTTP/1.1
// Upgrade (Connection: upgrade, Upgrade: websocket or anything else) or an
// HTTP/2 extended CONNECT.
func isUpgrade(r *http.Request) bool {
	if r.Method == http.MethodConnect || r.Header.Get("Upgrade") != "" {
		return true
	}
	for _, v := range r.Header.Values("Connection") {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "upgrade") {
				return true
			}
		}
	}
	return false
}

// writeCode answers with the edge's JSON error shape; see
// backendfetch.WriteCode.
var writeCode = backendfetch.WriteCode

// Interface guards.
var (
	_ caddy.Provisioner           = (*MediaGrant)(nil)
	_ caddy.Validator             = (*MediaGrant)(nil)
	_ caddy.CleanerUpper          = (*MediaGrant)(nil)
	_ caddyhttp.MiddlewareHandler = (*MediaGrant)(nil)
)
