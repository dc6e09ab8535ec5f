package consultation

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/authz"
)

// Audit actions of queues.
const (
	ActionQueueCreated        = "queue.created"
	ActionQueueChanged        = "queue.changed"
	ActionQueueDeleted        = "queue.deleted"
	ActionQueueMembersChanged = "queue.members_changed"
)

// MaxQueueMembers bounds one SetMembers call.
const MaxQueueMembers = 500

// Queue is a waiting room of consultations.
type Queue struct {
	ID                string    `db:"id"`
	Name              string    `db:"name"`
	ShowEstimatedTime bool      `db:"show_estimated_time"`
	AskFeedback       bool      `db:"ask_feedback"`
	CreatedAt         time.Time `db:"created_at"`
	UpdatedAt         time.Time `db:"updated_at"`
	// MemberIDs are the user ids of its members (doctors and nurses).
	MemberIDs []string `db:"member_ids"`
}

// QueueChange is a change to a queue; nil fields stay as they are.
type QueueChange struct {
	Name              *string
	ShowEstimatedTime *bool
	AskFeedback       *bool
}

const queueColumns = `q.id::text AS id, q.name, q.show_estimated_time, q.ask_feedback, q.created_at, q.updated_at,
    coalesce((SELECT array_agg(m.user_id::text ORDER BY m.user_id) FROM queue_members m WHERE m.queue_id = q.id), '{}') AS member_ids`

const (
	sqlQueueInsert = `
INSERT INTO queues (id, name, show_estimated_time, ask_feedback, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $5)`
	sqlQueueByID      = `SELECT ` + queueColumns + ` FROM queues q WHERE q.id = $1`
	sqlQueueForUpdate = sqlQueueByID + ` FOR UPDATE`
	sqlQueueList      = `SELECT ` + queueColumns + ` FROM queues q ORDER BY lower(q.name), q.id`
	sqlQueueListOf    = `
SELECT ` + queueColumns + ` FROM queues q
WHERE $1 OR q.id IN (SELECT queue_id FROM queue_members WHERE user_id = $2)
ORDER BY lower(q.name), q.id`
	sqlQueueUpdate = `
UPDATE queues SET name = $2, show_estimated_time = $3, ask_feedback = $4, updated_at = $5 WHERE id = $1`
	sqlQueueDelete       = `DELETE FROM queues WHERE id = $1`
	sqlQueueMembersClear = `DELETE FROM queue_members WHERE queue_id = $1`
	sqlQueueMembersAdd   = `
INSERT INTO queue_members (queue_id, user_id)
SELECT $1, u.id FROM users u WHERE u.id = ANY($2::uuid[]) AND u.role IN ('doctor', 'nurse')`

	// sqlQueueAccess is the one query behind a staff principal's queues.
	sqlQueueAccess = `
SELECT u.all_queues, coalesce(array_agg(m.queue_id::text ORDER BY m.queue_id) FILTER (WHERE m.queue_id IS NOT NULL), '{}')
FROM users u LEFT JOIN queue_members m ON m.user_id = u.id
WHERE u.id = $1
GROUP BY u.all_queues`
)

func validQueueName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 || strings.IndexFunc(name, unicode.IsControl) >= 0 || !utf8.ValidString(name) {
		return "", invalid("name", "must be 1 to 100 printable characters")
	}
	return name, nil
}

// CreateQueue creates a queue without members.
func (s *Service) CreateQueue(ctx context.Context, a Actor, name string, showEstimatedTime, askFeedback bool) (Queue, error) {
	name, err := validQueueName(name)
	if err != nil {
		return Queue{}, err
	}
	id := newUUID()
	var q Queue
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlQueueInsert, id, name, showEstimatedTime, askFeedback, s.now()); err != nil {
			return err
		}
		if q, err = queueIn(ctx, tx, sqlQueueByID, id); err != nil {
			return err
		}
		return s.record(ctx, tx, a, ActionQueueCreated, "queue", id, "", audit.OutcomeSuccess)
	})
	return q, err
}

func queueIn(ctx context.Context, tx pgx.Tx, query, id string) (Queue, error) {
	rows, _ := tx.Query(ctx, query, id)
	return pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Queue])
}

// Queue returns one queue with its members.
func (s *Service) Queue(ctx context.Context, id string) (Queue, error) {
	if !isUUID(id) {
		return Queue{}, ErrNotFound
	}
	rows, _ := s.p.Pool.Query(ctx, sqlQueueByID, id)
	q, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Queue])
	return q, mapErr(err)
}

