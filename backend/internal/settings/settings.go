// Package settings keeps the instance settings that administrators edit:
// branding (product and clinic name, colours, logo), how long closed
// consultations are kept, the languages offered to patients and the
// invite timing that overrides HCW_INVITE_TTL and HCW_INVITE_EARLY.
//
// The values live in the settings table, one row per key with a JSON
// value (migration 0001), the logo in branding_logo (0012). Every replica
// caches them for CacheTTL, so the public branding route does not query
// the database per request; a replica that changes them drops its own
// cache at once, the others see the change within CacheTTL.
package settings

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Languages are the languages the patient app is translated into, in the
// order a picker shows them.
var Languages = []string{"en", "fr", "de", "es", "it", "ar"}

// Defaults and bounds of the settings.
const (
	DefaultProductName  = "HCW@Home"
	DefaultPrimaryColor = "#0b5cad"
	DefaultAccentColor  = "#f2a900"

	MaxProductNameRunes = 60
	MaxClinicNameRunes  = 100

	DefaultRetentionDays = 30
	MinRetentionDays     = 1
	MaxRetentionDays     = 3650

	// An invite is valid for 5 minutes to 30 days after its scheduled
	// time (or its creation); it opens up to a week before.
	MinInviteTTLMinutes   = 5
	MaxInviteTTLMinutes   = 30 * 24 * 60
	MaxInviteEarlyMinutes = 7 * 24 * 60
)

// Sentinel errors of the package.
var (
	// ErrInvalid is wrapped by every refusal of a settings document or
	// logo.
	ErrInvalid = errors.New("invalid settings")
	// ErrNoLogo means no logo is stored.
	ErrNoLogo = errors.New("no logo")
)

// FieldError is the refusal of one field.
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes every FieldError an ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Settings is the settings document: PUT /api/v1/admin/settings takes it
// whole, GET answers it.
type Settings struct {
	ProductName  string `json:"product_name" doc:"the product name shown to users, 1-60 characters (default HCW@Home)"`
	ClinicName   string `json:"clinic_name" doc:"the clinic's name, 0-100 characters; empty for none"`
	PrimaryColor string `json:"primary_color" doc:"#rrggbb (default #0b5cad); answered in lower case"`
	AccentColor  string `json:"accent_color" doc:"#rrggbb (default #f2a900); answered in lower case"`
	// ClosedConsultationRetentionDays drives the purge of closed
	// consultations (package consultation, PurgeClosed).
	ClosedConsultationRetentionDays int      `json:"closed_consultation_retention_days" doc:"closed and cancelled consultations, with their messages, participants, invites and calls, are deleted this many days after they closed; 1-3650 (default 30); anonymous statistics and the audit trail stay"`
	Languages                       []string `json:"languages" doc:"the languages offered to patients, at least one of en, fr, de, es, it, ar, no repeats, in the order given (default all six)"`
	InviteTTLMinutes                *int     `json:"invite_ttl_minutes" doc:"how long an invite stays valid after its scheduled time (or its creation when unscheduled), 5-43200 minutes; null: the HCW_INVITE_TTL default"`
	InviteEarlyMinutes              *int     `json:"invite_early_minutes" doc:"how long before its scheduled time an invite opens, 0-10080 minutes and shorter than the validity; null: the HCW_INVITE_EARLY default"`
}

// Defaults returns the settings of an instance nobody has configured.
func Defaults() Settings {
	return Settings{
		ProductName: DefaultProductName, PrimaryColor: DefaultPrimaryColor, AccentColor: DefaultAccentColor,
		ClosedConsultationRetentionDays: DefaultRetentionDays, Languages: slices.Clone(Languages),
	}
}

