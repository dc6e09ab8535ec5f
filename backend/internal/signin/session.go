package signin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hcw-home/hcw/backend/internal/audit"
)

// Level is how far a session has got through sign-in.
type Level string

// Session levels.
const (
	// LevelPassword: the password step passed, the second factor did not
	// yet. Usable only to complete or enrol the second factor.
	LevelPassword Level = "password"
	// LevelFull: signed in.
	LevelFull Level = "full"
)

// Reasons recorded in sessions.revoke_reason.
const (
	ReasonSignOut           = "sign_out"
	ReasonRotated           = "rotated"
	ReasonSignOutEverywhere = "sign_out_everywhere"
	ReasonUserDisabled      = "user_disabled"
	ReasonFactorReset       = "factor_reset"
	ReasonPasswordChanged   = "password_changed"
	ReasonPrivilegeChanged  = "privilege_changed"
)

// tokenBytes is the token's entropy: 256 bits.
const tokenBytes = 32

var tokenEncoding = base64.RawURLEncoding

// Session is a valid session as Validate found it.
type Session struct {
	// ID is the hex SHA-256 of the token: fit for logs, the audit trail and
	// "your sessions" lists, useless as a credential.
	ID         string
	User       UserRef
	Level      Level
	CreatedAt  time.Time
	LastSeenAt time.Time
	// ExpiresAt is the absolute expiry (the cookie's expiry too).
	ExpiresAt time.Time
	ClientIP  netip.Addr
	UserAgent string
}

// RequireFull returns ErrSecondFactorRequired unless the session is at
// LevelFull. Every handler other than the second-factor ones must call it
// (or use ValidateFull).
func (s Session) RequireFull() error {
	if s.Level != LevelFull {
		return ErrSecondFactorRequired
	}
	return nil
}

// Next says what a password-level session must do next.
type Next string

// Values of Next.
const (
	// NextNone: the session is full.
	NextNone Next = ""
	// NextVerify: enter a TOTP or recovery code (CompleteSecondFactor).
	NextVerify Next = "verify"
	// NextEnrol: the role requires a second factor and none is enrolled
	// (BeginEnrolment, ConfirmEnrolment).
	NextEnrol Next = "enrol"
)

// Result is a new session and its token, which the caller sets as the
// cookie and never stores or logs.
type Result struct {
	Token   string
	Session Session
	Next    Next
}

func newToken() (string, []byte) {
	b := make([]byte, tokenBytes)
	rand.Read(b) // never fails; aborts the process on a broken system
	tok := tokenEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(tok))
	return tok, sum[:]
}

func wellFormedToken(tok string) bool {
	if len(tok) != tokenEncoding.EncodedLen(tokenBytes) {
		return false
	}
	_, err := tokenEncoding.Strict().DecodeString(tok)
	return err == nil
}

func hashToken(tok string) ([]byte, bool) {
	if !wellFormedToken(tok) {
		return nil, false
	}
	sum := sha256.Sum256([]byte(tok))
	return sum[:], true
}

const (
	sqlInsertSession = `
INSERT INTO sessions (id_hash, user_id, level, created_at, last_seen_at, expires_at, client_ip, user_agent)
VALUES ($1, $2, $3, $4, $4, $5, $6, $7)`

	sqlSelectSession = `
SELECT s.user_id::text AS user_id, s.level, s.created_at, s.last_seen_at, s.expires_at,
       s.revoked_at, s.client_ip, coalesce(s.user_agent, '') AS user_agent,
       u.email, u.role, u.status
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.id_hash = $1`

	sqlTouchSession = `
UPDATE sessions SET last_seen_at = $2
WHERE id_hash = $1 AND revoked_at IS NULL AND last_seen_at < $2`

	sqlRevokeSession = `
UPDATE sessions SET revoked_at = $2, revoke_reason = $3
WHERE id_hash = $1 AND revoked_at IS NULL`

	sqlRevokeUserSessions = `
UPDATE sessions SET revoked_at = $2, revoke_reason = $3
WHERE user_id = $1 AND revoked_at IS NULL`

	// Revoked rows are kept a day so that a replayed token is known as
	// revoked in the meantime; expired ones go as soon as they expire,
	// including those idle beyond the timeout.
	sqlPurgeSessions = `
DELETE FROM sessions
WHERE expires_at <= $1 OR last_seen_at <= $2 OR revoked_at <= $3`
)