// Queues returns every queue, by name.
func (s *Service) Queues(ctx context.Context) ([]Queue, error) {
	rows, _ := s.p.Pool.Query(ctx, sqlQueueList)
	qs, err := pgx.CollectRows(rows, pgx.RowToStructByName[Queue])
	return qs, mapErr(err)
}

// QueuesOf returns the queues p sees (authz.CanSeeQueue): every queue for
// admins and "all queues" staff, their own for the other doctors and
// nurses, none for anyone else.
func (s *Service) QueuesOf(ctx context.Context, p authz.Principal) ([]Queue, error) {
	if p.Kind != "user" || (p.Role != authz.RoleAdmin && p.Role != authz.RoleDoctor && p.Role != authz.RoleNurse) {
		return []Queue{}, nil
	}
	all := p.Role == authz.RoleAdmin || p.AllQueues
	rows, _ := s.p.Pool.Query(ctx, sqlQueueListOf, all, p.UserID)
	qs, err := pgx.CollectRows(rows, pgx.RowToStructByName[Queue])
	return qs, mapErr(err)
}

// UpdateQueue changes a queue.
func (s *Service) UpdateQueue(ctx context.Context, a Actor, id string, c QueueChange) (Queue, error) {
	if !isUUID(id) {
		return Queue{}, ErrNotFound
	}
	var q Queue
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := queueIn(ctx, tx, sqlQueueForUpdate, id)
		if err != nil {
			return err
		}
		if c.Name != nil {
			if cur.Name, err = validQueueName(*c.Name); err != nil {
				return err
			}
		}
		if c.ShowEstimatedTime != nil {
			cur.ShowEstimatedTime = *c.ShowEstimatedTime
		}
		if c.AskFeedback != nil {
			cur.AskFeedback = *c.AskFeedback
		}
		if _, err := tx.Exec(ctx, sqlQueueUpdate, id, cur.Name, cur.ShowEstimatedTime, cur.AskFeedback, s.now()); err != nil {
			return err
		}
		if q, err = queueIn(ctx, tx, sqlQueueByID, id); err != nil {
			return err
		}
		return s.record(ctx, tx, a, ActionQueueChanged, "queue", id, "", audit.OutcomeSuccess)
	})
	return q, err
}

// DeleteQueue deletes a queue that no consultation refers to
// (ErrQueueInUse otherwise).
func (s *Service) DeleteQueue(ctx context.Context, a Actor, id string) error {
	if !isUUID(id) {
		return ErrNotFound
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sqlQueueDelete, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return s.record(ctx, tx, a, ActionQueueDeleted, "queue", id, "", audit.OutcomeSuccess)
	})
}

// SetMembers replaces a queue's members. Every id must be a doctor or a
// nurse (a *FieldError on user_ids otherwise). Principals are built per
// request, so the change applies to the members' next request.
func (s *Service) SetMembers(ctx context.Context, a Actor, id string, userIDs []string) (Queue, error) {
	if !isUUID(id) {
		return Queue{}, ErrNotFound
	}
	if len(userIDs) > MaxQueueMembers {
		return Queue{}, invalid("user_ids", "has too many entries")
	}
	seen := map[string]bool{}
	uniq := make([]string, 0, len(userIDs))
	for _, u := range userIDs {
		u = strings.ToLower(u)
		if !isUUID(u) {
			return Queue{}, invalid("user_ids", "must hold user ids")
		}
		if !seen[u] {
			seen[u] = true
			uniq = append(uniq, u)
		}
	}
	var q Queue
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := queueIn(ctx, tx, sqlQueueForUpdate, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlQueueMembersClear, id); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, sqlQueueMembersAdd, id, uniq)
		if err != nil {
			return err
		}
		if int(tag.RowsAffected()) != len(uniq) {
			return invalid("user_ids", "must name doctors and nurses only")
		}
		if q, err = queueIn(ctx, tx, sqlQueueByID, id); err != nil {
			return err
		}
		return s.record(ctx, tx, a, ActionQueueMembersChanged, "queue", id, "", audit.OutcomeSuccess)
	})
	return q, err
}

// QueueAccess returns a staff member's "all queues" switch and the queues
// they belong to, in one query, for their principal.
func (s *Service) QueueAccess(ctx context.Context, userID string) (all bool, queueIDs []string, err error) {
	err = s.p.Pool.QueryRow(ctx, sqlQueueAccess, userID).Scan(&all, &queueIDs)
	if err != nil {
		return false, nil, mapErr(err)
	}
	return all, queueIDs, nil
}
