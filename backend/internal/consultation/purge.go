package consultation

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hcw-home/hcw/backend/internal/audit"
)

// ActionConsultationsPurged is the audit action of one run of the
// retention purge that deleted something: actor system, object_type
// "consultation_purge", object_id "<count>:<cutoff>" (how many
// consultations were deleted, and the RFC 3339 UTC instant before which
// they had closed). No consultation id is recorded: the run's row says
// how much went, the consultations' own rows say what they were.
const ActionConsultationsPurged = "consultations.purged"

// DefaultPurgeBatch is how many consultations one purge transaction
// deletes, with everything that hangs off them: small enough that no
// transaction holds its row locks for long.
const DefaultPurgeBatch = 500

// sqlPurgeClosed deletes one batch of consultations closed (completed or
// cancelled) before $1, oldest first. Their participants, invites,
// participant sessions, messages, read receipts, calls and call
// participants, feedback and feedback tokens, interpreter requests and
// their links, and presence rows go with them: every foreign key to
// consultations (and to participants, invites, calls and interpreter
// requests) is ON DELETE CASCADE, which TestPurgeForeignKeysCascade
// checks. consultation_stats is not bound to consultations (the reference
// runs the other way, consultations.stats_id), so the anonymous
// statistics stay. SKIP LOCKED leaves a consultation another transaction
// holds (or another replica's purge) for the next batch or run.
const sqlPurgeClosed = `
DELETE FROM consultations WHERE id IN (
    SELECT id FROM consultations
    WHERE status = 'closed' AND closed_at < $1
    ORDER BY closed_at, id
    LIMIT $2
    FOR UPDATE SKIP LOCKED)`

// sqlPurgeNeverOpened deletes one batch of consultations whose invitation
// lapsed before $1 unanswered: still 'invited' (the patient never opened
// the link), and every invite expired or revoked before $1. Without this,
// the names, addresses and notes of invitations nobody answered would be
// kept for ever. A reschedule moves expires_at, so it keeps the
// consultation. Same cascade and SKIP LOCKED as sqlPurgeClosed.
const sqlPurgeNeverOpened = `
DELETE FROM consultations WHERE id IN (
    SELECT c.id FROM consultations c
    WHERE c.status = 'invited' AND c.created_at < $1
      AND NOT EXISTS (
          SELECT 1 FROM invites i
          WHERE i.consultation_id = c.id AND COALESCE(i.revoked_at, i.expires_at) >= $1)
    ORDER BY c.created_at, c.id
    LIMIT $2
    FOR UPDATE SKIP LOCKED)`

// PurgeClosed deletes the consultations closed before cutoff, and those
// whose invitation lapsed unanswered before cutoff, with all their data,
// PurgeBatch at a time, each batch in its own transaction, and returns how
// many it deleted. A run that deleted any records one
// audit event (ActionConsultationsPurged), also when it stops part way
// through on an error or the end of ctx; the next run goes on from there.
func (s *Service) PurgeClosed(ctx context.Context, cutoff time.Time) (int64, error) {
	cutoff = cutoff.UTC().Truncate(time.Second)
	var total int64
	var err error
	for _, sql := range []string{sqlPurgeClosed, sqlPurgeNeverOpened} {
		for err == nil {
			tag, execErr := s.p.Pool.Exec(ctx, sql, cutoff, s.p.PurgeBatch)
			if execErr != nil {
				err = fmt.Errorf("purge consultations: %w", execErr)
				break
			}
			total += tag.RowsAffected()
			if tag.RowsAffected() < int64(s.p.PurgeBatch) || ctx.Err() != nil {
				break
			}
		}
		if err != nil || ctx.Err() != nil {
			break
		}
	}
	if total > 0 {
		// Recorded even when ctx ended: what was deleted stays deleted.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		aerr := s.p.Audit.Append(actx, audit.Event{ActorType: audit.ActorSystem, Action: ActionConsultationsPurged,
			ObjectType: "consultation_purge", ObjectID: strconv.FormatInt(total, 10) + ":" + cutoff.Format(time.RFC3339),
			Outcome: audit.OutcomeSuccess})
		if aerr != nil {
			err = errors.Join(err, fmt.Errorf("record purge: %w", aerr))
		}
	}
	return total, err
}
