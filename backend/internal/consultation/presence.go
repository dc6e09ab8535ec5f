package consultation

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hcw-home/hcw/backend/internal/authz"
	"github.com/hcw-home/hcw/backend/internal/events"
)

// Presence across replicas. Each replica (a random id per process) keeps
// one participant_presence row per participant with a socket open there,
// holding its socket count, and refreshes updated_at of its rows every
// PresenceHeartbeat. A participant is online while any of their rows is
// younger than PresenceTTL: a replica that dies takes its participants
// offline within PresenceTTL without anyone cleaning up, and the next
// heartbeat of any replica sweeps its rows and announces the change.
const (
	PresenceHeartbeat = 30 * time.Second
	PresenceTTL       = 90 * time.Second
)

const (
	// sqlPresenceAsync: presence is soft state that heartbeats repair and
	// every replica refetches after losing its listener, so its commits
	// need not wait for the WAL to reach the disk. They publish events,
	// and PostgreSQL serialises the commits of every transaction that
	// notifies, flush included: not waiting keeps presence out of the way
	// of the changes that must be durable.
	sqlPresenceAsync  = `SET LOCAL synchronous_commit TO off`
	sqlPresenceLock   = `SELECT pg_advisory_xact_lock(hashtextextended('presence:' || $1, 0))`
	sqlPresenceOnline = `SELECT EXISTS (SELECT 1 FROM participant_presence WHERE participant_id = $1 AND updated_at > $2)`
	sqlPresenceUpsert = `
INSERT INTO participant_presence (participant_id, replica_id, sockets, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (participant_id, replica_id) DO UPDATE SET sockets = EXCLUDED.sockets, updated_at = EXCLUDED.updated_at`
	sqlPresenceDelete    = `DELETE FROM participant_presence WHERE participant_id = $1 AND replica_id = $2`
	sqlPresenceHeartbeat = `UPDATE participant_presence SET updated_at = $2 WHERE replica_id = $1`
	sqlPresenceSweep     = `DELETE FROM participant_presence WHERE updated_at <= $1 RETURNING participant_id::text`
	sqlPresenceOf        = `
SELECT c.id::text, c.queue_id::text, c.doctor_id::text FROM participants p JOIN consultations c ON c.id = p.consultation_id
WHERE p.id = $1`
)

// SetPresence records that participant p has sockets open on replica
// (0: none) and, when that changes whether p is online anywhere,
// publishes participant.presence to the consultation's participants, its
// queue and its doctor. The statements go in two batches (lock and state
// before; change, state after and the consultation), plus the event when
// there is one.
func (s *Service) SetPresence(ctx context.Context, replica string, p authz.Principal, sockets int) error {
	if p.Kind != "participant" || !isUUID(p.ID) {
		return nil
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		now := s.now()
		since := now.Add(-PresenceTTL)
		var before, after bool
		b := &pgx.Batch{}
		b.Queue(sqlPresenceAsync)
		b.Queue(sqlPresenceLock, p.ID)
		b.Queue(sqlPresenceOnline, p.ID, since).QueryRow(func(row pgx.Row) error { return row.Scan(&before) })
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		var r consultationRow
		b = &pgx.Batch{}
		if sockets > 0 {
			b.Queue(sqlPresenceUpsert, p.ID, replica, sockets, now)
		} else {
			b.Queue(sqlPresenceDelete, p.ID, replica)
		}
		b.Queue(sqlPresenceOnline, p.ID, since).QueryRow(func(row pgx.Row) error { return row.Scan(&after) })
		b.Queue(sqlPresenceOf, p.ID).QueryRow(func(row pgx.Row) error { return row.Scan(&r.ID, &r.QueueID, &r.DoctorID) })
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if after == before {
			return nil
		}
		return publishPresence(ctx, tx, r, p.ID, after)
	})
}

// announcePresence publishes participant.presence when the participant's
// online state is no longer before.
func (s *Service) announcePresence(ctx context.Context, tx pgx.Tx, participantID string, before bool, now time.Time) error {
	var after bool
	if err := tx.QueryRow(ctx, sqlPresenceOnline, participantID, now.Add(-PresenceTTL)).Scan(&after); err != nil {
		return err
	}
	if after == before {
		return nil
	}
	var r consultationRow
	if err := tx.QueryRow(ctx, sqlPresenceOf, participantID).Scan(&r.ID, &r.QueueID, &r.DoctorID); err != nil {
		return err
	}
	return publishPresence(ctx, tx, r, participantID, after)
}

func publishPresence(ctx context.Context, tx pgx.Tx, r consultationRow, participantID string, online bool) error {
	return events.PublishData(ctx, tx, events.TypeParticipantPresence,
		map[string]any{"consultation_id": r.ID, "participant_id": participantID, "online": online}, topics(r)...)
}

// PresenceHeartbeat refreshes replica's rows, then removes every row past
// PresenceTTL (those of replicas that died) and announces the
// participants it took offline.
func (s *Service) PresenceHeartbeat(ctx context.Context, replica string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		now := s.now()
		if _, err := tx.Exec(ctx, sqlPresenceAsync); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlPresenceHeartbeat, replica, now); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, sqlPresenceSweep, now.Add(-PresenceTTL))
		gone, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, id := range gone {
			if seen[id] {
				continue
			}
			seen[id] = true
			// They were online only by a stale row, i.e. already offline
			// to readers; announce it now.
			if err := s.announcePresence(ctx, tx, id, true, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// RunPresenceHeartbeat calls PresenceHeartbeat every PresenceHeartbeat
// until ctx ends, logging failures.
func (s *Service) RunPresenceHeartbeat(ctx context.Context, replica string) {
	t := time.NewTicker(PresenceHeartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.PresenceHeartbeat(ctx, replica); err != nil && ctx.Err() == nil {
				s.p.Logger.Error("presence heartbeat failed", "error", err.Error())
			}
		}
	}
}
