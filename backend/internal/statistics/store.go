// Package statistics reports the anonymous per-consultation figures kept
// in consultation_stats (one row per closed consultation, no names or
// ids): per day and queue, and in total, for administrators.
package statistics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MaxDays is the longest range one report covers.
const MaxDays = 366

// DefaultDays is the range of a report that names no dates: the last 30
// days, today included.
const DefaultDays = 30

// ErrInvalidFilter is wrapped by every refusal of a filter.
var ErrInvalidFilter = errors.New("invalid filter")

// Filter selects the consultations closed on From through To (whole UTC
// days, both included), in one queue when QueueID is set.
type Filter struct {
	From, To time.Time
	QueueID  string
}

// Days is the number of days the filter covers.
func (f Filter) Days() int { return int(f.To.Sub(f.From).Hours()/24) + 1 }

// Figures are the counts and times of a set of closed consultations.
// Averages and the 90th percentile are nil when no consultation in the
// set has the time (never accepted, for instance).
type Figures struct {
	Closed                 int      `json:"closed" db:"closed"`
	Completed              int      `json:"completed" db:"completed"`
	Cancelled              int      `json:"cancelled" db:"cancelled"`
	AvgWaitSeconds         *float64 `json:"avg_wait_seconds" db:"avg_wait_seconds"`
	P90WaitSeconds         *float64 `json:"p90_wait_seconds" db:"p90_wait_seconds"`
	AvgConsultationSeconds *float64 `json:"avg_consultation_seconds" db:"avg_consultation_seconds"`
	Calls                  int      `json:"calls" db:"calls"`
	FeedbackGood           int      `json:"feedback_good" db:"feedback_good"`
	FeedbackOK             int      `json:"feedback_ok" db:"feedback_ok"`
	FeedbackBad            int      `json:"feedback_bad" db:"feedback_bad"`
}

// Row is the figures of one day in one queue. QueueID is nil for
// consultations whose queue has since been deleted.
type Row struct {
	Day       string  `json:"day" doc:"YYYY-MM-DD (UTC)"`
	QueueID   *string `json:"queue_id"`
	QueueName string  `json:"queue_name,omitempty"`
	Figures   Figures `json:"figures"`
}

// Report is the figures of a filter: the days with at least one closed
// consultation, by day then queue name, and the totals of the range.
type Report struct {
	From    string  `json:"from"`
	To      string  `json:"to"`
	QueueID string  `json:"queue_id,omitempty"`
	Rows    []Row   `json:"rows"`
	Totals  Figures `json:"totals"`
}

// Store reads consultation_stats.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// reportSQL computes the day-and-queue groups and the total in one pass;
// is_total tells them apart. Days are UTC days of closed_at. The 90th
// percentile is interpolated (percentile_cont) over the rows that have a
// waiting time.
const reportSQL = `
SELECT grouping(day, s.queue_id) <> 0 AS is_total,
       coalesce(day::text, '') AS day,
       s.queue_id::text AS queue_id,
       coalesce(max(q.name), '') AS queue_name,
       count(*)::int AS closed,
       (count(*) FILTER (WHERE close_reason = 'completed'))::int AS completed,
       (count(*) FILTER (WHERE close_reason = 'cancelled'))::int AS cancelled,
       round(avg(waited_seconds), 1)::float8 AS avg_wait_seconds,
       round((percentile_cont(0.9) WITHIN GROUP (ORDER BY waited_seconds))::numeric, 1)::float8 AS p90_wait_seconds,
       round(avg(duration_seconds), 1)::float8 AS avg_consultation_seconds,
       coalesce(sum(calls_count), 0)::int AS calls,
       coalesce(sum(feedback_good), 0)::int AS feedback_good,
       coalesce(sum(feedback_ok), 0)::int AS feedback_ok,
       coalesce(sum(feedback_bad), 0)::int AS feedback_bad
FROM consultation_stats s
CROSS JOIN LATERAL (SELECT (s.closed_at AT TIME ZONE 'UTC')::date AS day) d
LEFT JOIN queues q ON q.id = s.queue_id
WHERE s.closed_at >= $1 AND s.closed_at < $2
  AND ($3::uuid IS NULL OR s.queue_id = $3::uuid)
GROUP BY GROUPING SETS ((day, s.queue_id), ())
ORDER BY is_total, day, queue_name, queue_id`

type line struct {
	IsTotal   bool    `db:"is_total"`
	Day       string  `db:"day"`
	QueueID   *string `db:"queue_id"`
	QueueName string  `db:"queue_name"`
	Figures
}

// Report computes the figures of f.
func (s *Store) Report(ctx context.Context, f Filter) (Report, error) {
	var queue *string
	if f.QueueID != "" {
		queue = &f.QueueID
	}
	rows, err := s.pool.Query(ctx, reportSQL, f.From, f.To.AddDate(0, 0, 1), queue)
	if err != nil {
		return Report{}, fmt.Errorf("statistics: %w", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowToStructByName[line])
	if err != nil {
		return Report{}, fmt.Errorf("statistics: %w", err)
	}
	out := Report{From: f.From.Format(time.DateOnly), To: f.To.Format(time.DateOnly), QueueID: f.QueueID, Rows: []Row{}}
	for _, l := range lines {
		if l.IsTotal {
			out.Totals = l.Figures
			continue
		}
		out.Rows = append(out.Rows, Row{Day: l.Day, QueueID: l.QueueID, QueueName: l.QueueName, Figures: l.Figures})
	}
	return out, nil
}
