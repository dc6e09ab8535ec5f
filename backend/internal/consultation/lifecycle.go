package consultation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/events"
)

// Audit actions of the consultation lifecycle.
const (
	ActionConsultationRead        = "consultation.read"
	ActionQueueRead               = "queue.read"
	ActionConsultationAccepted    = "consultation.accepted"
	ActionConsultationEstimate    = "consultation.estimate_sent"
	ActionConsultationTransferred = "consultation.transferred"
	ActionConsultationCancelled   = "consultation.cancelled"
	ActionConsultationClosed      = "consultation.closed"
	ActionConsultationNoteChanged = "consultation.note_changed"
)

// Limits of the lifecycle.
const (
	// MaxDoctorNoteRunes bounds the private note.
	MaxDoctorNoteRunes = 10000
	// MaxEstimateMinutes bounds an estimate.
	MaxEstimateMinutes = 240
)

// Close reasons.
const (
	ReasonCompleted = "completed"
	ReasonCancelled = "cancelled"
)

// Patient is a consultation's patient as staff see them.
type Patient struct {
	ParticipantID       string
	FirstName, LastName string
	Language            string
	// Online is true while a socket of theirs is open on some replica.
	Online bool
}

// Consultation is a consultation as staff see it. Patient and Note are
// filled by the audited reads only.
type Consultation struct {
	ID               string
	QueueID          string
	DoctorID         string
	Status           Status
	CloseReason      string
	CreatedAt        time.Time
	PendingAt        *time.Time
	AcceptedAt       *time.Time
	ClosedAt         *time.Time
	EstimatedStartAt *time.Time
	Patient          *Patient
	// Note is the doctor's private note; never for participants.
	Note string
	// Feedback is the participants' feedback on a closed consultation
	// (audited reads only).
	Feedback []Feedback
}

type consultationRow struct {
	ID               string     `db:"id"`
	QueueID          *string    `db:"queue_id"`
	DoctorID         *string    `db:"doctor_id"`
	Status           string     `db:"status"`
	CloseReason      *string    `db:"close_reason"`
	CreatedAt        time.Time  `db:"created_at"`
	PendingAt        *time.Time `db:"pending_at"`
	AcceptedAt       *time.Time `db:"accepted_at"`
	ClosedAt         *time.Time `db:"closed_at"`
	EstimatedStartAt *time.Time `db:"estimated_start_at"`
	NoteSealed       []byte     `db:"note_sealed"`
	PatientID        *string    `db:"patient_id"`
	FirstNameSealed  []byte     `db:"first_name_sealed"`
	LastNameSealed   []byte     `db:"last_name_sealed"`
	Language         *string    `db:"language"`
	Online           bool       `db:"online"`
}

// $1 of every query below is the presence freshness threshold.
const consultationSelect = `
SELECT c.id::text AS id, c.queue_id::text AS queue_id, c.doctor_id::text AS doctor_id, c.status, c.close_reason,
    c.created_at, c.pending_at, c.accepted_at, c.closed_at, c.estimated_start_at, c.note_sealed,
    p.id::text AS patient_id, p.first_name_sealed, p.last_name_sealed, p.language,
    EXISTS (SELECT 1 FROM participant_presence pp WHERE pp.participant_id = p.id AND pp.updated_at > $1) AS online
FROM consultations c LEFT JOIN participants p ON p.consultation_id = c.id AND p.role = 'patient'`

