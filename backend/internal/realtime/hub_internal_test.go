package realtime

import (
	"fmt"
	"testing"

	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/events"
)

// waitingRoom fills a hub with n waiting patients in n/10 queues' worth
// of consultations and a doctor per queue plus an all-queues nurse; the
// sockets have queues but no connection (enqueue only).
func waitingRoom(n int) (*Hub, []*Conn) {
	h := NewHub()
	var conns []*Conn
	add := func(p authz.Principal) *Conn {
		c := &Conn{Principal: p, topics: Subscriptions(p), send: make(chan outbound, SendQueue)}
		h.add(c)
		conns = append(conns, c)
		return c
	}
	for i := range n {
		add(authz.Principal{Kind: "participant", ID: fmt.Sprintf("p%d", i), Role: authz.RolePatient, ConsultationID: fmt.Sprintf("c%d", i)})
	}
	for q := range n / 10 {
		add(authz.Principal{Kind: "user", ID: fmt.Sprintf("d%d", q), UserID: fmt.Sprintf("d%d", q), Role: authz.RoleDoctor,
			QueueIDs: []string{fmt.Sprintf("q%d", q)}})
	}
	add(authz.Principal{Kind: "user", ID: "n", UserID: "n", Role: authz.RoleNurse, AllQueues: true})
	return h, conns
}

func drain(conns []*Conn) (got int) {
	for _, c := range conns {
		for len(c.send) > 0 {
			<-c.send
			got++
		}
	}
	return got
}

// TestHubIndex: an event reaches exactly the sockets of its topics (the
// wildcard subscriber included, once even for two of its topics); a
// removed socket leaves no trace in the index.
func TestHubIndex(t *testing.T) {
	h, conns := waitingRoom(100)
	h.Deliver(events.Event{Type: events.TypeQueueChanged, Topics: []string{"queue:q3", "queue:q4"}})
	if got := drain(conns); got != 3 { // d3, d4 and the nurse once
		t.Fatalf("queue event reached %d sockets, want 3", got)
	}
	h.Deliver(events.Event{Type: events.TypeChatMessage, Topics: []string{"consultation:c7", "queue:q0"}})
	if got := drain(conns); got != 2 { // p7 and d0; nurses do not hear chat
		t.Fatalf("chat event reached %d sockets, want 2", got)
	}
	for _, c := range conns {
		h.remove(c)
	}
	if len(h.byTopic) != 0 || len(h.conns) != 0 || len(h.participants) != 0 {
		t.Fatalf("index left: %d topics, %d sockets, %d participants", len(h.byTopic), len(h.conns), len(h.participants))
	}
}

// BenchmarkDeliverWaitingRoom: one queue.position event to one patient
// among 2,000 waiting (each arrival publishes a few such events).
func BenchmarkDeliverWaitingRoom(b *testing.B) {
	h, conns := waitingRoom(2000)
	ev := events.Event{Type: events.TypeQueuePosition, Data: []byte(`{"position":3}`), Topics: []string{"consultation:c42"}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Deliver(ev)
		if i%100 == 0 {
			drain(conns[42:43])
		}
	}
}