type sessionRow struct {
	UserID     string      `db:"user_id"`
	Level      string      `db:"level"`
	CreatedAt  time.Time   `db:"created_at"`
	LastSeenAt time.Time   `db:"last_seen_at"`
	ExpiresAt  time.Time   `db:"expires_at"`
	RevokedAt  *time.Time  `db:"revoked_at"`
	ClientIP   *netip.Addr `db:"client_ip"`
	UserAgent  string      `db:"user_agent"`
	Email      string      `db:"email"`
	Role       string      `db:"role"`
	Status     string      `db:"status"`
}

func ipArg(ip netip.Addr) any {
	if !ip.IsValid() {
		return nil
	}
	return ip.Unmap().WithZone("")
}

// insertSession creates a session row in tx and returns its Result.
func (s *Service) insertSession(ctx context.Context, tx pgx.Tx, u UserRef, level Level, expires time.Time, c Client) (Result, error) {
	now := s.now()
	tok, hash := newToken()
	ua := truncateUA(c.UserAgent)
	if _, err := tx.Exec(ctx, sqlInsertSession, hash, u.ID, string(level), now, expires, ipArg(c.IP), ua); err != nil {
		return Result{}, fmt.Errorf("insert session: %w", err)
	}
	return Result{Token: tok, Session: Session{
		ID: hex.EncodeToString(hash), User: u, Level: level,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: expires,
		ClientIP: c.IP, UserAgent: ua,
	}}, nil
}

// Validate returns the session of tok, or ErrInvalidSession when it is
// unknown, malformed, expired, revoked or its user is no longer active. It
// writes last_seen_at at most once per TouchInterval. A password-level
// session is returned too: check Session.RequireFull (or use ValidateFull).
func (s *Service) Validate(ctx context.Context, tok string) (Session, error) {
	hash, ok := hashToken(tok)
	if !ok {
		return Session{}, ErrInvalidSession
	}
	sess, err := s.load(ctx, hash)
	if err != nil {
		return Session{}, err
	}
	now := s.now()
	if now.Sub(sess.LastSeenAt) >= s.p.TouchInterval {
		if _, err := s.p.Pool.Exec(ctx, sqlTouchSession, hash, now); err != nil {
			return Session{}, fmt.Errorf("touch session: %w", err)
		}
		sess.LastSeenAt = now
	}
	return sess, nil
}

// ValidateFull is Validate followed by RequireFull.
func (s *Service) ValidateFull(ctx context.Context, tok string) (Session, error) {
	sess, err := s.Validate(ctx, tok)
	if err != nil {
		return Session{}, err
	}
	if err := sess.RequireFull(); err != nil {
		return Session{}, err
	}
	return sess, nil
}

type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// load reads and checks a session without touching it.
func (s *Service) load(ctx context.Context, hash []byte) (Session, error) {
	return s.loadWith(ctx, s.p.Pool, hash)
}

func (s *Service) loadWith(ctx context.Context, q queryer, hash []byte) (Session, error) {
	rows, err := q.Query(ctx, sqlSelectSession, hash)
	if err != nil {
		return Session{}, fmt.Errorf("read session: %w", err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[sessionRow])
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, ErrInvalidSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("read session: %w", err)
	}
	now := s.now()
	switch {
	case r.RevokedAt != nil,
		!now.Before(r.ExpiresAt),
		now.Sub(r.LastSeenAt) >= s.p.IdleTimeout,
		r.Status != StatusActive:
		return Session{}, ErrInvalidSession
	}
	sess := Session{
		ID:         hex.EncodeToString(hash),
		User:       UserRef{ID: r.UserID, Email: r.Email, Role: r.Role, Status: r.Status},
		Level:      Level(r.Level),
		CreatedAt:  r.CreatedAt.UTC(),
		LastSeenAt: r.LastSeenAt.UTC(),
		ExpiresAt:  r.ExpiresAt.UTC(),
		UserAgent:  r.UserAgent,
	}
	if r.ClientIP != nil {
		sess.ClientIP = *r.ClientIP
	}
	return sess, nil
}