const (
	sqlConsultationRow       = consultationSelect + ` WHERE c.id = $2`
	sqlConsultationRowLocked = consultationSelect + ` WHERE c.id = $2 FOR UPDATE OF c`
	sqlWaitingList           = consultationSelect + `
WHERE c.queue_id = $2 AND c.status = 'pending' ORDER BY c.pending_at, c.id LIMIT 500`
	sqlDoctorList = consultationSelect + `
WHERE c.doctor_id = $2 AND c.status = $3
  AND ($4::timestamptz IS NULL OR (c.created_at, c.id) < ($4::timestamptz, $5::uuid))
ORDER BY c.created_at DESC, c.id DESC
LIMIT $6`

	// The first doctor to accept wins: the others find the status changed.
	sqlAccept = `
UPDATE consultations SET status = 'active', doctor_id = $2, accepted_at = $3, updated_at = $3
WHERE id = $1 AND status = 'pending'`
	sqlEstimate = `UPDATE consultations SET estimated_start_at = $2, updated_at = $3 WHERE id = $1`
	sqlTransfer = `
UPDATE consultations SET queue_id = $2, doctor_id = $3, status = 'pending', accepted_at = NULL,
    estimated_start_at = NULL, pending_at = coalesce(pending_at, $4), updated_at = $4
WHERE id = $1`
	sqlClose = `
UPDATE consultations SET status = 'closed', closed_at = $2, close_reason = $3, stats_id = $4, updated_at = $2 WHERE id = $1`
	sqlRevokeConsultationSessions = `
UPDATE participant_sessions SET revoked_at = $2 WHERE consultation_id = $1 AND revoked_at IS NULL`
	sqlRevokeUnredeemedInvites = `
UPDATE invites SET status = 'revoked', revoked_at = $2, updated_at = $2
WHERE consultation_id = $1 AND status IN ('created', 'sent', 'delivery_failed', 'opened')
RETURNING id::text`
	sqlJoinedParticipants = `SELECT count(DISTINCT participant_id) FROM participant_sessions WHERE consultation_id = $1`
	// calls_count counts the calls someone answered.
	sqlStatsInsert = `
INSERT INTO consultation_stats (id, queue_id, close_reason, created_at, accepted_at, closed_at, waited_seconds,
                                duration_seconds, participant_count, calls_count)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
        (SELECT count(*) FROM calls WHERE consultation_id = $10 AND answered_at IS NOT NULL))`
	sqlSetNote = `UPDATE consultations SET note_sealed = $2, updated_at = $3 WHERE id = $1`

	// sqlWaiting is the waiting list of queue $1, or when $1 is NULL of
	// doctor $2's consultations outside any queue. Two branches switched
	// by one-time filters rather than one OR: each branch scans its own
	// index (consultations_pending, consultations_doctor_status) where an
	// OR of both would scan the whole table, which grows with every
	// consultation ever held.
	sqlWaiting = `
SELECT id, pending_at FROM consultations WHERE $1::uuid IS NOT NULL AND status = 'pending' AND queue_id = $1
UNION ALL
SELECT id, pending_at FROM consultations WHERE $1::uuid IS NULL AND status = 'pending' AND queue_id IS NULL AND doctor_id = $2`
	// Positions of the waiting consultations of a queue, or of a named
	// doctor's consultations outside any queue.
	sqlPositions = `
SELECT id::text, row_number() OVER (ORDER BY pending_at, id) AS position
FROM (` + sqlWaiting + `) w
ORDER BY pending_at, id
LIMIT 500`
	// sqlPositionsFrom is sqlPositions from consultation $3 on.
	sqlPositionsFrom = `
SELECT id, position FROM (
    SELECT id::text AS id, id AS uid, pending_at, row_number() OVER (ORDER BY pending_at, id) AS position
    FROM (` + sqlWaiting + `) w
) p
WHERE (pending_at, uid) >= (SELECT pending_at, id FROM consultations WHERE id = $3)
ORDER BY position
LIMIT 500`
	sqlPosition = `
SELECT count(*) FROM (` + sqlWaiting + `) w
WHERE (pending_at, id) <= ($3::timestamptz, $4::uuid)`
)

func (s *Service) presenceSince() time.Time { return s.now().Add(-PresenceTTL) }

func (s *Service) row(ctx context.Context, q pgx.Tx, query, id string) (consultationRow, error) {
	if !isUUID(id) {
		return consultationRow{}, ErrNotFound
	}
	rows, _ := q.Query(ctx, query, s.presenceSince(), id)
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[consultationRow])
	return r, mapErr(err)
}

// sees is the object-level rule for staff and a consultation: a signed-in
// doctor or nurse who sees its queue, or its doctor.
func sees(p authz.Principal, r consultationRow) bool {
	if p.Kind != "user" || (p.Role != authz.RoleDoctor && p.Role != authz.RoleNurse) {
		return false
	}
	return (r.QueueID != nil && authz.CanSeeQueue(p, *r.QueueID)) || (r.DoctorID != nil && *r.DoctorID == p.UserID)
}

// topics are where a consultation's events go: its participants, its
// queue's staff and its doctor.
func topics(r consultationRow) []string {
	t := []string{events.Topic(events.KindConsultation, r.ID)}
	if r.QueueID != nil {
		t = append(t, events.Topic(events.KindQueue, *r.QueueID))
	}
	if r.DoctorID != nil {
		t = append(t, events.Topic(events.KindUser, *r.DoctorID))
	}
	return t
}

