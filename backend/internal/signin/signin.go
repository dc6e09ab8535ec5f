// Package signin signs staff in: password step through the Accounts
// interface, a second factor (TOTP or passkeys, with recovery codes), server-side sessions,
// throttling of failed attempts, and the session cookie.
//
// # Levels
//
// Doctors and admins must have a second factor; nurses need one if they
// enrolled; schedulers never do. Until the second factor is done, a session
// is at LevelPassword: the caller must allow it nothing but completing or
// enrolling the second factor (Session.RequireFull). Completing it rotates
// the token and the session becomes LevelFull.
//
// # Throttling
//
// Every sign-in attempt is checked, before the password is even verified,
// against three keys in signin_throttle:
//
//   - the account: "account:" + hex SHA-256 of the trimmed, lower-cased
//     e-mail, whether or not such an account exists (no difference shows);
//   - the client IP: "ip:" + address;
//   - for the second step, the user: "factor:" + user id.
//
// After Threshold failures on a key (5 for account and factor, 20 for an IP,
// which may be a clinic behind one NAT), each further failure makes the key
// wait 2^(failures-threshold) seconds: 1 s, 2 s, 4 s ... capped at 15 min
// (reached at the 15th account failure). A failure older than 24 h restarts
// the count. A success deletes the account key (or the factor key) but not
// the IP key, so one valid account cannot launder an IP's guesses. The
// check and the recording of a failure are separate statements: requests
// racing in the same instant may each get one verification before the
// first failure is recorded, which the IP key and argon2's cost bound.
//
// # Sessions
//
// The token is 256 random bits in base64url; the table stores its SHA-256.
// A session ends at the first of: IdleTimeout without use, AbsoluteLifetime
// after sign-in (PendingLifetime for a password-level session), revocation,
// or its user leaving the active status (checked on every Validate with a
// join on users, so disabling a user signs them out at once).
package signin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/sealed"
	"github.com/hcw-home/hcw/backend/internal/throttle"
)

// Roles and statuses as stored in users (migration 0003).
const (
	RoleAdmin     = "admin"
	RoleDoctor    = "doctor"
	RoleNurse     = "nurse"
	RoleScheduler = "scheduler"

	StatusActive = "active"
)

// UserRef is what signin needs to know about a user.
type UserRef struct {
	ID     string
	Email  string
	Role   string
	Status string
}

// Accounts is the part of the account package that signin uses.
type Accounts interface {
	// Authenticate checks the password. It returns ErrInvalidCredentials
	// (possibly wrapped) for an unknown e-mail and for a wrong password
	// alike, spending the same time on both. It returns the user whatever
	// their status: signin refuses those who are not active.
	Authenticate(ctx context.Context, email, password string) (UserRef, error)
}

// Client describes where a request comes from.
type Client struct {
	// IP is the client address (clientinfo.Info.IP); the zero Addr if unknown.
	IP netip.Addr
	// UserAgent is stored truncated to 256 bytes.
	UserAgent string
}

// Params configures a Service. Zero durations take the defaults.
type Params struct {
	Pool     *pgxpool.Pool
	Accounts Accounts
	Audit    *audit.Store
	// Keyring seals TOTP secrets.
	Keyring *sealed.Keyring
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// IdleTimeout ends a session unused for that long (default 30 min).
	IdleTimeout time.Duration
	// AbsoluteLifetime ends a full session that long after sign-in
	// (default 12 h), however active.
	AbsoluteLifetime time.Duration
	// PendingLifetime ends a password-level session (default 10 min).
	PendingLifetime time.Duration
	// TouchInterval is the least time between two writes of last_seen_at
	// (default 1 min), so that a busy session costs no write per request.
	TouchInterval time.Duration
	// AccountThreshold is the number of failures per account (and per user
	// for the second factor) before back-off starts (default 5).
	AccountThreshold int
	// IPThreshold is the same per client IP (default 20).
	IPThreshold int
	// MaxBackoff caps the wait (default 15 min).
	MaxBackoff time.Duration
	// PasskeyHosts are the host names passkeys may be bound to: the doctor
	// and admin app hosts (never the patient host). Empty: passkeys off.
	PasskeyHosts []string
	// OnRevoke, if set, is called after RevokeAllForUser (and so after
	// ResetFactor) with the user's id, e.g. to close their WebSockets with
	// realtime.Hub.CloseWhere.
	OnRevoke func(userID string)
}

// Defaults of Params.
const (
	DefaultIdleTimeout      = 30 * time.Minute
	DefaultAbsoluteLifetime = 12 * time.Hour
	DefaultPendingLifetime  = 10 * time.Minute
	DefaultTouchInterval    = time.Minute
	DefaultAccountThreshold = 5
	DefaultIPThreshold      = 20
	DefaultMaxBackoff       = 15 * time.Minute
	// failureWindow: a key whose last failure is older starts counting anew.
	failureWindow = 24 * time.Hour
	maxUserAgent  = 256
)

// Service signs users in and keeps their sessions. Safe for concurrent use.
type Service struct {
	p        Params
	throttle *throttle.Throttle
}

// New checks p and fills in defaults.
// IdleTimeout is how long a session may go unused before it ends.
func (s *Service) IdleTimeout() time.Duration { return s.p.IdleTimeout }

func New(p Params) (*Service, error) {
	if p.Pool == nil || p.Accounts == nil || p.Audit == nil || p.Keyring == nil {
		return nil, errors.New("signin: Pool, Accounts, Audit and Keyring are required")
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&p.IdleTimeout, DefaultIdleTimeout)
	def(&p.AbsoluteLifetime, DefaultAbsoluteLifetime)
	def(&p.PendingLifetime, DefaultPendingLifetime)
	def(&p.TouchInterval, DefaultTouchInterval)
	def(&p.MaxBackoff, DefaultMaxBackoff)
	if p.AccountThreshold <= 0 {
		p.AccountThreshold = DefaultAccountThreshold
	}
	if p.IPThreshold <= 0 {
		p.IPThreshold = DefaultIPThreshold
	}
	p.PasskeyHosts = normaliseHosts(p.PasskeyHosts)
	return &Service{p: p, throttle: throttle.New(throttle.SignIn, failureWindow, p.MaxBackoff)}, nil
}

func (s *Service) now() time.Time { return s.p.Now().UTC().Truncate(time.Microsecond) }

// needsSecondFactor says whether role must pass a second factor, given
// whether the user has enrolled one.
func needsSecondFactor(role string, enrolled bool) bool {
	switch role {
	case RoleAdmin, RoleDoctor:
		return true
	case RoleNurse:
		return enrolled
	default:
		return false
	}
}

// NormalizeEmail is the form the throttle key is derived from.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

func accountKey(email string) string {
	sum := sha256.Sum256([]byte(NormalizeEmail(email)))
	return "account:" + hex.EncodeToString(sum[:])
}

func ipKey(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return "ip:" + ip.Unmap().WithZone("").String()
}

func factorKey(userID string) string { return "factor:" + userID }

func truncateUA(ua string) string {
	if len(ua) <= maxUserAgent {
		return ua
	}
	ua = ua[:maxUserAgent]
	for !utf8.ValidString(ua) {
		ua = ua[:len(ua)-1]
	}
	return ua
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}
