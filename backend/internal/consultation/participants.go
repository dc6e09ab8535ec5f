package consultation

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/events"
)

// TypeParticipantAdded is the event of a guest, interpreter or expert
// added to a consultation (their invite created) or redeeming their
// invite for the first time: {consultation_id, participant_id, role}, to
// the consultation's participants, queue and doctor.
const TypeParticipantAdded = "participant.added"

// publishParticipantAdded announces inv's participant.
func publishParticipantAdded(ctx context.Context, tx pgx.Tx, inv Invite) error {
	r := consultationRow{ID: inv.ConsultationID}
	if inv.QueueID != "" {
		r.QueueID = &inv.QueueID
	}
	if inv.DoctorID != "" {
		r.DoctorID = &inv.DoctorID
	}
	return events.PublishData(ctx, tx, TypeParticipantAdded, map[string]string{
		"consultation_id": inv.ConsultationID, "participant_id": inv.ParticipantID, "role": string(inv.Role)}, topics(r)...)
}

// Guests, interpreters and experts
//
// A doctor adds them to a consultation by invite: the same token, hashing,
// expiry, delivery and redemption as a patient's invite, with the
// participant's own role. Redeeming such an invite never changes the
// consultation's status (only the patient's first redemption moves it from
// invited to pending); the session is scoped to the consultation like a
// patient's and ends when it closes or when the invite is revoked.

// ActionParticipantsRead is the audit action of reading a consultation's
// participant list.
const ActionParticipantsRead = "consultation.participants_read"

// NewParticipant is a guest, interpreter or expert a doctor invites into
// an existing consultation.
type NewParticipant struct {
	// Role is authz.RoleGuest, RoleInterpreter or RoleExpert.
	Role                authz.Role
	FirstName, LastName string
	// Phone is E.164; Email a bare address. At least one.
	Phone, Email string
	// Language is the participant's (BCP 47 short form); "en" if empty.
	Language string
	Delivery Delivery
	// ScheduledAt and TimeZone (IANA) go together, or are both empty, as
	// for a patient's invite.
	ScheduledAt *time.Time
	TimeZone    string
}

// ParticipantInfo is a consultation's participant as its doctor sees it.
type ParticipantInfo struct {
	ID                  string
	Role                authz.Role
	FirstName, LastName string
	Language            string
	// Online is true while a socket of theirs is open on some replica.
	Online bool
	// InviteStatus is the status of their latest invite.
	InviteStatus InviteStatus
}

const sqlParticipantList = `
SELECT p.id::text AS id, p.role, p.first_name_sealed, p.last_name_sealed, p.language,
    EXISTS (SELECT 1 FROM participant_presence pp WHERE pp.participant_id = p.id AND pp.updated_at > $1) AS online,
    coalesce((SELECT i.status FROM invites i WHERE i.participant_id = p.id ORDER BY i.created_at DESC, i.id DESC LIMIT 1), '') AS invite_status
FROM participants p
WHERE p.consultation_id = $2
ORDER BY p.role <> 'patient', p.created_at, p.id`

type participantRow struct {
	ID              string `db:"id"`
	Role            string `db:"role"`
	FirstNameSealed []byte `db:"first_name_sealed"`
	LastNameSealed  []byte `db:"last_name_sealed"`
	Language        string `db:"language"`
	Online          bool   `db:"online"`
	InviteStatus    string `db:"invite_status"`
}

// managesParticipants is the object-level rule for a consultation's
// participants: a signed-in doctor who is its doctor (named or accepting),
// or who sees its queue while it has no doctor yet (invited or pending).
func managesParticipants(p authz.Principal, r consultationRow) bool {
	if p.Kind != "user" || p.Role != authz.RoleDoctor {
		return false
	}
	if r.DoctorID != nil && *r.DoctorID == p.UserID {
		return true
	}
	st := Status(r.Status)
	return (st == StatusInvited || st == StatusPending) && r.QueueID != nil && authz.CanSeeQueue(p, *r.QueueID)
}

