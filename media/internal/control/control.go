// Package control serves the backend -> node half of the internal node API
// (nodeapi.PathRemoveParticipant, PathEndRoom, PathRooms): how the backend
// takes someone out of a call when a consultation closes or an account is
// disabled, since a grant's expiry only guards joining.
//
// Every request carries the shared node secret as a bearer token. The edge
// never forwards /control/ to a node; the secret is what stands between the
// appliance's internal network and the calls.
package control

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"unicode"
	"unicode/utf8"

	"github.com/hcw-home/hcw/contract/nodeapi"
)

// maxIDLen matches the longest room and participant ids a grant carries.
const maxIDLen = 128

// Error codes of the JSON error replies.
const (
	CodeUnauthenticated = "unauthenticated"
	CodeInvalidRequest  = "invalid_request"
)

// Rooms is what the control API acts on (the SFU).
type Rooms interface {
	RemoveParticipant(room, participant string) bool
	EndRoom(room string) bool
	Rooms() []nodeapi.Room
}

// EndReply says whether the room was on this node.
type EndReply struct {
	Ended bool `json:"ended"`
}

// Params are what New needs.
type Params struct {
	Logger *slog.Logger
	// Secret is the node secret; requests without it get 401.
	Secret string
	Rooms  Rooms
}

// New returns the handler of the control paths. It answers only them;
// mount it on the node's mux for each of Patterns.
func New(p Params) http.Handler {
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &handler{log: log.With("component", "control"), secret: p.Secret, rooms: p.Rooms}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+nodeapi.PathRemoveParticipant, h.remove)
	mux.HandleFunc("POST "+nodeapi.PathEndRoom, h.end)
	mux.HandleFunc("GET "+nodeapi.PathRooms, h.list)
	return h.authorize(mux)
}

// Patterns are the mux patterns (without method) the handler serves.
var Patterns = []string{nodeapi.PathRemoveParticipant, nodeapi.PathEndRoom, nodeapi.PathRooms}

type handler struct {
	log    *slog.Logger
	secret string
	rooms  Rooms
}

// authorize refuses a request without the secret before the router runs,
// so an unauthenticated caller learns nothing, not even which methods a
// path allows.
func (h *handler) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !nodeapi.Authorized(r, h.secret) {
			h.log.Warn("control request refused: bad or missing node secret", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="hcw-media"`)
			writeError(w, http.StatusUnauthorized, CodeUnauthenticated, "the node secret is required")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *handler) remove(w http.ResponseWriter, r *http.Request) {
	room, participant := r.PathValue("room"), r.PathValue("participant")
	if !validID(room) || !validID(participant) {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "room and participant must be 1 to 128 printable characters")
		return
	}
	removed := h.rooms.RemoveParticipant(room, participant)
	h.log.Info("participant removed by the backend", "room", room, "participant", participant, "was_present", removed)
	writeJSON(w, http.StatusOK, nodeapi.RemoveReply{Removed: removed})
}

func (h *handler) end(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !validID(room) {
		writeError(w, http.StatusBadRequest, CodeInvalidRequest, "room must be 1 to 128 printable characters")
		return
	}
	ended := h.rooms.EndRoom(room)
	h.log.Info("room ended by the backend", "room", room, "was_present", ended)
	writeJSON(w, http.StatusOK, EndReply{Ended: ended})
}

func (h *handler) list(w http.ResponseWriter, _ *http.Request) {
	rooms := h.rooms.Rooms()
	if rooms == nil {
		rooms = []nodeapi.Room{}
	}
	for i := range rooms {
		if rooms[i].Participants == nil {
			rooms[i].Participants = []string{}
		}
	}
	writeJSON(w, http.StatusOK, nodeapi.Rooms{Rooms: rooms})
}

// validID accepts what a grant may carry as a room or participant id,
// short of control characters and invalid UTF-8, which no id has and
// which would only end up in logs.
func validID(s string) bool {
	if s == "" || len(s) > maxIDLen || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || r == '/' {
			return false
		}
	}
	return true
}

type errorReply struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorReply{Error: errorDetail{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