func (s *Service) toConsultation(r consultationRow, withPatient bool) (Consultation, error) {
	c := Consultation{ID: r.ID, QueueID: deref(r.QueueID), DoctorID: deref(r.DoctorID), Status: Status(r.Status),
		CloseReason: deref(r.CloseReason), CreatedAt: r.CreatedAt, PendingAt: r.PendingAt, AcceptedAt: r.AcceptedAt,
		ClosedAt: r.ClosedAt, EstimatedStartAt: r.EstimatedStartAt}
	if !withPatient {
		return c, nil
	}
	note, err := s.open("consultations", "note", r.ID, r.NoteSealed)
	if err != nil {
		return Consultation{}, err
	}
	c.Note = string(note)
	if r.PatientID != nil {
		first, err := s.open("participants", "first_name", *r.PatientID, r.FirstNameSealed)
		if err != nil {
			return Consultation{}, err
		}
		last, err := s.open("participants", "last_name", *r.PatientID, r.LastNameSealed)
		if err != nil {
			return Consultation{}, err
		}
		c.Patient = &Patient{ParticipantID: *r.PatientID, FirstName: string(first), LastName: string(last),
			Language: deref(r.Language), Online: r.Online}
	}
	return c, nil
}

// auditReads records that a consultations' patient data was read.
func (s *Service) auditReads(ctx context.Context, a Actor, action, objectType, objectID string, rows []consultationRow) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if len(rows) == 0 {
			return s.record(ctx, tx, a, action, objectType, objectID, "", audit.OutcomeSuccess)
		}
		for _, r := range rows {
			id := objectID
			if id == "" {
				id = r.ID
			}
			if err := s.record(ctx, tx, a, action, objectType, id, r.ID, audit.OutcomeSuccess); err != nil {
				return err
			}
		}
		return nil
	})
}

// WaitingList returns the pending consultations of a queue, longest
// waiting first, with their patients' names and presence. p must see the
// queue (ErrNotFound otherwise). Each consultation listed is audited as a
// queue.read.
func (s *Service) WaitingList(ctx context.Context, p authz.Principal, a Actor, queueID string) ([]Consultation, error) {
	if !isUUID(queueID) || p.Kind != "user" || (p.Role != authz.RoleDoctor && p.Role != authz.RoleNurse) ||
		!authz.CanSeeQueue(p, queueID) {
		return nil, ErrNotFound
	}
	if _, err := s.Queue(ctx, queueID); err != nil {
		return nil, err
	}
	rows, _ := s.p.Pool.Query(ctx, sqlWaitingList, s.presenceSince(), queueID)
	list, err := pgx.CollectRows(rows, pgx.RowToStructByName[consultationRow])
	if err != nil {
		return nil, mapErr(err)
	}
	if err := s.auditReads(ctx, a, ActionQueueRead, "queue", queueID, list); err != nil {
		return nil, err
	}
	out := make([]Consultation, 0, len(list))
	for _, r := range list {
		c, err := s.toConsultation(r, true)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Get returns one consultation with its patient and note, audited as a
// consultation.read; one p does not see is ErrNotFound (audited denied).
func (s *Service) Get(ctx context.Context, p authz.Principal, a Actor, id string) (Consultation, error) {
	var r consultationRow
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = s.row(ctx, tx, sqlConsultationRow, id)
		return err
	})
	if err == nil && !sees(p, r) {
		err = ErrNotFound
	}
	if errors.Is(err, ErrNotFound) {
		if aerr := s.p.Audit.Append(ctx, audit.Event{ActorType: a.Type, ActorID: a.ID, ClientIP: a.ClientIP,
			Action: ActionConsultationRead, ObjectType: "consultation", ObjectID: auditID(id), Outcome: audit.OutcomeDenied}); aerr != nil {
			return Consultation{}, aerr
		}
		return Consultation{}, ErrNotFound
	}
	if err != nil {
		return Consultation{}, err
	}
	if err := s.auditReads(ctx, a, ActionConsultationRead, "consultation", "", []consultationRow{r}); err != nil {
		return Consultation{}, err
	}
	c, err := s.toConsultation(r, true)
	if err != nil {
		return Consultation{}, err
	}
	one := []Consultation{c}
	if err := s.withFeedback(ctx, one); err != nil {
		return Consultation{}, err
	}
	return one[0], nil
}

