package audit

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Bounds of a listing page.
const (
	DefaultListLimit = 50
	MaxListLimit     = 200
)

// FieldError is the refusal of one filter.
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes every FieldError an ErrInvalidFilter.
func (e *FieldError) Unwrap() error { return ErrInvalidFilter }

// Filter selects the rows List answers. Empty strings and zero times match
// every row.
type Filter struct {
	// Action matches exactly, e.g. "sign_in.failure".
	Action string
	// ActorType is one of the Actor* constants; ActorID matches exactly
	// (a user id, API key id or participant id).
	ActorType, ActorID string
	// ObjectType and ObjectID match what was acted upon, exactly.
	ObjectType, ObjectID string
	// ConsultationID matches the consultation the event is linked to.
	ConsultationID string
	// Outcome is one of the Outcome* constants.
	Outcome string
	// From (included) and To (excluded) bound the event time.
	From, To time.Time
	// Before answers only rows with a smaller seq: the cursor of the next
	// page (Page.NextBefore). 0 starts at the newest row.
	Before int64
	// Limit is 1 to MaxListLimit; 0 means DefaultListLimit.
	Limit int
}

// ParseFilter reads a filter from query parameters: action, actor_type,
// actor_id, object_type, object_id, consultation_id, outcome, from, to
// (RFC 3339), before (a seq) and limit. Each value is checked against the
// shape the trail stores, so a refusal is one *FieldError naming the
// parameter.
func ParseFilter(q url.Values) (Filter, error) {
	var f Filter
	get := func(name string) string { return strings.TrimSpace(q.Get(name)) }
	f.Action = get("action")
	if f.Action != "" && (len(f.Action) > maxNameLen || !actionPattern.MatchString(f.Action)) {
		return f, &FieldError{"action", fmt.Sprintf("must be a dotted lower-case action name such as sign_in.failure (at most %d bytes)", maxNameLen)}
	}
	switch f.ActorType = get("actor_type"); f.ActorType {
	case "", ActorUser, ActorAPIKey, ActorParticipant, ActorSystem:
	default:
		return f, &FieldError{"actor_type", "must be user, api_key, participant or system"}
	}
	f.ObjectType = get("object_type")
	if f.ObjectType != "" && (len(f.ObjectType) > maxNameLen || !namePattern.MatchString(f.ObjectType)) {
		return f, &FieldError{"object_type", fmt.Sprintf("must be a lower-case name such as session (at most %d bytes)", maxNameLen)}
	}
	for _, id := range []struct {
		name string
		dst  *string
	}{{"actor_id", &f.ActorID}, {"object_id", &f.ObjectID}, {"consultation_id", &f.ConsultationID}} {
		*id.dst = get(id.name)
		if v := *id.dst; v != "" && (len(v) > maxIDLen || !idPattern.MatchString(v)) {
			return f, &FieldError{id.name, fmt.Sprintf("must be an identifier of at most %d characters from A-Z a-z 0-9 . _ : @ + -", maxIDLen)}
		}
	}
	switch f.Outcome = get("outcome"); f.Outcome {
	case "", OutcomeSuccess, OutcomeFailure, OutcomeDenied:
	default:
		return f, &FieldError{"outcome", "must be success, failure or denied"}
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		v := get(t.name)
		if v == "" {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return f, &FieldError{t.name, "must be an RFC 3339 time such as 2026-03-01T08:00:00Z"}
		}
		*t.dst = at
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return f, &FieldError{"to", "must be after from"}
	}
	if v := get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return f, &FieldError{"before", "must be a positive integer: the next_before of the previous page"}
		}
		f.Before = n
	}
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxListLimit {
			return f, &FieldError{"limit", fmt.Sprintf("must be 1 to %d", MaxListLimit)}
		}
		f.Limit = n
	}
	return f, nil
}

// Record is one row of the trail as an auditor reads it: everything but
// the chain's hashes. No column holds free text or health data.
type Record struct {
	Seq            int64     `db:"seq"`
	At             time.Time `db:"at"`
	ActorType      string    `db:"actor_type"`
	ActorID        *string   `db:"actor_id"`
	Action         string    `db:"action"`
	ObjectType     *string   `db:"object_type"`
	ObjectID       *string   `db:"object_id"`
	ConsultationID *string   `db:"consultation_id"`
	ClientIP       *string   `db:"client_ip"`
	Outcome        string    `db:"outcome"`
}

// Page is one page of List, newest first.
type Page struct {
	Records []Record
	// NextBefore is the Filter.Before of the next page; 0 on the last.
	NextBefore int64
}

const sqlListSelect = `
SELECT seq, at, actor_type, actor_id, action, object_type, object_id, consultation_id,
       host(client_ip) AS client_ip, outcome
FROM audit_events`

// List answers the rows f selects, newest (highest seq) first. Pages are
// cut by seq, which only grows, so walking NextBefore neither skips nor
// repeats a row, whatever is appended meanwhile.
func (s *Store) List(ctx context.Context, f Filter) (Page, error) {
	limit := f.Limit
	switch {
	case limit == 0:
		limit = DefaultListLimit
	case limit < 0 || limit > MaxListLimit:
		return Page{}, &FieldError{"limit", fmt.Sprintf("must be 1 to %d", MaxListLimit)}
	}
	// Only the conditions in use go into the query, so each filter can
	// use its index (a generic plan of "$1 IS NULL OR action = $1" could
	// not).
	var where []string
	var args []any
	cond := func(sql string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(sql, len(args)))
	}
	for _, c := range []struct{ column, v string }{
		{"action", f.Action}, {"actor_type", f.ActorType}, {"actor_id", f.ActorID}, {"object_type", f.ObjectType},
		{"object_id", f.ObjectID}, {"consultation_id", f.ConsultationID}, {"outcome", f.Outcome},
	} {
		if c.v != "" {
			cond(c.column+" = $%d", c.v)
		}
	}
	if !f.From.IsZero() {
		cond("at >= $%d", f.From)
	}
	if !f.To.IsZero() {
		cond("at < $%d", f.To)
	}
	before := f.Before
	if before <= 0 {
		before = math.MaxInt64
	}
	cond("seq < $%d", before)
	args = append(args, limit+1)
	query := sqlListSelect + " WHERE " + strings.Join(where, " AND ") + fmt.Sprintf(" ORDER BY seq DESC LIMIT $%d", len(args))
	rows, _ := s.pool.Query(ctx, query, args...)
	records, err := pgx.CollectRows(rows, pgx.RowToStructByName[Record])
	if err != nil {
		return Page{}, fmt.Errorf("list audit events: %w", err)
	}
	page := Page{Records: records}
	if len(records) > limit {
		page.Records = records[:limit]
		page.NextBefore = records[limit-1].Seq
	}
	return page, nil
}
