package realtime

import (
	"sync"

	"github.com/coder/websocket"
)

// Hub tracks open sockets so that shutdown, and later a logout or a
// disabled account, can close them.
type Hub struct {
	mu     sync.Mutex
	conns  map[*Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{conns: map[*Conn]struct{}{}}
}

// add registers c; it returns false once the hub is shutting down.
func (h *Hub) add(c *Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.conns[c] = struct{}{}
	h.wg.Add(1)
	return true
}

func (h *Hub) remove(c *Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.conns[c]; ok {
		delete(h.conns, c)
		h.wg.Done()
	}
}

// Len returns the number of open sockets.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// CloseWhere closes, in parallel, every socket for which match is true.
func (h *Hub) CloseWhere(match func(*Conn) bool, code websocket.StatusCode, reason string) {
	h.mu.Lock()
	var targets []*Conn
	for c := range h.conns {
		if match(c) {
			targets = append(targets, c)
		}
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range targets {
		wg.Go(func() { c.close(code, reason) })
	}
	wg.Wait()
}

// CloseUser closes every socket of a user with 1008 (policy violation):
// their sessions ended (sign-out everywhere, account disabled, factor
// reset), so their sockets must not outlive them.
func (h *Hub) CloseUser(userID string) {
	h.CloseWhere(func(c *Conn) bool { return c.Principal.UserID == userID }, websocket.StatusPolicyViolation, "session ended")
}

// Shutdown refuses new sockets and closes the open ones with 1001 going
// away. It returns when their handlers have finished.
func (h *Hub) Shutdown() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.CloseWhere(func(*Conn) bool { return true }, websocket.StatusGoingAway, "server shutting down")
	h.wg.Wait()
}