// ConsultationPage is a page of a doctor's consultations, newest first.
type ConsultationPage struct {
	Consultations []Consultation
	// Next is the cursor of the following page; empty on the last page.
	Next string
}

// Mine lists p's own consultations (those naming p as their doctor) in a
// status, newest first, with patients; each listed one is audited.
func (s *Service) Mine(ctx context.Context, p authz.Principal, a Actor, status Status, lp ListParams) (ConsultationPage, error) {
	switch status {
	case StatusPending, StatusActive, StatusClosed:
	default:
		return ConsultationPage{}, invalid("status", "must be pending, active or closed")
	}
	if lp.Limit <= 0 || lp.Limit > 100 {
		lp.Limit = 50
	}
	var after *time.Time
	afterID := "00000000-0000-0000-0000-000000000000"
	if lp.Cursor != "" {
		t, id, err := decodeCursor(lp.Cursor)
		if err != nil {
			return ConsultationPage{}, err
		}
		after, afterID = &t, id
	}
	if p.Kind != "user" || !isUUID(p.UserID) {
		return ConsultationPage{Consultations: []Consultation{}}, nil
	}
	rows, _ := s.p.Pool.Query(ctx, sqlDoctorList, s.presenceSince(), p.UserID, string(status), after, afterID, lp.Limit+1)
	list, err := pgx.CollectRows(rows, pgx.RowToStructByName[consultationRow])
	if err != nil {
		return ConsultationPage{}, mapErr(err)
	}
	page := ConsultationPage{Consultations: make([]Consultation, 0, len(list))}
	if len(list) > lp.Limit {
		list = list[:lp.Limit]
		last := list[len(list)-1]
		page.Next = encodeCursor(last.CreatedAt, last.ID)
	}
	if len(list) > 0 {
		if err := s.auditReads(ctx, a, ActionConsultationRead, "consultation", "", list); err != nil {
			return ConsultationPage{}, err
		}
	}
	for _, r := range list {
		c, err := s.toConsultation(r, true)
		if err != nil {
			return ConsultationPage{}, err
		}
		page.Consultations = append(page.Consultations, c)
	}
	if err := s.withFeedback(ctx, page.Consultations); err != nil {
		return ConsultationPage{}, err
	}
	return page, nil
}

// change locks consultation id, checks that p sees it and runs fn in the
// same transaction; the result is the consultation as fn left it.
func (s *Service) change(ctx context.Context, p authz.Principal, id string, fn func(tx pgx.Tx, r consultationRow) error) (Consultation, error) {
	var out consultationRow
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.row(ctx, tx, sqlConsultationRowLocked, id)
		if err != nil {
			return err
		}
		if !sees(p, r) || p.Role != authz.RoleDoctor {
			return ErrNotFound
		}
		if err := fn(tx, r); err != nil {
			return err
		}
		out, err = s.row(ctx, tx, sqlConsultationRow, id)
		return err
	})
	// Closing, cancelling and transferring may have queued commands for
	// a media node.
	s.p.Media.Nodes.Poke()
	if err != nil {
		return Consultation{}, err
	}
	return s.toConsultation(out, false)
}

// Accept moves a pending consultation to active with p as its doctor. Of
// doctors accepting at once, the first wins; the others get
// ErrAlreadyAccepted.
func (s *Service) Accept(ctx context.Context, p authz.Principal, a Actor, id string) (Consultation, error) {
	// No lock before the conditional update: concurrent accepts race on
	// the UPDATE itself, which PostgreSQL serialises on the row.
	var out consultationRow
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.row(ctx, tx, sqlConsultationRow, id)
		if err != nil {
			return err
		}
		if !sees(p, r) || p.Role != authz.RoleDoctor {
			return ErrNotFound
		}
		now := s.now()
		tag, err := tx.Exec(ctx, sqlAccept, id, p.UserID, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			cur, err := s.row(ctx, tx, sqlConsultationRow, id)
			if err != nil {
				return err
			}
			switch Status(cur.Status) {
			case StatusActive:
				return ErrAlreadyAccepted
			case StatusClosed:
				return ErrConsultationClosed
			default:
				return ErrWrongState
			}
		}
		if err := s.record(ctx, tx, a, ActionConsultationAccepted, "consultation", id, id, audit.OutcomeSuccess); err != nil {
			return err
		}
		tops := append(topics(r), events.Topic(events.KindUser, p.UserID))
		if err := events.PublishData(ctx, tx, events.TypeConsultationAccepted,
			map[string]any{"consultation_id": id, "doctor_id": p.UserID, "accepted_at": now}, tops...); err != nil {
			return err
		}
		if err := s.publishQueueChange(ctx, tx, r.QueueID, r.DoctorID); err != nil {
			return err
		}
		out, err = s.row(ctx, tx, sqlConsultationRow, id)
		return err
	})
	if err != nil {
		return Consultation{}, err
	}
	return s.toConsultation(out, false)
}

