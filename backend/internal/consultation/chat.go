package consultation

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/events"
)

// Chat
//
// A message is sent with the sender's own idempotency key. The sender's
// transaction locks the consultation's row, looks the key up and, when
// it is new, takes the next sequence number from consultations.last_seq
// and stores the sealed text; the caller acks only after the commit. A
// resend of a key finds the stored message and gets the same ack, so a
// client that lost an ack retries safely. Because every sender of one
// consultation holds its row lock from the number to the commit, numbers
// have neither gaps nor duplicates, and a reader asking for everything
// after its last number never skips one committed later with a smaller
// number.

// Audit actions and event types of the chat.
const (
	ActionMessagesRead = "chat.read"
	// EventChatMessage: a message was stored; data consultation_id, seq.
	EventChatMessage = events.TypeChatMessage
	// EventChatRead: a reader's read receipt moved; data consultation_id,
	// participant_id or user_id, seq.
	EventChatRead = events.TypeChatRead
)

// Limits of the chat.
const (
	MaxMessageRunes = 10000
	MaxMessageKey   = 64
	// DefaultMessagePage and MaxMessagePage bound one read.
	DefaultMessagePage = 100
	MaxMessagePage     = 500
)

// Message is one chat message with its text opened.
type Message struct {
	ID  string
	Seq int64
	// Exactly one of SenderParticipantID and SenderUserID is set.
	SenderParticipantID string
	SenderUserID        string
	Key                 string
	Text                string
	CreatedAt           time.Time
}

// Ack is the answer to a send: the stored message's number and id. A
// resend of the same key gets the same Ack with Duplicate set.
type Ack struct {
	Key       string
	Seq       int64
	ID        string
	CreatedAt time.Time
	Duplicate bool
}

// MessagePage is a run of messages in seq order.
type MessagePage struct {
	Messages []Message
	// More is true when messages after the last one exist.
	More bool
}

type messageRow struct {
	ID                  string    `db:"id"`
	Seq                 int64     `db:"seq"`
	SenderParticipantID *string   `db:"sender_participant_id"`
	SenderUserID        *string   `db:"sender_user_id"`
	ClientKey           string    `db:"client_key"`
	BodySealed          []byte    `db:"body_sealed"`
	CreatedAt           time.Time `db:"created_at"`
}