// AddParticipant invites a guest, an interpreter or an expert into
// consultation consultationID: it creates the participant with that role
// and its invite, then delivers it when asked to by e-mail. A consultation
// p does not manage (managesParticipants) is ErrNotFound; a closed one is
// ErrConsultationClosed.
func (s *Service) AddParticipant(ctx context.Context, p authz.Principal, a Actor, consultationID string, in NewParticipant) (Issued, error) {
	switch in.Role {
	case authz.RoleGuest, authz.RoleInterpreter, authz.RoleExpert:
	default:
		return Issued{}, invalid("role", "must be guest, interpreter or expert")
	}
	person := NewInvite{FirstName: in.FirstName, LastName: in.LastName, Phone: in.Phone, Email: in.Email,
		Language: in.Language, Delivery: in.Delivery, ScheduledAt: in.ScheduledAt, TimeZone: in.TimeZone}
	// An interpreter's language may be any (the one they interpret, as
	// when they accept an organisation's request); the others' must be
	// offered by the clinic.
	if in.Role != authz.RoleInterpreter {
		var err error
		if person.Language, err = s.inviteLanguage(ctx, person.Language); err != nil {
			return Issued{}, err
		}
	}
	if err := validatePerson(&person); err != nil {
		return Issued{}, err
	}
	ttl, _, err := s.inviteTiming(ctx)
	if err != nil {
		return Issued{}, err
	}
	expires, err := validateSchedule(&person.ScheduledAt, person.TimeZone, s.now(), ttl)
	if err != nil {
		return Issued{}, err
	}
	var tz *string
	if person.ScheduledAt != nil {
		tz = &person.TimeZone
	}
	participantID, inviteID, tok := newUUID(), newUUID(), newToken()
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.row(ctx, tx, sqlConsultationRowLocked, consultationID)
		if err != nil {
			return err
		}
		if !managesParticipants(p, r) {
			return ErrNotFound
		}
		if Status(r.Status) == StatusClosed {
			return ErrConsultationClosed
		}
		now := s.now()
		if _, err := tx.Exec(ctx, sqlParticipantInsert, participantID, r.ID, string(in.Role),
			s.seal("participants", "first_name", participantID, []byte(person.FirstName)),
			s.seal("participants", "last_name", participantID, []byte(person.LastName)), person.Language, now); err != nil {
			return err
		}
		if err := s.insertInvite(ctx, tx, a, inviteRecord{
			id: inviteID, consultationID: r.ID, participantID: participantID, token: tok,
			role: in.Role, delivery: person.Delivery, email: person.Email, phone: person.Phone,
			scheduledAt: person.ScheduledAt, timeZone: tz, expiresAt: expires, now: now,
		}); err != nil {
			return err
		}
		return events.PublishData(ctx, tx, TypeParticipantAdded,
			map[string]string{"consultation_id": r.ID, "participant_id": participantID, "role": string(in.Role)}, topics(r)...)
	})
	if err != nil {
		return Issued{}, err
	}
	return s.issue(ctx, a, inviteID, tok)
}

// Participants lists a consultation's participants (the patient first,
// then the others in the order they were added) with their presence, for
// a doctor who manages them (managesParticipants; anything else is
// ErrNotFound, audited as denied). The read is audited.
func (s *Service) Participants(ctx context.Context, p authz.Principal, a Actor, consultationID string) ([]ParticipantInfo, error) {
	var list []participantRow
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := s.row(ctx, tx, sqlConsultationRow, consultationID)
		if err != nil {
			return err
		}
		if !managesParticipants(p, r) {
			return ErrNotFound
		}
		rows, _ := tx.Query(ctx, sqlParticipantList, s.presenceSince(), r.ID)
		if list, err = pgx.CollectRows(rows, pgx.RowToStructByName[participantRow]); err != nil {
			return err
		}
		return s.record(ctx, tx, a, ActionParticipantsRead, "consultation", r.ID, r.ID, audit.OutcomeSuccess)
	})
	if errors.Is(err, ErrNotFound) {
		if aerr := s.p.Audit.Append(ctx, audit.Event{ActorType: a.Type, ActorID: a.ID, ClientIP: a.ClientIP,
			Action: ActionParticipantsRead, ObjectType: "consultation", ObjectID: auditID(consultationID), Outcome: audit.OutcomeDenied}); aerr != nil {
			return nil, aerr
		}
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	out := make([]ParticipantInfo, 0, len(list))
	for _, r := range list {
		first, err := s.open("participants", "first_name", r.ID, r.FirstNameSealed)
		if err != nil {
			return nil, err
		}
		last, err := s.open("participants", "last_name", r.ID, r.LastNameSealed)
		if err != nil {
			return nil, err
		}
		out = append(out, ParticipantInfo{ID: r.ID, Role: authz.Role(r.Role), FirstName: string(first), LastName: string(last),
			Language: r.Language, Online: r.Online, InviteStatus: InviteStatus(r.InviteStatus)})
	}
	return out, nil
}
