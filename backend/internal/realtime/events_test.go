package realtime_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/events"
	"github.com/hcw-home/hcw/backend/internal/realtime"
)

// principals by the X-Test-User header.
var testPrincipals = map[string]authz.Principal{
	"doctor-q1":  {Kind: "user", ID: "d1", UserID: "d1", Role: authz.RoleDoctor, QueueIDs: []string{"q1"}},
	"doctor-q2":  {Kind: "user", ID: "d2", UserID: "d2", Role: authz.RoleDoctor, QueueIDs: []string{"q2"}},
	"nurse-all":  {Kind: "user", ID: "n1", UserID: "n1", Role: authz.RoleNurse, AllQueues: true},
	"admin":      {Kind: "user", ID: "a1", UserID: "a1", Role: authz.RoleAdmin},
	"patient-c1": {Kind: "participant", ID: "p1", Role: authz.RolePatient, ConsultationID: "c1"},
	"patient-c2": {Kind: "participant", ID: "p2", Role: authz.RolePatient, ConsultationID: "c2"},
	"guest-c1":   {Kind: "participant", ID: "g1", Role: authz.RoleGuest, ConsultationID: "c1"},
}

type presenceLog struct {
	mu   sync.Mutex
	last map[string]int
}

func (l *presenceLog) record(_ context.Context, p authz.Principal, n int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last[p.ID] = n
	return nil
}

func (l *presenceLog) get(id string) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, ok := l.last[id]
	return n, ok
}

func eventFixture(t *testing.T) (*fixture, *presenceLog, func(user string) *websocket.Conn) {
	t.Helper()
	pl := &presenceLog{last: map[string]int{}}
	f := newFixture(t, realtime.Params{Presence: pl.record, Authenticate: func(r *http.Request) (authz.Principal, error) {
		if p, ok := testPrincipals[r.Header.Get("X-Test-User")]; ok {
			return p, nil
		}
		return authz.Principal{}, errors.New("no session")
	}})
	host := "doctor.example.org:" + f.port
	dial := func(user string) *websocket.Conn {
		h := http.Header{"Origin": {"https://" + host}, "X-Test-User": {user}}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.srv.URL, "http")+"/ws", &websocket.DialOptions{Host: host, HTTPHeader: h})
		require.NoError(t, err)
		t.Cleanup(func() { c.CloseNow() })
		assert.Equal(t, "hello", read(t, c)["type"])
		return c
	}
	return f, pl, dial
}

// TestDeliveryFollowsSubscriptionsAndAuthz: each socket gets exactly the
// events its owner subscribes to and may see, once even when several of
// an event's topics match; a ping afterwards proves nothing else queued.
func TestDeliveryFollowsSubscriptionsAndAuthz(t *testing.T) {
	f, _, dial := eventFixture(t)
	names := []string{"doctor-q1", "doctor-q2", "nurse-all", "admin", "patient-c1", "patient-c2"}
	conns := map[string]*websocket.Conn{}
	for _, n := range names {
		conns[n] = dial(n)
	}
	require.Eventually(t, func() bool { return f.hub.Len() == len(names) }, 2*time.Second, 10*time.Millisecond)

	f.hub.Deliver(events.Event{Type: "queue.changed", Data: []byte(`{"queue_id":"q1"}`), Topics: []string{"queue:q1", "user:d1"}})
	f.hub.Deliver(events.Event{Type: "consultation.estimate", Data: []byte(`{"start_at":"x"}`), Topics: []string{"consultation:c1"}})
	f.hub.Deliver(events.Event{Type: "user.thing", Topics: []string{"user:a1"}})
	want := map[string][]string{
		"doctor-q1":  {"queue.changed"},
		"doctor-q2":  nil,
		"nurse-all":  {"queue.changed"},
		"admin":      nil, // admins follow nothing
		"patient-c1": {"consultation.estimate"},
		"patient-c2": nil,
	}
	for name, types := range want {
		c := conns[name]
		send(t, c, `{"type":"ping","id":"end"}`)
		var got []string
		for {
			m := read(t, c)
			if m["type"] == "pong" {
				break
			}
			got = append(got, m["type"].(string))
		}
		assert.Equal(t, types, got, name)
	}

	f.hub.Resync()
	for name, c := range conns {
		assert.Equal(t, "resync", read(t, c)["type"], name)
	}
}