// Rotate replaces the token of a valid session with a new one (same level
// and absolute expiry) and revokes the old one. Call it on privilege
// changes; sign-in and the second factor rotate by themselves.
func (s *Service) Rotate(ctx context.Context, tok string, c Client) (Result, error) {
	hash, ok := hashToken(tok)
	if !ok {
		return Result{}, ErrInvalidSession
	}
	var res Result
	err := pgx.BeginFunc(ctx, s.p.Pool, func(tx pgx.Tx) error {
		sess, err := s.loadWith(ctx, tx, hash)
		if err != nil {
			return err
		}
		res, err = s.rotateTx(ctx, tx, hash, sess.User, sess.Level, sess.ExpiresAt, c)
		return err
	})
	return res, wrapSentinel("rotate session", err)
}

// rotateTx revokes the session hash (which must still be live: a token
// rotated twice concurrently yields one new session) and creates its
// successor.
func (s *Service) rotateTx(ctx context.Context, tx pgx.Tx, hash []byte, u UserRef, level Level, expires time.Time, c Client) (Result, error) {
	tag, err := tx.Exec(ctx, sqlRevokeSession, hash, s.now(), ReasonRotated)
	if err != nil {
		return Result{}, fmt.Errorf("revoke old session: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return Result{}, ErrInvalidSession
	}
	return s.insertSession(ctx, tx, u, level, expires, c)
}

// Revoke ends the session of tok (sign out). Revoking an unknown or already
// ended session is not an error.
func (s *Service) Revoke(ctx context.Context, tok string, c Client) error {
	hash, ok := hashToken(tok)
	if !ok {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.p.Pool, func(tx pgx.Tx) error {
		var userID string
		err := tx.QueryRow(ctx, sqlRevokeSession+` RETURNING user_id::text`, hash, s.now(), ReasonSignOut).Scan(&userID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		return s.p.Audit.AppendTx(ctx, tx, audit.Event{
			ActorType: audit.ActorUser, ActorID: userID,
			Action: audit.ActionSessionEnded, ObjectType: "session", ObjectID: hex.EncodeToString(hash),
			ClientIP: c.IP, Outcome: audit.OutcomeSuccess,
		})
	})
	return wrap("revoke session", err)
}

// RevokeAllForUser ends every live session of userID (sign out everywhere,
// user disabled, factor reset) and then calls Params.OnRevoke. reason is a
// lower-case word such as ReasonUserDisabled. It returns how many sessions
// it ended. The event is recorded with the system as actor: the caller
// records who asked (user.disabled, factor.reset ...).
func (s *Service) RevokeAllForUser(ctx context.Context, userID, reason string) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.p.Pool, func(tx pgx.Tx) error {
		var err error
		n, err = s.revokeAllTx(ctx, tx, userID, reason)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("revoke sessions of user: %w", err)
	}
	s.notifyRevoke(userID)
	return n, nil
}

func (s *Service) revokeAllTx(ctx context.Context, tx pgx.Tx, userID, reason string) (int64, error) {
	tag, err := tx.Exec(ctx, sqlRevokeUserSessions, userID, s.now(), reason)
	if err != nil {
		return 0, err
	}
	err = s.p.Audit.AppendTx(ctx, tx, audit.Event{
		ActorType: audit.ActorSystem, Action: audit.ActionSessionEnded,
		ObjectType: "user", ObjectID: userID, Outcome: audit.OutcomeSuccess,
	})
	return tag.RowsAffected(), err
}

func (s *Service) notifyRevoke(userID string) {
	if s.p.OnRevoke != nil {
		s.p.OnRevoke(userID)
	}
}

// PurgeExpired deletes sessions past their absolute expiry or idle timeout,
// revoked sessions older than a day, expired passkey ceremonies, and
// throttle rows whose last failure is outside the counting window. It returns the number of sessions deleted.
func (s *Service) PurgeExpired(ctx context.Context) (int64, error) {
	now := s.now()
	tag, err := s.p.Pool.Exec(ctx, sqlPurgeSessions, now, now.Add(-s.p.IdleTimeout), now.Add(-24*time.Hour))
	if err != nil {
		return 0, fmt.Errorf("purge sessions: %w", err)
	}
	if _, err := s.p.Pool.Exec(ctx, sqlPurgeCeremonies, now); err != nil {
		return 0, fmt.Errorf("purge passkey ceremonies: %w", err)
	}
	if _, err := s.throttle.Purge(ctx, s.p.Pool, now); err != nil {
		return 0, fmt.Errorf("purge sign-in throttle: %w", err)
	}
	return tag.RowsAffected(), nil
}
