package consultation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"

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
)

// Redeem exchanges an invite token for a participant session; see the
// package documentation for the refusals. Only unknown tokens count as
// failures of the client address: the other refusals need a real token,
// which guessing cannot produce.
func (s *Service) Redeem(ctx context.Context, rawToken string, client netip.Addr) (Redemption, error) {
	key := "ip:unknown"
	if client.IsValid() {
		key = "ip:" + client.Unmap().WithZone("").String()
	}
	if err := s.checkThrottle(ctx, key); err != nil {
		return Redemption{}, err
	}
	tok, err := ParseInviteToken(rawToken)
	if err != nil {
		return Redemption{}, s.redeemFailed(ctx, key, client)
	}
	var red Redemption
	var refusal error
	err = s.inTx(ctx, func(tx pgx.Tx) error {
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
		case inv.ScheduledAt != nil && now.Before(inv.ScheduledAt.Add(-s.p.InviteEarly)):
			opensAt := inv.ScheduledAt.Add(-s.p.InviteEarly)
			to := InviteStatus("")
			if inv.stored != InviteOpened && inv.stored.CanBecome(InviteOpened) {
				to = InviteOpened
			}
			return refuse(&TooEarlyError{OpensAt: opensAt}, to)
		}
		first := inv.stored != InviteRedeemed
		if first {
			if !inv.stored.CanBecome(InviteRedeemed) {
				return refuse(ErrInvalidTransition, "")
			}
			if _, err := tx.Exec(ctx, sqlInviteSetStatus, inv.ID, string(InviteRedeemed), now, nil); err != nil {
				return err
			}
			if inv.Role == authz.RolePatient {
				tag, err := tx.Exec(ctx, sqlConsultationToPending, inv.ConsultationID, now)
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 1 {
					if err := s.publishPending(ctx, tx, inv); err != nil {
						return err
					}
				}
			}
			if err := s.record(ctx, tx, participant, ActionInviteRedeemed, "invite", inv.ID, inv.ConsultationID, audit.OutcomeSuccess); err != nil {
				return err
			}
		}
		sessTok := newToken()
		expires := now.Add(s.p.SessionLifetime)
		if _, err := tx.Exec(ctx, sqlParticipantSessionInsert, sessTok.Hash(), inv.ParticipantID, inv.ConsultationID, now, expires); err != nil {
			return err
		}
		sum := sessTok.Hash()
		if err := s.record(ctx, tx, participant, ActionParticipantSession, "participant_session", hex.EncodeToString(sum[:16]),
			inv.ConsultationID, audit.OutcomeSuccess); err != nil {
			return err
		}
		red = Redemption{Token: sessTok.String(), ExpiresAt: expires, ParticipantID: inv.ParticipantID,
			ConsultationID: inv.ConsultationID, Role: inv.Role, First: first}
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
// staff (or its named doctor) see it appear, the others waiting their
// places.
func (s *Service) publishPending(ctx context.Context, tx pgx.Tx, inv Invite) error {
	r := consultationRow{ID: inv.ConsultationID}
	if inv.QueueID != "" {
		r.QueueID = &inv.QueueID
	}
	if inv.DoctorID != "" {
		r.DoctorID = &inv.DoctorID
	}
	if err := events.PublishData(ctx, tx, events.TypeConsultationPending,
		map[string]string{"consultation_id": inv.ConsultationID, "queue_id": inv.QueueID}, topics(r)[1:]...); err != nil {
		return err
	}
	return s.publishQueueChange(ctx, tx, r.QueueID, r.DoctorID)
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
	tok, err := ParseInviteToken(rawToken)
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
}

const sqlParticipantView = `
SELECT p.id::text, p.role, c.id::text, c.status, coalesce(q.name, '')
FROM participants p JOIN consultations c ON c.id = p.consultation_id LEFT JOIN queues q ON q.id = c.queue_id
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
	err := s.p.Pool.QueryRow(ctx, sqlParticipantView, p.ID, consultationID).Scan(&v.ParticipantID, &role, &v.ConsultationID, &status, &v.QueueName)
	if err != nil {
		return ParticipantView{}, mapErr(err)
	}
	v.Role, v.Status = authz.Role(role), Status(status)
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