var colorPattern = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// Normalize validates s and returns it in its stored form (names trimmed,
// colours lower-cased). defaultTTL and defaultEarly are the environment's
// invite timing, against which an override of only one of the two is
// checked.
func (s Settings) Normalize(defaultTTL, defaultEarly time.Duration) (Settings, error) {
	s.ProductName = strings.TrimSpace(s.ProductName)
	s.ClinicName = strings.TrimSpace(s.ClinicName)
	if err := checkName("product_name", s.ProductName, 1, MaxProductNameRunes); err != nil {
		return s, err
	}
	if err := checkName("clinic_name", s.ClinicName, 0, MaxClinicNameRunes); err != nil {
		return s, err
	}
	for _, c := range []struct {
		field string
		v     *string
	}{{"primary_color", &s.PrimaryColor}, {"accent_color", &s.AccentColor}} {
		if !colorPattern.MatchString(*c.v) {
			return s, &FieldError{c.field, "must be a colour in the form #rrggbb"}
		}
		*c.v = strings.ToLower(*c.v)
	}
	if d := s.ClosedConsultationRetentionDays; d < MinRetentionDays || d > MaxRetentionDays {
		return s, &FieldError{"closed_consultation_retention_days", fmt.Sprintf("must be %d to %d days", MinRetentionDays, MaxRetentionDays)}
	}
	if len(s.Languages) == 0 {
		return s, &FieldError{"languages", "must offer at least one language"}
	}
	for i, l := range s.Languages {
		if !slices.Contains(Languages, l) {
			return s, &FieldError{"languages", "must be among " + strings.Join(Languages, ", ")}
		}
		if slices.Contains(s.Languages[:i], l) {
			return s, &FieldError{"languages", "must not name a language twice"}
		}
	}
	if m := s.InviteTTLMinutes; m != nil && (*m < MinInviteTTLMinutes || *m > MaxInviteTTLMinutes) {
		return s, &FieldError{"invite_ttl_minutes", fmt.Sprintf("must be %d to %d minutes, or null for the default", MinInviteTTLMinutes, MaxInviteTTLMinutes)}
	}
	if m := s.InviteEarlyMinutes; m != nil && (*m < 0 || *m > MaxInviteEarlyMinutes) {
		return s, &FieldError{"invite_early_minutes", fmt.Sprintf("must be 0 to %d minutes, or null for the default", MaxInviteEarlyMinutes)}
	}
	if ttl, early := s.inviteTiming(defaultTTL, defaultEarly); early >= ttl {
		return s, &FieldError{"invite_early_minutes", fmt.Sprintf("must be shorter than the invite validity (%s)", ttl)}
	}
	return s, nil
}

// inviteTiming is the invite validity and opening lead in force: the
// overrides where set, else the environment's defaults.
func (s Settings) inviteTiming(defaultTTL, defaultEarly time.Duration) (ttl, early time.Duration) {
	ttl, early = defaultTTL, defaultEarly
	if s.InviteTTLMinutes != nil {
		ttl = time.Duration(*s.InviteTTLMinutes) * time.Minute
	}
	if s.InviteEarlyMinutes != nil {
		early = time.Duration(*s.InviteEarlyMinutes) * time.Minute
	}
	return ttl, early
}

// checkName accepts min to max characters of text without control
// characters (a name is one line).
func checkName(field, v string, min, max int) error {
	n := utf8.RuneCountInString(v)
	if !utf8.ValidString(v) || n < min || n > max {
		return &FieldError{field, fmt.Sprintf("must be %d to %d characters", min, max)}
	}
	for _, r := range v {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return &FieldError{field, "must be one line without control characters"}
		}
	}
	return nil
}

// Changes names what differs between before and after, for the audit
// trail, one entry per setting: "<key>" for the free-text names (their
// text is not recorded), "<key>:<before>:<after>" for the others, with
// colours without their #, languages joined by dots and "default" for an
// override that is not set. Each entry fits the audit trail's identifier
// shape ([A-Za-z0-9._:@+-]).
func Changes(before, after Settings) []string {
	var out []string
	if before.ProductName != after.ProductName {
		out = append(out, keyProductName)
	}
	if before.ClinicName != after.ClinicName {
		out = append(out, keyClinicName)
	}
	value := func(key, b, a string) {
		if b != a {
			out = append(out, key+":"+b+":"+a)
		}
	}
	value(keyPrimaryColor, strings.TrimPrefix(before.PrimaryColor, "#"), strings.TrimPrefix(after.PrimaryColor, "#"))
	value(keyAccentColor, strings.TrimPrefix(before.AccentColor, "#"), strings.TrimPrefix(after.AccentColor, "#"))
	value(keyRetentionDays, strconv.Itoa(before.ClosedConsultationRetentionDays), strconv.Itoa(after.ClosedConsultationRetentionDays))
	value(keyLanguages, strings.Join(before.Languages, "."), strings.Join(after.Languages, "."))
	minutes := func(m *int) string {
		if m == nil {
			return "default"
		}
		return strconv.Itoa(*m)
	}
	value(keyInviteTTL, minutes(before.InviteTTLMinutes), minutes(after.InviteTTLMinutes))
	value(keyInviteEarly, minutes(before.InviteEarlyMinutes), minutes(after.InviteEarlyMinutes))
	return out
}
