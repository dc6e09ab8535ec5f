// Package mediaapi is the HTTP surface of the media node pool: the public
// JWKS media nodes and the edge verify grants with, and the internal
// routes of contract/nodeapi (a node's heartbeat and clean shutdown, the
// registry the edge routes signalling with). The internal routes are
// outside /api/ (the edge never forwards them) and out of the OpenAPI
// document; every call carries the node secret as its bearer token.
package mediaapi

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/hcw-home/hcw/backend/internal/clientinfo"
	"github.com/hcw-home/hcw/backend/internal/httpapi"
	"github.com/hcw-home/hcw/backend/internal/medianode"
	"github.com/hcw-home/hcw/contract/grant"
	"github.com/hcw-home/hcw/contract/nodeapi"
)

// JWKSMaxAge is how long clients may cache the JWKS (seconds). A node
// refetches on an unknown kid anyway, and a rotation keeps the previous key
// published for longer than this.
const JWKSMaxAge = "300"

// heartbeatMaxBody bounds a heartbeat.
const heartbeatMaxBody = 4 << 10

// Params are the API's dependencies.
type Params struct {
	Nodes *medianode.Service
	// NodeSecret authenticates nodes and the edge (bearer).
	NodeSecret string
	// GrantPublicKeys are published in the JWKS, the current key first.
	GrantPublicKeys []ed25519.PublicKey
	Logger          *slog.Logger
}

// API holds the handlers.
type API struct {
	p    Params
	jwks []byte
}

// New returns the API. The JWKS is encoded once: the keys change only with
// a restart.
func New(p Params) *API {
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	jwks, err := json.Marshal(grant.NewJWKS(p.GrantPublicKeys...))
	if err != nil {
		panic(err) // a JWKS of byte slices always encodes
	}
	return &API{p: p, jwks: append(jwks, '\n')}
}

// Mount registers the JWKS and the internal node routes.
func (a *API) Mount(rt *httpapi.Router) {
	rt.HandleFunc(httpapi.Operation{Method: http.MethodGet, Path: nodeapi.PathJWKS, ID: "getMediaJWKS", Tags: []string{"media"},
		Summary: "The public keys media grants are signed with (RFC 8037 OKP keys, the current one first); cacheable for 5 minutes.",
		Auth:    httpapi.AuthNone, Response: grant.JWKS{}}, a.serveJWKS)
	rt.HandleInternal("putMediaNode", http.MethodPut, nodeapi.PathNode, a.nodeOnly(a.heartbeat))
	rt.HandleInternal("deleteMediaNode", http.MethodDelete, nodeapi.PathNode, a.nodeOnly(a.removeNode))
	rt.HandleInternal("getMediaNodeRegistry", http.MethodGet, nodeapi.PathNodes, a.nodeOnly(a.registry))
}

func (a *API) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age="+JWKSMaxAge)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(a.jwks)
}

// nodeOnly refuses a caller without the node secret with 401.
func (a *API) nodeOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !nodeapi.Authorized(r, a.p.NodeSecret) {
			info, _ := clientinfo.FromContext(r.Context())
			a.p.Logger.Warn("media node API: missing or wrong node secret", "path", r.URL.Path, "client_ip", info.IPString())
			w.Header().Set("WWW-Authenticate", `Bearer realm="hcw-media"`)
			httpapi.WriteError(w, http.StatusUnauthorized, httpapi.CodeUnauthenticated, "the node secret is missing or wrong")
			return
		}
		h(w, r)
	})
}

func (a *API) heartbeat(w http.ResponseWriter, r *http.Request) {
	var hb nodeapi.Heartbeat
	if err := httpapi.DecodeJSON(w, r, heartbeatMaxBody, &hb); err != nil {
		a.writeErr(w, r, err)
		return
	}
	reply, err := a.p.Nodes.Heartbeat(r.Context(), r.PathValue("id"), hb)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, reply)
}

func (a *API) removeNode(w http.ResponseWriter, r *http.Request) {
	if err := a.p.Nodes.Remove(r.Context(), r.PathValue("id")); err != nil {
		a.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) registry(w http.ResponseWriter, r *http.Request) {
	reg, err := a.p.Nodes.Registry(r.Context())
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, reg)
}

func (a *API) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var (
		re *httpapi.RequestError
		fe *medianode.FieldError
	)
	switch {
	case errors.As(err, &re):
		httpapi.WriteRequestError(w, re)
	case errors.As(err, &fe):
		httpapi.WriteRequestError(w, httpapi.FieldError(fe.Field, "%s", fe.Reason))
	case errors.Is(err, medianode.ErrInvalidID):
		httpapi.WriteRequestError(w, httpapi.FieldError("id", "must be 1 to 32 of a-z, 0-9 and -, not starting with -"))
	default:
		a.p.Logger.Error("media node request failed", "path", r.URL.Path, "error", err.Error())
		httpapi.WriteError(w, http.StatusInternalServerError, httpapi.CodeInternal, "internal error")
	}
}
