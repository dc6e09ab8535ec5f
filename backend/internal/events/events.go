// Package events fans state changes out to every backend replica through
// PostgreSQL LISTEN/NOTIFY, without another broker.
//
// A change publishes its event with Publish inside the transaction that
// makes the change: pg_notify is transactional, so the event leaves on
// commit and never for a rolled-back change. Every replica runs one
// Listener on a dedicated connection (not from the request pool), which
// hands each event to the replica's Sink (the WebSocket hub). A payload is
// limited to MaxPayload bytes, so events carry ids, never bodies; clients
// fetch what they need through the API, where every read is authorised.
//
// When the listening connection is lost, events committed meanwhile are
// not replayed by PostgreSQL. The Listener therefore reconnects with
// back-off and then calls Sink.Resync, which tells every socket to refetch
// its state: an outage costs a refetch, never a silently missed change.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Channel is the one NOTIFY channel of the appliance.
const Channel = "hcw_events"

// MaxPayload is the largest payload Publish sends; PostgreSQL refuses
// notifications of 8000 bytes and more.
const MaxPayload = 7900

// Topic kinds. A topic is "<kind>:<id>".
const (
	// KindQueue: staff who see the queue (authz.CanSeeQueue).
	KindQueue = "queue"
	// KindConsultation: the participants of the consultation.
	KindConsultation = "consultation"
	// KindUser: one staff account's sockets.
	KindUser = "user"
)

// Event types. The data of each is described in the README's API section.
const (
	// TypeConsultationPending: a patient redeemed the invite and waits.
	TypeConsultationPending = "consultation.pending"
	// TypeConsultationAccepted: a doctor accepted (pending -> active).
	TypeConsultationAccepted = "consultation.accepted"
	// TypeConsultationEstimate: a doctor sent an estimated start time.
	TypeConsultationEstimate = "consultation.estimate"
	// TypeConsultationTransferred: moved to another queue or doctor.
	TypeConsultationTransferred = "consultation.transferred"
	// TypeConsultationClosed: closed or cancelled; every replica closes the
	// participants' sockets, and the media service drops them from calls.
	TypeConsultationClosed = "consultation.closed"
	// TypeQueueChanged: a queue's waiting list changed; refetch it.
	TypeQueueChanged = "queue.changed"
	// TypeQueuePosition: a waiting participant's new place.
	TypeQueuePosition = "queue.position"
	// TypeParticipantPresence: a participant came online or went offline.
	TypeParticipantPresence = "participant.presence"
	// TypeParticipantRevoked: a participant's invite was revoked and their
	// sessions ended; every replica closes that participant's sockets.
	TypeParticipantRevoked = "participant.revoked"
	// TypeChatMessage: a chat message was stored (ids and seq only).
	TypeChatMessage = "chat.message"
	// TypeChatRead: a reader's read receipt moved forward.
	TypeChatRead = "chat.read"
	// TypeCallRinging: the doctor started a call; it rings for the
	// consultation's participants (and the doctor's other devices).
	TypeCallRinging = "call.ringing"
	// TypeCallAccepted: a participant answered (or joined) the call.
	TypeCallAccepted = "call.accepted"
	// TypeCallDeclined: a participant declined the ringing call.
	TypeCallDeclined = "call.declined"
	// TypeCallEnded: the call ended (hung up, declined, unanswered, too
	// long, consultation closed or transferred); the media node is told to
	// end the room.
	TypeCallEnded = "call.ended"
	// TypeResync is sent to sockets (never published) after the listener
	// reconnected: events may have been missed, refetch.
	TypeResync = "resync"
)

// ErrTooLarge means the encoded event exceeds MaxPayload.
var ErrTooLarge = errors.New("event too large for NOTIFY")

// Event is one change, addressed to one or more topics. A socket that
// subscribes to several of them receives it once.
type Event struct {
	Topics []string        `json:"topics"`
	Type   string          `json:"type"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// Topic builds "<kind>:<id>".
func Topic(kind, id string) string { return kind + ":" + id }

// SplitTopic returns the kind and id of a topic.
func SplitTopic(topic string) (kind, id string) {
	kind, id, _ = strings.Cut(topic, ":")
	return kind, id
}

// Execer is a transaction or a pool.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// New builds an event, encoding data as JSON.
func New(typ string, data any, topics ...string) (Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("encode %s event: %w", typ, err)
	}
	return Event{Topics: topics, Type: typ, Data: raw}, nil
}

// Publish sends ev on Channel through db. Inside a transaction it is
// delivered when the transaction commits, and never if it rolls back.
func Publish(ctx context.Context, db Execer, ev Event) error {
	return PublishAll(ctx, db, ev)
}

// PublishAll sends evs on Channel, in order, in one round trip: what a
// change that announces many things at once (a queue's places) uses
// instead of one Publish each. Nothing is sent if one is too large.
func PublishAll(ctx context.Context, db Execer, evs ...Event) error {
	payloads := make([]string, 0, len(evs))
	for _, ev := range evs {
		p, err := encode(ev)
		if err != nil {
			return err
		}
		payloads = append(payloads, p)
	}
	switch len(payloads) {
	case 0:
		return nil
	case 1:
		_, err := db.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, payloads[0])
		if err != nil {
			return fmt.Errorf("publish %s: %w", evs[0].Type, err)
		}
		return nil
	}
	// A function scan of unnest yields the array in order, so the
	// notifications are queued in the order given.
	if _, err := db.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, Channel, payloads); err != nil {
		return fmt.Errorf("publish %d events: %w", len(payloads), err)
	}
	return nil
}

// Queue adds the publication of ev to b, for a change that sends its
// statements in one round trip; sent within a transaction, it leaves on
// commit like Publish.
func Queue(b *pgx.Batch, ev Event) error {
	payload, err := encode(ev)
	if err != nil {
		return err
	}
	b.Queue(`SELECT pg_notify($1, $2)`, Channel, payload)
	return nil
}

func encode(ev Event) (string, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return "", fmt.Errorf("encode event: %w", err)
	}
	if len(b) > MaxPayload {
		return "", fmt.Errorf("publish %s: %w (%d bytes)", ev.Type, ErrTooLarge, len(b))
	}
	return string(b), nil
}

// PublishData is New then Publish.
func PublishData(ctx context.Context, db Execer, typ string, data any, topics ...string) error {
	ev, err := New(typ, data, topics...)
	if err != nil {
		return err
	}
	return Publish(ctx, db, ev)
}