// publishQueueChange tells a queue's staff (or a named doctor) that its
// waiting list changed, and each waiting participant their place.
func (s *Service) publishQueueChange(ctx context.Context, tx pgx.Tx, queueID, doctorID *string) error {
	return s.publishWaitingList(ctx, tx, queueID, doctorID, "", nil)
}

// publishWaitingList publishes lead, then queue.changed to the queue's
// staff (or its named doctor), then queue.position to each waiting
// participant, all in one round trip once the places are read. With from
// set (a consultation that has just started waiting), only the places
// from that one on are announced: an arrival moves nobody ahead of it.
func (s *Service) publishWaitingList(ctx context.Context, tx pgx.Tx, queueID, doctorID *string, from string, lead []events.Event) error {
	var changed events.Event
	var err error
	switch {
	case queueID != nil:
		changed, err = events.New(events.TypeQueueChanged, map[string]string{"queue_id": *queueID},
			events.Topic(events.KindQueue, *queueID))
	case doctorID != nil:
		changed, err = events.New(events.TypeQueueChanged, map[string]string{"doctor_id": *doctorID},
			events.Topic(events.KindUser, *doctorID))
	default:
		return events.PublishAll(ctx, tx, lead...)
	}
	if err != nil {
		return err
	}
	evs := append(lead, changed)
	query, args := sqlPositions, []any{queueID, doctorID}
	if from != "" {
		query, args = sqlPositionsFrom, append(args, from)
	}
	rows, _ := tx.Query(ctx, query, args...)
	type position struct {
		ID       string `db:"id"`
		Position int    `db:"position"`
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByName[position])
	if err != nil {
		return err
	}
	for _, p := range list {
		ev, err := events.New(events.TypeQueuePosition, map[string]int{"position": p.Position},
			events.Topic(events.KindConsultation, p.ID))
		if err != nil {
			return err
		}
		evs = append(evs, ev)
	}
	return events.PublishAll(ctx, tx, evs...)
}

// SendEstimate tells a pending consultation's patient when the doctor
// expects to start: in minutes (1 to MaxEstimateMinutes).
func (s *Service) SendEstimate(ctx context.Context, p authz.Principal, a Actor, id string, minutes int) (Consultation, error) {
	if minutes < 1 || minutes > MaxEstimateMinutes {
		return Consultation{}, invalid("minutes", fmt.Sprintf("must be 1 to %d", MaxEstimateMinutes))
	}
	return s.change(ctx, p, id, func(tx pgx.Tx, r consultationRow) error {
		if Status(r.Status) != StatusPending {
			return s.stateErr(r)
		}
		now := s.now()
		start := now.Add(time.Duration(minutes) * time.Minute)
		if _, err := tx.Exec(ctx, sqlEstimate, id, start, now); err != nil {
			return err
		}
		if err := s.record(ctx, tx, a, ActionConsultationEstimate, "consultation", id, id, audit.OutcomeSuccess); err != nil {
			return err
		}
		// Participants hear of it only where the queue shows estimates;
		// staff always do.
		to := topics(r)
		show, err := showsEstimate(ctx, tx, r.QueueID)
		if err != nil {
			return err
		}
		if !show {
			to = to[1:]
		}
		if len(to) == 0 {
			return nil
		}
		return events.PublishData(ctx, tx, events.TypeConsultationEstimate,
			map[string]any{"consultation_id": id, "start_at": start}, to...)
	})
}

// sqlShowsEstimate: a queue's "patients see an estimated time" switch; a
// consultation with a named doctor and no queue shows the estimate its
// doctor chose to send.
const sqlShowsEstimate = `SELECT coalesce((SELECT show_estimated_time FROM queues WHERE id = $1), true)`

