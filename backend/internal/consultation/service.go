package consultation

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/mail"
	"github.com/hcw-home/hcw/backend/internal/sealed"
	"github.com/hcw-home/hcw/backend/internal/throttle"
)

// Defaults of Params.
const (
	DefaultInviteTTL       = 24 * time.Hour
	DefaultInviteEarly     = 10 * time.Minute
	DefaultSessionLifetime = 24 * time.Hour
	DefaultRedeemThreshold = 20
	DefaultMaxBackoff      = 15 * time.Minute
	// DefaultSendTimeout bounds one e-mail delivery inside a request.
	DefaultSendTimeout = 15 * time.Second
	// failureWindow: an address whose last failure is older counts anew.
	failureWindow = time.Hour
	// touchInterval: a participant session's last_seen_at is written at
	// most this often.
	touchInterval = time.Minute
)

// Params configures New.
type Params struct {
	Pool  *pgxpool.Pool
	Keys  *sealed.Keyring
	Audit *audit.Store
	// Mail delivers e-mail invites; mail.Disabled when not configured.
	Mail mail.Sender
	// Logger receives operational errors (never tokens, names or
	// addresses).
	Logger *slog.Logger
	// PatientHost builds links: https://<PatientHost>/i/<token>.
	PatientHost string
	// InviteTTL is an invite's life after its scheduled time, or after
	// creation when unscheduled (HCW_INVITE_TTL).
	InviteTTL time.Duration
	// InviteEarly is how long before the scheduled time the invite opens
	// (HCW_INVITE_EARLY).
	InviteEarly time.Duration
	// InviteTiming, when set, gives the invite validity and opening lead
	// in force instead of InviteTTL and InviteEarly (the instance
	// settings, which override the environment).
	InviteTiming InviteTimingSource
	// Languages, when set, gives the languages the clinic offers
	// patients; a patient, guest or expert invite (not an interpreter's)
	// must be in one of them and defaults to the first. Without it any language tag goes and the
	// default is "en".
	Languages LanguagesSource
	// PurgeBatch is how many closed consultations one transaction of the
	// retention purge deletes (DefaultPurgeBatch if not positive).
	PurgeBatch int
	// SessionLifetime bounds a participant session (it also ends when its
	// consultation closes).
	SessionLifetime time.Duration
	// RedeemThreshold is the number of failed redemptions from one address
	// before it must wait; MaxBackoff caps the wait.
	RedeemThreshold int
	MaxBackoff      time.Duration
	// SendTimeout bounds one delivery.
	SendTimeout time.Duration
	// Media configures calls (call.go).
	Media MediaParams
	// FeedbackTTL is how long after the close a participant may give
	// feedback (DefaultFeedbackTTL if not positive).
	FeedbackTTL time.Duration
	// InterpreterRequestTTL is how long an interpreter request waits for
	// a member to accept (HCW_INTERPRETER_REQUEST_TTL;
	// DefaultInterpreterRequestTTL if not positive).
	InterpreterRequestTTL time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// InviteTimingSource gives the invite validity and opening lead in force
// (package settings implements it, cached for a few seconds).
type InviteTimingSource interface {
	InviteTiming(ctx context.Context) (ttl, early time.Duration, err error)
}

// LanguagesSource gives the languages offered to patients, in the order
// offered (package settings implements it).
type LanguagesSource interface {
	OfferedLanguages(ctx context.Context) ([]string, error)
}

// Service is the consultation domain. It is safe for concurrent use.
type Service struct {
	p        Params
	throttle *throttle.Throttle
}

// New returns a Service. The migrations must have run.
func New(p Params) *Service {
	if p.Mail == nil {
		p.Mail = mail.Disabled{}
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	if p.InviteTTL <= 0 {
		p.InviteTTL = DefaultInviteTTL
	}
	if p.InviteEarly <= 0 {
		p.InviteEarly = DefaultInviteEarly
	}
	if p.SessionLifetime <= 0 {
		p.SessionLifetime = DefaultSessionLifetime
	}
	if p.RedeemThreshold <= 0 {
		p.RedeemThreshold = DefaultRedeemThreshold
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultMaxBackoff
	}
	if p.SendTimeout <= 0 {
		p.SendTimeout = DefaultSendTimeout
	}
	if p.FeedbackTTL <= 0 {
		p.FeedbackTTL = DefaultFeedbackTTL
	}
	if p.InterpreterRequestTTL <= 0 {
		p.InterpreterRequestTTL = DefaultInterpreterRequestTTL
	}
	if p.PurgeBatch <= 0 {
		p.PurgeBatch = DefaultPurgeBatch
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	p.Media.setDefaults()
	return &Service{p: p, throttle: throttle.New(throttle.InviteRedeem, failureWindow, p.MaxBackoff)}
}

func (s *Service) now() time.Time { return s.p.Now().UTC().Truncate(time.Microsecond) }

// inviteTiming is the invite validity and opening lead in force.
func (s *Service) inviteTiming(ctx context.Context) (ttl, early time.Duration, err error) {
	if s.p.InviteTiming == nil {
		return s.p.InviteTTL, s.p.InviteEarly, nil
	}
	if ttl, early, err = s.p.InviteTiming.InviteTiming(ctx); err != nil {
		return 0, 0, fmt.Errorf("invite timing: %w", err)
	}
	return ttl, early, nil
}

// inviteLanguage checks an invite's language against the languages the
// clinic offers (Params.Languages): its primary subtag must be one of
// them (fr-CH goes where fr is offered). An empty language is the first
// offered.
func (s *Service) inviteLanguage(ctx context.Context, lang string) (string, error) {
	lang = strings.TrimSpace(lang)
	if s.p.Languages == nil {
		return lang, nil // validatePerson checks the form and defaults to en
	}
	offered, err := s.p.Languages.OfferedLanguages(ctx)
	if err != nil {
		return "", fmt.Errorf("offered languages: %w", err)
	}
	if len(offered) == 0 {
		return lang, nil
	}
	if lang == "" {
		return offered[0], nil
	}
	primary, _, _ := strings.Cut(lang, "-")
	if !slices.Contains(offered, primary) {
		return "", invalid("language", "must be one of the languages offered: "+strings.Join(offered, ", "))
	}
	return lang, nil
}

// Actor is who causes a change, as recorded in the audit trail: Type is
// audit.ActorUser, audit.ActorAPIKey, audit.ActorParticipant or
// audit.ActorSystem; UserID is the account behind a user or API key.
type Actor struct {
	Type, ID, UserID string
	ClientIP         netip.Addr
}

// createdByType is how invites and consultations name their creator's
// channel.
func (a Actor) createdByType() string {
	if a.Type == audit.ActorAPIKey {
		return "api_key"
	}
	return "user"
}

// PostgreSQL error codes mapped in mapErr.
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
	pgInvalidText         = "22P02"
)

// mapErr is the one place where database errors become sentinels.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == pgUniqueViolation && pgErr.ConstraintName == "queues_name_key":
			return ErrQueueNameTaken
		case pgErr.Code == pgUniqueViolation && pgErr.ConstraintName == "calls_open":
			// Two doctors' devices starting at once: the second finds the first.
			return ErrCallInProgress
		case pgErr.Code == pgForeignKeyViolation && pgErr.TableName == "consultations" && strings.Contains(pgErr.ConstraintName, "queue_id"):
			// Deleting a queue that consultations still refer to.
			return ErrQueueInUse
		case pgErr.Code == pgForeignKeyViolation, pgErr.Code == pgInvalidText:
			// A reference to a row that does not exist, or an id that is
			// not a UUID at all.
			return ErrNotFound
		}
	}
	return err
}

