// Package nodeapi defines the internal HTTP API between media nodes, the
// backend and the edge. None of it is reachable through the edge (the edge
// forwards only /api/ and /ws to the backend, and only /n/<id>/ paths to a
// node); every call carries the shared node secret as a bearer token
// (Authorization: Bearer <secret>), compared in constant time.
//
//	node -> backend  PUT  /internal/v1/media/nodes/{id}   Heartbeat -> HeartbeatReply
//	node -> backend  DELETE /internal/v1/media/nodes/{id} (clean shutdown)
//	edge -> backend  GET  /internal/v1/media/nodes        -> Registry
//	any  -> backend  GET  /api/v1/media/jwks              -> grant.JWKS (public, no secret)
//	backend -> node  POST /control/v1/rooms/{room}/participants/{participant}/remove
//	backend -> node  POST /control/v1/rooms/{room}/end
//	backend -> node  GET  /control/v1/rooms               -> Rooms
//
// A node heartbeats every HeartbeatInterval; the backend treats a node
// whose last heartbeat is older than NodeTimeout as down (no new calls).
package nodeapi

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"time"
)

// Paths, with {id}, {room} and {participant} placeholders (Go 1.22 mux
// patterns).
const (
	PathNode              = "/internal/v1/media/nodes/{id}"
	PathNodes             = "/internal/v1/media/nodes"
	PathJWKS              = "/api/v1/media/jwks"
	PathRemoveParticipant = "/control/v1/rooms/{room}/participants/{participant}/remove"
	PathEndRoom           = "/control/v1/rooms/{room}/end"
	PathRooms             = "/control/v1/rooms"
)

// Timing of the node pool.
const (
	HeartbeatInterval = 2 * time.Second
	NodeTimeout       = 10 * time.Second
)

// MinSecretLen is the shortest node secret accepted.
const MinSecretLen = 16

// Load is a node's current use.
type Load struct {
	Rooms        int `json:"rooms"`
	Participants int `json:"participants"`
	Tracks       int `json:"tracks"`
	// Bitrate is the node's outgoing media bit rate (bits/s).
	Bitrate int64 `json:"bitrate"`
}

// Heartbeat is what a node sends about itself.
type Heartbeat struct {
	// Upstream is host:port where the edge reaches the node's HTTP listener
	// (signalling and control), e.g. "media:7880".
	Upstream string `json:"upstream"`
	// Capacity is the most participants the node accepts.
	Capacity int    `json:"capacity"`
	Load     Load   `json:"load"`
	Draining bool   `json:"draining"`
	Version  string `json:"version,omitempty"`
}

// HeartbeatReply tells the node how the backend sees it.
type HeartbeatReply struct {
	// SignalURL is the public signalling URL clients get for this node.
	SignalURL string `json:"signal_url"`
}

// RegistryNode is one node as the edge needs it.
type RegistryNode struct {
	ID       string `json:"id"`
	Upstream string `json:"upstream"`
	Healthy  bool   `json:"healthy"`
}

// Registry is the node list the edge routes with.
type Registry struct {
	Nodes []RegistryNode `json:"nodes"`
}

// Room is one room on a node, as the control API lists it.
type Room struct {
	ID           string   `json:"id"`
	Participants []string `json:"participants"`
}

// Rooms lists a node's rooms.
type Rooms struct {
	Rooms []Room `json:"rooms"`
}

// RemoveReply says whether the participant was there.
type RemoveReply struct {
	Removed bool `json:"removed"`
}

// Authorize sets the bearer secret on an outgoing request.
func Authorize(r *http.Request, secret string) {
	r.Header.Set("Authorization", "Bearer "+secret)
}

// Authorized reports whether r carries secret as its bearer token.
func Authorized(r *http.Request, secret string) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || secret == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(tok), []byte(secret)) == 1
}

// ValidID reports whether id is a valid node id: 1 to 32 of [a-z0-9-],
// starting with a letter or digit (it appears in URLs and metric labels).
func ValidID(id string) bool {
	if id == "" || len(id) > 32 || id[0] == '-' {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