// showsEstimate reports whether the participants of a consultation in
// queueID (nil: none) may see estimated start times.
func showsEstimate(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, queueID *string) (bool, error) {
	if queueID == nil {
		return true, nil
	}
	var show bool
	if err := q.QueryRow(ctx, sqlShowsEstimate, *queueID).Scan(&show); err != nil {
		return false, err
	}
	return show, nil
}

func (s *Service) stateErr(r consultationRow) error {
	if Status(r.Status) == StatusClosed {
		return ErrConsultationClosed
	}
	return ErrWrongState
}

// Transfer moves a pending or active consultation to another queue or to
// a named doctor (exactly one of queueID and doctorID); it waits there
// again, keeping its place in time. A queue or doctor that does not exist
// is a *FieldError.
func (s *Service) Transfer(ctx context.Context, p authz.Principal, a Actor, id, queueID, doctorID string) (Consultation, error) {
	switch {
	case (queueID == "") == (doctorID == ""):
		return Consultation{}, invalid("queue_id", "give exactly one of queue_id and doctor_id")
	case queueID != "" && !isUUID(queueID):
		return Consultation{}, invalid("queue_id", "must be a queue id")
	case doctorID != "" && !isUUID(doctorID):
		return Consultation{}, invalid("doctor_id", "must be a user id")
	}
	return s.change(ctx, p, id, func(tx pgx.Tx, r consultationRow) error {
		if st := Status(r.Status); st != StatusPending && st != StatusActive {
			return s.stateErr(r)
		}
		var ok bool
		if queueID != "" {
			if err := tx.QueryRow(ctx, sqlQueueExists, queueID).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return invalid("queue_id", "names no queue")
			}
		} else {
			if err := tx.QueryRow(ctx, sqlDoctorActive, doctorID).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return invalid("doctor_id", "names no active doctor")
			}
		}
		// The call was the old doctor's: it ends with the move.
		if err := s.endOpenCall(ctx, tx, a, r, CallConsultationTransferred); err != nil {
			return err
		}
		now := s.now()
		if _, err := tx.Exec(ctx, sqlTransfer, id, nullable(queueID), nullable(doctorID), now); err != nil {
			return err
		}
		if err := s.record(ctx, tx, a, ActionConsultationTransferred, "consultation", id, id, audit.OutcomeSuccess); err != nil {
			return err
		}
		to := consultationRow{ID: id}
		if queueID != "" {
			to.QueueID = &queueID
		} else {
			to.DoctorID = &doctorID
		}
		all := append(topics(r), topics(to)[1:]...)
		if err := events.PublishData(ctx, tx, events.TypeConsultationTransferred,
			map[string]string{"consultation_id": id, "queue_id": queueID, "doctor_id": doctorID}, all...); err != nil {
			return err
		}
		if Status(r.Status) == StatusPending {
			if err := s.publishQueueChange(ctx, tx, r.QueueID, r.DoctorID); err != nil {
				return err
			}
		}
		return s.publishQueueChange(ctx, tx, to.QueueID, to.DoctorID)
	})
}

// Cancel closes a consultation that was never accepted (invited or
// pending) with reason cancelled.
func (s *Service) Cancel(ctx context.Context, p authz.Principal, a Actor, id string) (Consultation, error) {
	return s.change(ctx, p, id, func(tx pgx.Tx, r consultationRow) error {
		if st := Status(r.Status); st != StatusInvited && st != StatusPending {
			return s.stateErr(r)
		}
		return s.closeIn(ctx, tx, a, r, ReasonCancelled)
	})
}

// Close ends an active consultation; only its doctor may. It ends every
// participant session (their sockets close on every replica on the
// consultation.closed event), revokes the invites not yet redeemed and
// records an anonymous statistics row.
func (s *Service) Close(ctx context.Context, p authz.Principal, a Actor, id string) (Consultation, error) {
	return s.change(ctx, p, id, func(tx pgx.Tx, r consultationRow) error {
		if Status(r.Status) != StatusActive {
			return s.stateErr(r)
		}
		if r.DoctorID == nil || *r.DoctorID != p.UserID {
			return ErrNotFound
		}
		return s.closeIn(ctx, tx, a, r, ReasonCompleted)
	})
}

