package statistics

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// FieldError is a refusal of one query parameter.
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes every FieldError an ErrInvalidFilter.
func (e *FieldError) Unwrap() error { return ErrInvalidFilter }

// ParseFilter reads from, to (YYYY-MM-DD, UTC) and queue_id. Without
// dates the range is the DefaultDays days up to today; with one date only
// the other is DefaultDays days away.
func ParseFilter(q url.Values, now time.Time) (Filter, error) {
	var f Filter
	date := func(field string) (time.Time, bool, error) {
		v := strings.TrimSpace(q.Get(field))
		if v == "" {
			return time.Time{}, false, nil
		}
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return time.Time{}, false, &FieldError{field, "must be a date, YYYY-MM-DD"}
		}
		return d, true, nil
	}
	from, hasFrom, err := date("from")
	if err != nil {
		return f, err
	}
	to, hasTo, err := date("to")
	if err != nil {
		return f, err
	}
	today := now.UTC().Truncate(24 * time.Hour)
	switch {
	case !hasFrom && !hasTo:
		to = today
		from = to.AddDate(0, 0, -(DefaultDays - 1))
	case !hasFrom:
		from = to.AddDate(0, 0, -(DefaultDays - 1))
	case !hasTo:
		to = from.AddDate(0, 0, DefaultDays-1)
	}
	f.From, f.To = from, to
	if to.Before(from) {
		return f, &FieldError{"to", "must not be before from"}
	}
	if f.Days() > MaxDays {
		return f, &FieldError{"to", fmt.Sprintf("the range must cover at most %d days", MaxDays)}
	}
	if id := strings.TrimSpace(q.Get("queue_id")); id != "" {
		if !uuidPattern.MatchString(id) {
			return f, &FieldError{"queue_id", "must be a queue id"}
		}
		f.QueueID = strings.ToLower(id)
	}
	return f, nil
}
