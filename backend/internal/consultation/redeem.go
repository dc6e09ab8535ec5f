package consultation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/events"
	"github.com/hcw-home/hcw/backend/internal/throttle"
)

// Redemption is a successful redemption: a new participant session.
type Redemption struct {
	// Token is the session token for the cookie; never store or log it.
	Token          string
	ExpiresAt      time.Time
	ParticipantID  string
	ConsultationID string
	Role           authz.Role
	// First is true for the invite's first redemption.
	First bool
	// Language is the participant's; ScheduledAt and TimeZone the
	// invite's appointment (nil and empty when unscheduled).
	Language    string
	ScheduledAt *time.Time
	TimeZone    string
	// AskFeedback is true when the consultation's queue asks for
	// feedback after the close.
	AskFeedback bool
}

const (
	sqlConsultationToPending = `
UPDATE consultations SET status = 'pending', pending_at = $2, updated_at = $2 WHERE id = $1 AND status = 'invited'`
	sqlParticipantSessionInsert = `
INSERT INTO participant_sessions (id_hash, participant_id, consultation_id, created_at, last_seen_at, expires_at)
VALUES ($1, $2, $3, $4, $4, $5)`
	sqlParticipantSession = `
SELECT ps.participant_id::text, ps.consultation_id::text, p.role, ps.last_seen_at
FROM participant_sessions ps
JOIN participants p ON p.id = ps.participant_id
JOIN consultations c ON c.id = ps.consultation_id
WHERE ps.id_hash = $1 AND ps.revoked_at IS NULL AND ps.expires_at > $2 AND c.status <> 'closed'`
	sqlParticipantSessionTouch = `UPDATE participant_sessions SET last_seen_at = $2 WHERE id_hash = $1`
	// sqlRedeemAsync: a redemption's commit does not wait for the WAL to
	// reach the disk. It holds the audit chain's lock until it ends, so
	// every audited change of the appliance would otherwise queue behind
	// its flush. What a crash of PostgreSQL can lose is the last fraction
	// of a second of redemptions, each whole (status, session, audit rows
	// and events together; the chain stays intact): the patient's cookie
	// then names no session and they open their link again. Any later
	// durable commit (their first chat message, say) makes it durable
	// too, since the WAL is written in order.
	sqlRedeemAsync = `SET LOCAL synchronous_commit TO off`
)

