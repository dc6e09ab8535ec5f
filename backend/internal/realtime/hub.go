package realtime

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"

	"github.com/coder/websocket"

	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/events"
)

// Hub tracks the process's open sockets: it delivers events to those
// whose owners subscribe to and may see them, counts each participant's
// sockets for presence, and closes sockets when sessions or consultations
// end or the server shuts down. It is the events.Sink of this replica.
//
// Sockets are indexed by the topics they subscribe to, so an event costs
// the sockets of its topics, not every socket of the replica: a waiting
// room of thousands hears each arrival without a walk over all of them.
type Hub struct {
	mu     sync.Mutex
	conns  map[*Conn]struct{}
	closed bool
	wg     sync.WaitGroup
	// participants counts open sockets per participant id.
	participants map[string]int
	// byTopic holds the sockets subscribed to each topic ("<kind>:*"
	// included, as it is subscribed to).
	byTopic map[string]map[*Conn]struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{conns: map[*Conn]struct{}{}, participants: map[string]int{}, byTopic: map[string]map[*Conn]struct{}{}}
}

var _ events.Sink = (*Hub)(nil)

// add registers c; it returns false once the hub is shutting down.
func (h *Hub) add(c *Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.conns[c] = struct{}{}
	if c.Principal.Kind == "participant" {
		h.participants[c.Principal.ID]++
	}
	for _, t := range c.topics {
		set := h.byTopic[t]
		if set == nil {
			set = map[*Conn]struct{}{}
			h.byTopic[t] = set
		}
		set[c] = struct{}{}
	}
	h.wg.Add(1)
	return true
}

// remove unregisters c; release must follow once its handler is done.
func (h *Hub) remove(c *Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.conns[c]; !ok {
		return
	}
	delete(h.conns, c)
	if c.Principal.Kind == "participant" {
		if h.participants[c.Principal.ID]--; h.participants[c.Principal.ID] <= 0 {
			delete(h.participants, c.Principal.ID)
		}
	}
	for _, t := range c.topics {
		if set := h.byTopic[t]; set != nil {
			delete(set, c)
			if len(set) == 0 {
				delete(h.byTopic, t)
			}
		}
	}
}

// release marks the end of a handler registered by add.
func (h *Hub) release() { h.wg.Done() }

// ParticipantSockets returns how many sockets of a participant are open
// on this replica.
func (h *Hub) ParticipantSockets(participantID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.participants[participantID]
}

// Len returns the number of open sockets.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// subscribers returns the sockets subscribed to one of topics (directly or
// through "<kind>:*"), each once, for which match is true.
func (h *Hub) subscribers(topics []string, match func(*Conn) bool) []*Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	var sets []map[*Conn]struct{}
	for _, t := range topics {
		if set := h.byTopic[t]; len(set) > 0 {
			sets = append(sets, set)
		}
		if kind, _ := events.SplitTopic(t); kind+":*" != t {
			if set := h.byTopic[kind+":*"]; len(set) > 0 {
				sets = append(sets, set)
			}
		}
	}
	var targets []*Conn
	var seen map[*Conn]struct{}
	if len(sets) > 1 {
		seen = map[*Conn]struct{}{}
	}
	for _, set := range sets {
		for c := range set {
			if seen != nil {
				if _, dup := seen[c]; dup {
					continue
				}
				seen[c] = struct{}{}
			}
			if match(c) {
				targets = append(targets, c)
			}
		}
	}
	return targets
}

func (h *Hub) where(match func(*Conn) bool) []*Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	var targets []*Conn
	for c := range h.conns {
		if match(c) {
			targets = append(targets, c)
		}
	}
	return targets
}

// Deliver writes ev to every socket that subscribes to one of its topics
// and whose owner may receive it (authz.CanReceiveEvent), once per socket. A
// consultation.closed event then closes the sockets of that
// consultation's participants with 1008, after the event; a
// participant.revoked event closes that one participant's sockets with
// 1008 and leaves the consultation's other participants connected. The
// closes do not depend on the delivery check.
func (h *Hub) Deliver(ev events.Event) {
	env := Envelope{Type: ev.Type}
	if len(ev.Data) > 0 {
		env.Data = ev.Data
	}
	raw, err := json.Marshal(env)
	if err != nil {
		return // a RawMessage from the listener is valid JSON
	}
	for _, c := range h.subscribers(ev.Topics, func(c *Conn) bool { return c.wants(ev.Type, ev.Topics) }) {
		c.enqueue(outbound{raw: raw})
	}
	switch ev.Type {
	case events.TypeConsultationClosed:
		for _, t := range ev.Topics {
			kind, id := events.SplitTopic(t)
			if kind != events.KindConsultation {
				continue
			}
			for _, c := range h.subscribers([]string{t}, func(c *Conn) bool { return authz.InConsultation(c.Principal, id) }) {
				c.enqueue(outbound{close: true, code: websocket.StatusPolicyViolation, reason: "consultation closed"})
			}
		}
	case events.TypeParticipantRevoked:
		var d struct {
			ParticipantID string `json:"participant_id"`
		}
		if json.Unmarshal(ev.Data, &d) != nil || d.ParticipantID == "" {
			return
		}
		for _, c := range h.where(func(c *Conn) bool {
			return c.Principal.Kind == "participant" && c.Principal.ID == d.ParticipantID
		}) {
			c.enqueue(outbound{close: true, code: websocket.StatusPolicyViolation, reason: "access revoked"})
		}
	}
}

// Resync tells every socket that events may have been missed: clients
// refetch what they show.
func (h *Hub) Resync() {
	raw, _ := json.Marshal(Envelope{Type: events.TypeResync})
	for _, c := range h.where(func(*Conn) bool { return true }) {
		c.enqueue(outbound{raw: raw})
	}
}

// CloseWhere closes, in parallel, every socket for which match is true.
func (h *Hub) CloseWhere(match func(*Conn) bool, code websocket.StatusCode, reason string) {
	targets := h.where(match)
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

// Subscriptions are the topics a socket follows from its owner's
// principal, computed when it connects: a doctor's or nurse's queues
// ("queue:*" for all-queues staff) and their own user topic, a
// participant's consultation. Admins and API keys follow nothing.
// Queue membership changes apply to sockets opened afterwards.
func Subscriptions(p authz.Principal) []string {
	switch {
	case p.Kind == "participant" && p.ConsultationID != "":
		return []string{events.Topic(events.KindConsultation, p.ConsultationID)}
	case p.Kind == "user" && (p.Role == authz.RoleDoctor || p.Role == authz.RoleNurse):
		topics := []string{events.Topic(events.KindUser, p.UserID)}
		if p.AllQueues {
			return append(topics, events.Topic(events.KindQueue, "*"))
		}
		for _, q := range p.QueueIDs {
			topics = append(topics, events.Topic(events.KindQueue, q))
		}
		return topics
	}
	return nil
}

// subscribed reports whether topic is among the socket's subscriptions
// ("<kind>:*" covers every id of its kind).
func (c *Conn) subscribed(topic string) bool {
	kind, _ := events.SplitTopic(topic)
	return slices.ContainsFunc(c.topics, func(s string) bool {
		return s == topic || (strings.HasSuffix(s, ":*") && s == kind+":*")
	})
}

// wants reports whether an event of type typ on topics is for this
// socket: subscribed to and, checked anew for every event, allowed
// (authz.CanReceiveEvent).
func (c *Conn) wants(typ string, topics []string) bool {
	return slices.ContainsFunc(topics, func(t string) bool {
		return c.subscribed(t) && authz.CanReceiveEvent(c.Principal, typ, t)
	})
}