// inTx runs fn in a transaction and maps its error.
func (s *Service) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return mapErr(pgx.BeginFunc(ctx, s.p.Pool, fn))
}

// record appends an event inside tx.
func (s *Service) record(ctx context.Context, tx pgx.Tx, a Actor, action, objectType, objectID, consultationID, outcome string) error {
	return s.p.Audit.AppendTx(ctx, tx, auditEvent(a, action, objectType, objectID, consultationID, outcome))
}

// auditEvent is the event record appends. A transaction that records
// several collects them and appends them together, last (AppendTx holds
// the chain's lock from then to the commit).
func auditEvent(a Actor, action, objectType, objectID, consultationID, outcome string) audit.Event {
	return audit.Event{
		ActorType: a.Type, ActorID: a.ID, ClientIP: a.ClientIP, Action: action,
		ObjectType: objectType, ObjectID: objectID, ConsultationID: consultationID, Outcome: outcome,
	}
}

// SealedAAD binds a sealed value to its table, column (named without
// _sealed) and row id, so a value copied elsewhere does not open.
func SealedAAD(table, column, id string) []byte {
	return []byte(table + "." + column + ":" + id)
}

// seal seals value; the empty value is stored as NULL.
func (s *Service) seal(table, column, id string, value []byte) []byte {
	if len(value) == 0 {
		return nil
	}
	b, err := s.p.Keys.Seal(value, SealedAAD(table, column, id))
	if err != nil {
		panic(err) // Seal has no failure mode with a valid keyring
	}
	return b
}

func (s *Service) open(table, column, id string, b []byte) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	plain, err := s.p.Keys.Open(b, SealedAAD(table, column, id))
	if err != nil {
		return nil, fmt.Errorf("open %s.%s of %s: %w", table, column, id, err)
	}
	return plain, nil
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := fmt.Sprintf("%x", b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// uuidShape is a cheap check before an id reaches SQL.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'):
		default:
			return false
		}
	}
	return true
}

// The cursor is base64url("<created_at in Unix microseconds>:<id>").
func encodeCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixMicro(), 10) + ":" + id))
}

func decodeCursor(c string) (time.Time, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", ErrInvalidCursor
	}
	us, id, ok := strings.Cut(string(raw), ":")
	n, err := strconv.ParseInt(us, 10, 64)
	if !ok || err != nil || !isUUID(id) {
		return time.Time{}, "", ErrInvalidCursor
	}
	return time.UnixMicro(n).UTC(), id, nil
}