// Redeem exchanges an invite token for a participant session; see the
// package documentation for the refusals. Only unknown tokens count as
// failures of the client address: the other refusals need a real token,
// which guessing cannot produce.
func (s *Service) Redeem(ctx context.Context, rawToken string, client netip.Addr) (Redemption, error) {
	key := clientKey(client)
	if err := s.checkThrottle(ctx, key); err != nil {
		return Redemption{}, err
	}
	tok, err := ParseInviteToken(rawToken)
	if err != nil {
		return Redemption{}, s.redeemFailed(ctx, key, client)
	}
	_, early, err := s.inviteTiming(ctx)
	if err != nil {
		return Redemption{}, err
	}
	var red Redemption
	var refusal error
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		// The audit events go last, together: the chain's lock is then
		// held for the end of the transaction only.
		var trail []audit.Event
		inv, err := s.inviteIn(ctx, tx, sqlInviteByTokenLock, tok.Hash())
		if err != nil {
			return err
		}
		now := s.now()
		participant := Actor{Type: audit.ActorParticipant, ID: inv.ParticipantID, ClientIP: client}
		refuse := func(e error, to InviteStatus) error {
			refusal = e
			if to != "" {
				if _, err := tx.Exec(ctx, sqlInviteSetStatus, inv.ID, string(to), now, nil); err != nil {
					return err
				}
				if err := publishInviteUpdated(ctx, tx, inv); err != nil {
					return err
				}
			}
			return s.record(ctx, tx, participant, ActionInviteRefused, "invite", inv.ID, inv.ConsultationID, audit.OutcomeDenied)
		}
		switch {
		case inv.stored == InviteRevoked:
			return refuse(ErrInviteRevoked, "")
		case inv.ConsultationStatus == StatusClosed:
			return refuse(ErrConsultationClosed, "")
		case !now.Before(inv.ExpiresAt):
			// Written once, for an invite that expired unredeemed.
			to := InviteStatus("")
			if inv.stored.CanBecome(InviteExpired) && inv.stored != InviteRedeemed {
				to = InviteExpired
			}
			return refuse(ErrInviteExpired, to)
		case inv.ScheduledAt != nil && now.Before(inv.ScheduledAt.Add(-early)):
			opensAt := inv.ScheduledAt.Add(-early)
			to := InviteStatus("")
			if inv.stored != InviteOpened && inv.stored.CanBecome(InviteOpened) {
				to = InviteOpened
			}
			return refuse(&TooEarlyError{OpensAt: opensAt}, to)
		}
		first := inv.stored != InviteRedeemed
		if first && !inv.stored.CanBecome(InviteRedeemed) {
			return refuse(ErrInvalidTransition, "")
		}
		// The writes and reads that depend on nothing else go in one
		// round trip; the events and the audit trail follow.
		sessTok := newToken()
		expires := now.Add(s.p.SessionLifetime)
		var asks bool
		var toPending pgconn.CommandTag
		b := &pgx.Batch{}
		b.Queue(sqlRedeemAsync)
		if first {
			b.Queue(sqlInviteSetStatus, inv.ID, string(InviteRedeemed), now, nil)
			if inv.Role == authz.RolePatient {
				b.Queue(sqlConsultationToPending, inv.ConsultationID, now).Exec(func(tag pgconn.CommandTag) error {
					toPending = tag
					return nil
				})
			}
		}
		b.Queue(sqlAsksFeedback, inv.ConsultationID).QueryRow(func(row pgx.Row) error { return row.Scan(&asks) })
		b.Queue(sqlParticipantSessionInsert, sessTok.Hash(), inv.ParticipantID, inv.ConsultationID, now, expires)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if first {
			if toPending.RowsAffected() == 1 {
				if err := s.publishPending(ctx, tx, inv); err != nil {
					return err
				}
			}
			trail = append(trail, auditEvent(participant, ActionInviteRedeemed, "invite", inv.ID, inv.ConsultationID, audit.OutcomeSuccess))
			if inv.Role != authz.RolePatient {
				if err := publishParticipantAdded(ctx, tx, inv); err != nil {
					return err
				}
			}
		}
		sum := sessTok.Hash()
		trail = append(trail, auditEvent(participant, ActionParticipantSession, "participant_session", hex.EncodeToString(sum[:16]),
			inv.ConsultationID, audit.OutcomeSuccess))
		if err := s.p.Audit.AppendTx(ctx, tx, trail...); err != nil {
			return err
		}
		red = Redemption{Token: sessionPrefix + sessTok.String(), ExpiresAt: expires, ParticipantID: inv.ParticipantID,
			ConsultationID: inv.ConsultationID, Role: inv.Role, First: first, Language: inv.Language,
			ScheduledAt: inv.ScheduledAt, TimeZone: inv.TimeZone, AskFeedback: asks}
		return nil
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return Redemption{}, s.redeemFailed(ctx, key, client)
	case err != nil:
		return Redemption{}, fmt.Errorf("redeem invite: %w", err)
	case refusal != nil:
		return Redemption{}, refusal
	}
	return red, nil
}

// publishPending announces a consultation that starts waiting: its queue's
// staff (or its named doctor) see it appear and its patient their place,
// in one round trip. It joins the end of the waiting list, so the others
// keep theirs and hear nothing (unless a clock behind the others' put it
// ahead of some: those are told their new place).
func (s *Service) publishPending(ctx context.Context, tx pgx.Tx, inv Invite) error {
	r := consultationRow{ID: inv.ConsultationID}
	if inv.QueueID != "" {
		r.QueueID = &inv.QueueID
	}
	if inv.DoctorID != "" {
		r.DoctorID = &inv.DoctorID
	}
	pending, err := events.New(events.TypeConsultationPending,
		map[string]string{"consultation_id": inv.ConsultationID, "queue_id": inv.QueueID}, topics(r)[1:]...)
	if err != nil {
		return err
	}
	return s.publishWaitingList(ctx, tx, r.QueueID, r.DoctorID, inv.ConsultationID, []events.Event{pending})
}

// redeemFailed counts a failure of the address, audits it and returns
// ErrInviteInvalid (or the error that prevented counting).
func (s *Service) redeemFailed(ctx context.Context, key string, client netip.Addr) error {
	err := pgx.BeginFunc(ctx, s.p.Pool, func(tx pgx.Tx) error {
		if err := s.throttle.Fail(ctx, tx, s.now(), throttle.Key{Name: key, Threshold: s.p.RedeemThreshold}); err != nil {
			return err
		}
		return s.p.Audit.AppendTx(ctx, tx, audit.Event{ActorType: audit.ActorSystem, ClientIP: client,
			Action: ActionInviteRefused, ObjectType: "invite", Outcome: audit.OutcomeFailure})
	})
	if err != nil {
		return fmt.Errorf("record failed redemption: %w", err)
	}
	return ErrInviteInvalid
}

// clientKey is the throttle key of a client address: the failures of
// every link-holding endpoint (redemption, interpreter accept links,
// feedback) count against it together.
func clientKey(client netip.Addr) string {
	if !client.IsValid() {
		return "ip:unknown"
	}
	return "ip:" + client.Unmap().WithZone("").String()
}

