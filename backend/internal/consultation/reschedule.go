package consultation

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
)

// ActionInviteRescheduled is the audit action of moving an invite's
// appointment.
const ActionInviteRescheduled = "invite.rescheduled"

const (
	sqlInviteReschedule = `
UPDATE invites SET scheduled_at = $2, time_zone = $3, expires_at = $4, updated_at = $5 WHERE id = $1`
	sqlInviteRetoken = `UPDATE invites SET token_hash = $2 WHERE id = $1`
)

// Reschedule moves the appointment of an invite not yet redeemed (any
// role) to at in timeZone (IANA): its expiry and the window in which it
// opens move with it (the invite validity after, the opening lead before:
// inviteTiming). An invite
// delivered by e-mail is mailed again with the new time and .ics; since
// only the token's hash is kept, that mail carries a new link, which
// replaces the old one (the answer holds it once). An invite delivered as
// a link keeps its link. Who may: as for resending (mayManage).
func (s *Service) Reschedule(ctx context.Context, p authz.Principal, a Actor, id string, at *time.Time, timeZone string) (Issued, error) {
	if at == nil {
		return Issued{}, invalid("scheduled_at", "is required")
	}
	if timeZone == "" {
		return Issued{}, invalid("time_zone", "is required")
	}
	ttl, _, err := s.inviteTiming(ctx)
	if err != nil {
		return Issued{}, err
	}
	now := s.now()
	expires, err := validateSchedule(&at, timeZone, now, ttl)
	if err != nil {
		return Issued{}, err
	}
	if _, err := s.Invite(ctx, p, id); err != nil {
		return Issued{}, err
	}
	var tok *Token
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := s.inviteIn(ctx, tx, sqlInviteForUpdate, id)
		if err != nil {
			return err
		}
		if cur.ConsultationStatus == StatusClosed {
			return ErrConsultationClosed
		}
		if !cur.stored.unredeemed() {
			return ErrInvalidTransition
		}
		if _, err := tx.Exec(ctx, sqlInviteReschedule, id, *at, timeZone, expires, now); err != nil {
			return err
		}
		if cur.Delivery == DeliveryEmail {
			t := newToken()
			tok = &t
			if _, err := tx.Exec(ctx, sqlInviteRetoken, id, t.Hash()); err != nil {
				return err
			}
		}
		if err := publishInviteUpdated(ctx, tx, cur); err != nil {
			return err
		}
		return s.record(ctx, tx, a, ActionInviteRescheduled, "invite", id, cur.ConsultationID, audit.OutcomeSuccess)
	})
	if err != nil {
		return Issued{}, err
	}
	if tok == nil {
		inv, err := s.invite(ctx, id)
		return Issued{Invite: inv}, err
	}
	return s.issue(ctx, a, id, *tok)
}