func (s *Service) closeIn(ctx context.Context, tx pgx.Tx, a Actor, r consultationRow, reason string) error {
	// The call ends with the consultation: its room on the media node
	// too, within seconds (change pokes the media worker). First, before
	// any audit append: a call's row is always locked before the audit
	// chain (see call.go).
	if err := s.endOpenCall(ctx, tx, a, r, CallConsultationClosed); err != nil {
		return err
	}
	now := s.now()
	statsID := newUUID()
	// The statistics row first: the consultation refers to it (feedback
	// given after the close is counted there).
	var joined int
	if err := tx.QueryRow(ctx, sqlJoinedParticipants, r.ID).Scan(&joined); err != nil {
		return err
	}
	seconds := func(from, to *time.Time) *int {
		if from == nil || to == nil {
			return nil
		}
		n := max(int(to.Sub(*from)/time.Second), 0)
		return &n
	}
	waitEnd := r.AcceptedAt
	if waitEnd == nil {
		waitEnd = &now
	}
	if _, err := tx.Exec(ctx, sqlStatsInsert, statsID, r.QueueID, reason, r.CreatedAt, r.AcceptedAt, now,
		seconds(r.PendingAt, waitEnd), seconds(r.AcceptedAt, &now), joined, r.ID); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, sqlClose, r.ID, now, reason, statsID); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, sqlRevokeConsultationSessions, r.ID, now); err != nil {
		return err
	}
	rows, _ := tx.Query(ctx, sqlRevokeUnredeemedInvites, r.ID, now)
	revoked, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, inv := range revoked {
		if err := s.record(ctx, tx, a, ActionInviteRevoked, "invite", inv, r.ID, audit.OutcomeSuccess); err != nil {
			return err
		}
	}
	action := ActionConsultationClosed
	if reason == ReasonCancelled {
		action = ActionConsultationCancelled
	}
	if err := s.record(ctx, tx, a, action, "consultation", r.ID, r.ID, audit.OutcomeSuccess); err != nil {
		return err
	}
	if err := events.PublishData(ctx, tx, events.TypeConsultationClosed,
		map[string]string{"consultation_id": r.ID, "reason": reason}, topics(r)...); err != nil {
		return err
	}
	if Status(r.Status) == StatusPending {
		return s.publishQueueChange(ctx, tx, r.QueueID, r.DoctorID)
	}
	return nil
}

// SetNote replaces the doctor's private note (sealed; empty removes it).
// Participants never see it.
func (s *Service) SetNote(ctx context.Context, p authz.Principal, a Actor, id, text string) error {
	if !utf8.ValidString(text) || utf8.RuneCountInString(text) > MaxDoctorNoteRunes {
		return invalid("text", fmt.Sprintf("must be at most %d characters", MaxDoctorNoteRunes))
	}
	text = strings.TrimSpace(text)
	_, err := s.change(ctx, p, id, func(tx pgx.Tx, r consultationRow) error {
		if _, err := tx.Exec(ctx, sqlSetNote, id, s.seal("consultations", "note", id, []byte(text)), s.now()); err != nil {
			return err
		}
		return s.record(ctx, tx, a, ActionConsultationNoteChanged, "consultation", id, id, audit.OutcomeSuccess)
	})
	return err
}

// Position is a participant's place in the waiting room.
type Position struct {
	Status Status
	// Position is 1 for the next one; 0 when the consultation is not
	// waiting.
	Position         int
	EstimatedStartAt *time.Time
}

// QueuePosition returns the place of participant p's consultation among
// the waiting ones of its queue (or of its named doctor), by waiting time.
func (s *Service) QueuePosition(ctx context.Context, p authz.Principal) (Position, error) {
	if p.Kind != "participant" {
		return Position{}, ErrNotFound
	}
	var r consultationRow
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = s.row(ctx, tx, sqlConsultationRow, p.ConsultationID)
		if err != nil || Status(r.Status) != StatusPending || r.PendingAt == nil {
			return err
		}
		return nil
	})
	if err != nil {
		return Position{}, err
	}
	pos := Position{Status: Status(r.Status), EstimatedStartAt: r.EstimatedStartAt}
	if pos.Status != StatusPending || r.PendingAt == nil {
		return Position{Status: pos.Status}, nil
	}
	show, err := showsEstimate(ctx, s.p.Pool, r.QueueID)
	if err != nil {
		return Position{}, mapErr(err)
	}
	if !show {
		pos.EstimatedStartAt = nil
	}
	if err := s.p.Pool.QueryRow(ctx, sqlPosition, r.QueueID, r.DoctorID, *r.PendingAt, r.ID).Scan(&pos.Position); err != nil {
		return Position{}, mapErr(err)
	}
	return pos, nil
}