// TestClosedConsultationClosesItsParticipants: the event arrives, then
// the socket closes with 1008; the other consultation's socket stays.
func TestClosedConsultationClosesItsParticipants(t *testing.T) {
	f, pl, dial := eventFixture(t)
	c1a, c1b, c2 := dial("patient-c1"), dial("patient-c1"), dial("patient-c2")
	require.Eventually(t, func() bool { n, _ := pl.get("p1"); return n == 2 }, 2*time.Second, 10*time.Millisecond)
	assert.Equal(t, 2, f.hub.ParticipantSockets("p1"))

	f.hub.Deliver(events.Event{Type: events.TypeConsultationClosed, Data: []byte(`{"consultation_id":"c1"}`),
		Topics: []string{"consultation:c1", "queue:q1"}})
	for _, c := range []*websocket.Conn{c1a, c1b} {
		assert.Equal(t, events.TypeConsultationClosed, read(t, c)["type"])
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		_, _, err := c.Read(ctx)
		cancel()
		assert.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err))
	}
	require.Eventually(t, func() bool { n, _ := pl.get("p1"); return n == 0 }, 5*time.Second, 10*time.Millisecond, "offline")
	send(t, c2, `{"type":"ping","id":"1"}`)
	assert.Equal(t, "pong", read(t, c2)["type"])
	n, _ := pl.get("p2")
	assert.Equal(t, 1, n)
}

// TestRevokedParticipantIsClosed: participant.revoked closes that
// participant's sockets with 1008, after the event; the consultation's
// other participant and its doctor stay connected.
func TestRevokedParticipantIsClosed(t *testing.T) {
	f, pl, dial := eventFixture(t)
	g1, g2, patient, doctor := dial("guest-c1"), dial("guest-c1"), dial("patient-c1"), dial("doctor-q1")
	require.Eventually(t, func() bool { n, _ := pl.get("g1"); return n == 2 }, 2*time.Second, 10*time.Millisecond)

	f.hub.Deliver(events.Event{Type: events.TypeParticipantRevoked, Data: []byte(`{"consultation_id":"c1","participant_id":"g1"}`),
		Topics: []string{"consultation:c1", "queue:q1"}})
	for _, c := range []*websocket.Conn{g1, g2} {
		assert.Equal(t, events.TypeParticipantRevoked, read(t, c)["type"])
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		_, _, err := c.Read(ctx)
		cancel()
		assert.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err))
	}
	require.Eventually(t, func() bool { n, _ := pl.get("g1"); return n == 0 }, 5*time.Second, 10*time.Millisecond, "offline")
	assert.Zero(t, f.hub.ParticipantSockets("g1"))
	for name, c := range map[string]*websocket.Conn{"patient": patient, "doctor": doctor} {
		assert.Equal(t, events.TypeParticipantRevoked, read(t, c)["type"], name)
		send(t, c, `{"type":"ping","id":"1"}`)
		assert.Equal(t, "pong", read(t, c)["type"], name)
	}
	assert.Equal(t, 1, f.hub.ParticipantSockets("p1"))

	// The close does not hang on delivery: a socket of the participant
	// that does not receive the event (another consultation's topic) is
	// closed all the same.
	p2 := dial("patient-c2")
	require.Eventually(t, func() bool { return f.hub.ParticipantSockets("p2") == 1 }, 2*time.Second, 10*time.Millisecond)
	f.hub.Deliver(events.Event{Type: events.TypeParticipantRevoked, Data: []byte(`{"consultation_id":"c1","participant_id":"p2"}`),
		Topics: []string{"consultation:c1"}})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, _, err := p2.Read(ctx)
	assert.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err))
}