const (
	sqlChatLock = `
SELECT id::text, queue_id::text, doctor_id::text, status, last_seq FROM consultations WHERE id = $1 FOR NO KEY UPDATE`
	sqlChatRow = `
SELECT id::text, queue_id::text, doctor_id::text, status, last_seq FROM consultations WHERE id = $1`
	sqlMessageByKey = `
SELECT id::text, seq, created_at FROM messages
WHERE consultation_id = $1 AND coalesce(sender_participant_id, sender_user_id) = $2 AND client_key = $3`
	// sqlSetSeq takes the number the sender's lock reserved: last_seq as
	// read under the lock, plus one.
	sqlSetSeq        = `UPDATE consultations SET last_seq = $2 WHERE id = $1`
	sqlInsertMessage = `
INSERT INTO messages (consultation_id, seq, id, sender_participant_id, sender_user_id, client_key, body_sealed, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	sqlMessagesAfter = `
SELECT id::text, seq, sender_participant_id::text, sender_user_id::text, client_key, body_sealed, created_at
FROM messages WHERE consultation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`
	sqlMarkRead = `
INSERT INTO message_reads (consultation_id, reader_type, reader_id, last_read_seq, updated_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (consultation_id, reader_type, reader_id) DO UPDATE
SET last_read_seq = excluded.last_read_seq, updated_at = excluded.updated_at
WHERE message_reads.last_read_seq < excluded.last_read_seq`
)

// chatRow is what the chat needs of a consultation.
type chatRow struct {
	ID       string
	QueueID  *string
	DoctorID *string
	Status   string
	LastSeq  int64
}

func (r chatRow) consultationRow() consultationRow {
	return consultationRow{ID: r.ID, QueueID: r.QueueID, DoctorID: r.DoctorID, Status: r.Status}
}

// chatMember is the object-level rule of the chat: a participant of the
// consultation; its doctor; or, while it has no doctor (waiting in its
// queue), a doctor who sees that queue. Nurses, admins and API keys are
// not in the chat.
func chatMember(p authz.Principal, r chatRow) bool {
	switch {
	case p.Kind == "participant":
		return authz.InConsultation(p, r.ID)
	case p.Kind != "user" || p.Role != authz.RoleDoctor:
		return false
	case r.DoctorID != nil:
		return *r.DoctorID == p.UserID
	default:
		return r.QueueID != nil && authz.CanSeeQueue(p, *r.QueueID)
	}
}

// sender returns the participant or user id that sends or reads as p.
func sender(p authz.Principal) (participantID, userID *string, readerType, readerID string) {
	if p.Kind == "participant" {
		return &p.ID, nil, "participant", p.ID
	}
	return nil, &p.UserID, "user", p.UserID
}

// ValidateMessage checks a message's key and text before any storage.
func ValidateMessage(key, text string) error {
	if n := len(key); n == 0 || n > MaxMessageKey || !utf8.ValidString(key) {
		return invalid("key", fmt.Sprintf("must be 1 to %d bytes", MaxMessageKey))
	}
	for _, c := range key {
		if !unicode.IsPrint(c) {
			return invalid("key", "must be printable")
		}
	}
	if !utf8.ValidString(text) {
		return invalid("text", "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(text); n < 1 || n > MaxMessageRunes {
		return invalid("text", fmt.Sprintf("must be 1 to %d characters", MaxMessageRunes))
	}
	return nil
}

func (s *Service) chatRow(ctx context.Context, tx pgx.Tx, query, id string) (chatRow, error) {
	if !isUUID(id) {
		return chatRow{}, ErrNotFound
	}
	var r chatRow
	err := tx.QueryRow(ctx, query, id).Scan(&r.ID, &r.QueueID, &r.DoctorID, &r.Status, &r.LastSeq)
	return r, mapErr(err)
}

// errNotChatMember: the consultation does not exist or p is not in its
// chat. Callers answer it with denyChat once the transaction is over.
var errNotChatMember = errors.New("not a member of this chat")

// memberChatRow reads the consultation's chat row with query, or
// errNotChatMember when there is none or p may not use it.
func (s *Service) memberChatRow(ctx context.Context, tx pgx.Tx, query string, p authz.Principal, id string) (chatRow, error) {
	r, err := s.chatRow(ctx, tx, query, id)
	if errors.Is(err, ErrNotFound) || (err == nil && !chatMember(p, r)) {
		return chatRow{}, errNotChatMember
	}
	return r, err
}

// denyChat records a refused chat operation and returns ErrNotFound.
func (s *Service) denyChat(ctx context.Context, a Actor, action, consultationID string) error {
	if err := s.p.Audit.Append(ctx, audit.Event{ActorType: a.Type, ActorID: a.ID, ClientIP: a.ClientIP,
		Action: action, ObjectType: "consultation", ObjectID: auditID(consultationID), Outcome: audit.OutcomeDenied}); err != nil {
		return err
	}
	return ErrNotFound
}

// SendMessage stores text from p in consultation consultationID under the
// sender's idempotency key and returns its ack once committed; then a
// chat.message event (ids only) goes to the consultation's participants,
// queue and doctor. A key already used by this sender in this consultation
// returns the first message's ack and stores nothing (even after the
// consultation closed, so a lost ack can be recovered). A new message to a
// closed consultation is ErrConsultationClosed; one p may not send to is
// ErrNotFound (audited).
//
// Senders of one consultation queue on its row's lock, so the lock is held
// for as few round trips as possible: the lock and the key lookup go in
// one batch (the lookup starts once the lock is granted, with a fresh
// snapshot, so it sees a message that the previous holder committed under
// the same key), then the number, the row and the event in another, then
// the commit.
func (s *Service) SendMessage(ctx context.Context, p authz.Principal, a Actor, consultationID, key, text string) (Ack, error) {
	if err := ValidateMessage(key, text); err != nil {
		return Ack{}, err
	}
	if !isUUID(consultationID) {
		return Ack{}, s.denyChat(ctx, a, "chat.send", consultationID)
	}
	partID, userID, _, senderID := sender(p)
	var ack Ack
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var r chatRow
		var found bool
		ack = Ack{Key: key}
		b := &pgx.Batch{}
		b.Queue(sqlChatLock, consultationID).QueryRow(func(row pgx.Row) error {
			return row.Scan(&r.ID, &r.QueueID, &r.DoctorID, &r.Status, &r.LastSeq)
		})
		b.Queue(sqlMessageByKey, consultationID, senderID, key).QueryRow(func(row pgx.Row) error {
			err := row.Scan(&ack.ID, &ack.Seq, &ack.CreatedAt)
			found = err == nil
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return errNotChatMember
			}
			return err
		}
		if !chatMember(p, r) {
			return errNotChatMember
		}
		if found {
			ack.Duplicate = true
			return nil
		}
		if Status(r.Status) == StatusClosed {
			return ErrConsultationClosed
		}
		ack.Seq, ack.ID, ack.CreatedAt = r.LastSeq+1, newUUID(), s.now()
		ev, err := events.New(EventChatMessage, map[string]any{"consultation_id": r.ID, "seq": ack.Seq}, topics(r.consultationRow())...)
		if err != nil {
			return err
		}
		b = &pgx.Batch{}
		b.Queue(sqlSetSeq, r.ID, ack.Seq)
		b.Queue(sqlInsertMessage, r.ID, ack.Seq, ack.ID, partID, userID, key,
			s.seal("messages", "body", ack.ID, []byte(text)), ack.CreatedAt)
		if err := events.Queue(b, ev); err != nil {
			return err
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if errors.Is(err, errNotChatMember) {
		return Ack{}, s.denyChat(ctx, a, "chat.send", consultationID)
	}
	if err != nil {
		return Ack{}, fmt.Errorf("send message: %w", err)
	}
	return ack, nil
}

// Messages returns up to limit messages of a consultation after seq
// after, in order, with their texts. Every read is audited (who, which
// consultation; never the texts); one p may not read is ErrNotFound
// (audited denied). The doctor still reads a closed consultation's
// messages.
func (s *Service) Messages(ctx context.Context, p authz.Principal, a Actor, consultationID string, after int64, limit int) (MessagePage, error) {
	if after < 0 {
		return MessagePage{}, invalid("after", "must be 0 or more")
	}
	if limit <= 0 {
		limit = DefaultMessagePage
	}
	limit = min(limit, MaxMessagePage)
	if !isUUID(consultationID) {
		return MessagePage{}, s.denyChat(ctx, a, ActionMessagesRead, consultationID)
	}
	var rows []messageRow
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// The consultation and its messages in one round trip; the
		// messages are dropped unread unless p is in its chat.
		var r chatRow
		b := &pgx.Batch{}
		b.Queue(sqlChatRow, consultationID).QueryRow(func(row pgx.Row) error {
			return row.Scan(&r.ID, &r.QueueID, &r.DoctorID, &r.Status, &r.LastSeq)
		})
		b.Queue(sqlMessagesAfter, consultationID, after, limit+1).Query(func(res pgx.Rows) error {
			var err error
			rows, err = pgx.CollectRows(res, pgx.RowToStructByName[messageRow])
			return err
		})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return errNotChatMember
			}
			return err
		}
		if !chatMember(p, r) {
			rows = nil
			return errNotChatMember
		}
		return s.record(ctx, tx, a, ActionMessagesRead, "consultation", r.ID, r.ID, audit.OutcomeSuccess)
	})
	if errors.Is(err, errNotChatMember) {
		return MessagePage{}, s.denyChat(ctx, a, ActionMessagesRead, consultationID)
	}
	if err != nil {
		return MessagePage{}, fmt.Errorf("read messages: %w", err)
	}
	page := MessagePage{Messages: make([]Message, 0, min(len(rows), limit))}
	if len(rows) > limit {
		rows, page.More = rows[:limit], true
	}
	for _, m := range rows {
		body, err := s.open("messages", "body", m.ID, m.BodySealed)
		if err != nil {
			return MessagePage{}, err
		}
		page.Messages = append(page.Messages, Message{ID: m.ID, Seq: m.Seq, SenderParticipantID: deref(m.SenderParticipantID),
			SenderUserID: deref(m.SenderUserID), Key: m.ClientKey, Text: string(body), CreatedAt: m.CreatedAt})
	}
	return page, nil
}

// MarkRead records that p has read a consultation's messages up to seq
// and, when that moves p's receipt forward, publishes chat.read to the
// consultation's participants, queue and doctor. A seq beyond the last
// message is refused; an older one changes nothing.
func (s *Service) MarkRead(ctx context.Context, p authz.Principal, a Actor, consultationID string, seq int64) error {
	if seq < 1 {
		return invalid("seq", "must be 1 or more")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.memberChatRow(ctx, tx, sqlChatRow, p, consultationID)
		if err != nil {
			return err
		}
		if seq > r.LastSeq {
			return invalid("seq", "is after the last message")
		}
		_, _, readerType, readerID := sender(p)
		tag, err := tx.Exec(ctx, sqlMarkRead, r.ID, readerType, readerID, seq, s.now())
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return events.PublishData(ctx, tx, EventChatRead,
			map[string]any{"consultation_id": r.ID, readerType + "_id": readerID, "seq": seq}, topics(r.consultationRow())...)
	})
	if errors.Is(err, errNotChatMember) {
		return s.denyChat(ctx, a, "chat.mark_read", consultationID)
	}
	if err != nil {
		return fmt.Errorf("mark messages read: %w", err)
	}
	return nil
}