func (s *Service) checkThrottle(ctx context.Context, key string) error {
	wait, err := s.throttle.Wait(ctx, s.p.Pool, s.now(), key)
	if err != nil {
		return fmt.Errorf("redemption: %w", err)
	}
	if wait > 0 {
		return &ThrottledError{RetryAfter: wait}
	}
	return nil
}

// ParticipantPrincipal resolves a participant session token into its
// principal, or ErrInvalidSession.
func (s *Service) ParticipantPrincipal(ctx context.Context, rawToken string) (authz.Principal, error) {
	tok, err := ParseInviteToken(strings.TrimPrefix(rawToken, sessionPrefix))
	if err != nil {
		return authz.Principal{}, ErrInvalidSession
	}
	hash := tok.Hash()
	now := s.now()
	var participantID, consultationID, role string
	var lastSeen time.Time
	err = s.p.Pool.QueryRow(ctx, sqlParticipantSession, hash, now).Scan(&participantID, &consultationID, &role, &lastSeen)
	if errors.Is(err, pgx.ErrNoRows) {
		return authz.Principal{}, ErrInvalidSession
	}
	if err != nil {
		return authz.Principal{}, fmt.Errorf("participant session: %w", err)
	}
	if now.Sub(lastSeen) >= touchInterval {
		if _, err := s.p.Pool.Exec(ctx, sqlParticipantSessionTouch, hash, now); err != nil {
			return authz.Principal{}, fmt.Errorf("touch participant session: %w", err)
		}
	}
	return authz.Principal{Kind: "participant", ID: participantID, Role: authz.Role(role), ConsultationID: consultationID}, nil
}

// ParticipantView is what a participant sees of their place.
type ParticipantView struct {
	ParticipantID  string
	Role           authz.Role
	ConsultationID string
	Status         Status
	// QueueName is empty for a consultation with a named doctor.
	QueueName string
	// Language is the participant's (their invite's) language.
	Language string
	// ScheduledAt and TimeZone are their latest invite's appointment;
	// nil and empty when unscheduled.
	ScheduledAt *time.Time
	TimeZone    string
	// AskFeedback is true when the queue asks for feedback after the
	// close; FeedbackToken is then a fresh token for it (it replaces the
	// one of any earlier read), empty once feedback was given.
	AskFeedback   bool
	FeedbackToken string
}

const sqlParticipantView = `
SELECT p.id::text, p.role, c.id::text, c.status, coalesce(q.name, ''), p.language, i.scheduled_at, i.time_zone,
    coalesce(q.ask_feedback, false)
FROM participants p JOIN consultations c ON c.id = p.consultation_id LEFT JOIN queues q ON q.id = c.queue_id
LEFT JOIN LATERAL (SELECT scheduled_at, time_zone FROM invites WHERE participant_id = p.id
                   ORDER BY created_at DESC, id DESC LIMIT 1) i ON true
WHERE p.id = $1 AND c.id = $2`

// Participation returns the consultation of participant p if it is
// consultationID; any other consultation is ErrNotFound, audited as a
// denied read.
func (s *Service) Participation(ctx context.Context, p authz.Principal, consultationID string, client netip.Addr) (ParticipantView, error) {
	if !authz.InConsultation(p, consultationID) {
		if err := s.p.Audit.Append(ctx, audit.Event{ActorType: audit.ActorParticipant, ActorID: p.ID, ClientIP: client,
			Action: "consultation.read", ObjectType: "consultation", ObjectID: auditID(consultationID), Outcome: audit.OutcomeDenied}); err != nil {
			return ParticipantView{}, err
		}
		return ParticipantView{}, ErrNotFound
	}
	var v ParticipantView
	var role, status string
	var tz *string
	err := s.p.Pool.QueryRow(ctx, sqlParticipantView, p.ID, consultationID).Scan(&v.ParticipantID, &role, &v.ConsultationID,
		&status, &v.QueueName, &v.Language, &v.ScheduledAt, &tz, &v.AskFeedback)
	if err != nil {
		return ParticipantView{}, mapErr(err)
	}
	v.Role, v.Status, v.TimeZone = authz.Role(role), Status(status), deref(tz)
	if v.AskFeedback {
		if v.FeedbackToken, err = s.issueFeedbackToken(ctx, v.ParticipantID, v.ConsultationID); err != nil {
			return ParticipantView{}, err
		}
	}
	return v, nil
}

// auditID keeps whatever a caller typed as an id fit for the audit trail:
// a UUID as is, anything else as a short hash.
func auditID(s string) string {
	if isUUID(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:8])
}
