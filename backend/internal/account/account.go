// Package account holds staff accounts: users with a role and a status,
// their passwords (argon2id), API keys, and the one-time tokens behind
// setup and password-reset links. It is the business layer and its storage
// in one package: the SQL is in the store files as constants.
//
// Personal fields (first and last name, phone) are sealed with the data key
// (package sealed) under the AAD "users.<column>:<id>"; the e-mail address
// stays in clear, lower-cased, because it is the unique sign-in identifier.
// Every change is recorded in the audit trail in the same transaction, naming
// users by id only.
package account

import (
	"crypto/rand"
	"encoding/hex"
	"net/mail"
	"net/netip"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hcw-home/hcw/backend/internal/audit"
)

// Role is what a user may do.
type Role string

// Roles.
const (
	RoleAdmin     Role = "admin"
	RoleDoctor    Role = "doctor"
	RoleNurse     Role = "nurse"
	RoleScheduler Role = "scheduler" // machine accounts: API keys only
)

// Valid reports whether r is one of the Role constants.
func (r Role) Valid() bool {
	switch r {
	case RoleAdmin, RoleDoctor, RoleNurse, RoleScheduler:
		return true
	}
	return false
}

// Status is where an account stands.
type Status string

// Statuses.
const (
	StatusActive          Status = "active"
	StatusPendingApproval Status = "pending_approval"
	StatusDisabled        Status = "disabled"
)

// Valid reports whether s is one of the Status constants.
func (s Status) Valid() bool {
	switch s {
	case StatusActive, StatusPendingApproval, StatusDisabled:
		return true
	}
	return false
}

// User is a staff account as the rest of the service sees it. The password
// hash never leaves the package.
type User struct {
	ID           string
	Email        string
	FirstName    string
	LastName     string
	Phone        string // E.164 or empty
	Language     string // BCP 47 short form, e.g. "en", "fr-CH"
	Role         Role
	Status       Status
	AllQueues    bool   // sees every queue, not only those assigned
	TermsVersion string // last accepted terms of use; empty if none
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Actor is who causes a change, as recorded in the audit trail. Type is
// one of audit.ActorUser, audit.ActorAPIKey or audit.ActorSystem.
type Actor struct {
	Type, ID string
	ClientIP netip.Addr
}

// SystemActor is the actor of command-line and background changes.
func SystemActor() Actor { return Actor{Type: audit.ActorSystem} }

// UserActor is a signed-in user acting from addr.
func UserActor(userID string, addr netip.Addr) Actor {
	return Actor{Type: audit.ActorUser, ID: userID, ClientIP: addr}
}

// Audit actions written by this package. audit accepts any dotted
// lower-case name; the shared ones come from there.
const (
	ActionUserCreated     = audit.ActionUserCreated
	ActionUserChanged     = audit.ActionUserChanged
	ActionUserDisabled    = audit.ActionUserDisabled
	ActionUserApproved    = "user.approved"
	ActionUserEnabled     = "user.enabled"
	ActionTermsAccepted   = "terms.accepted"
	ActionPasswordChanged = "password.changed"
	ActionTokenIssued     = "user_token.issued"
	ActionAPIKeyCreated   = audit.ActionAPIKeyCreated
	ActionAPIKeyRevoked   = audit.ActionAPIKeyRevoked
)

// Field bounds.
const (
	MaxEmailLen   = 254
	MaxNameRunes  = 100
	MaxTermsLen   = 64
	MaxKeyNameLen = 100
)

var (
	phonePattern    = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	languagePattern = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$`)
	termsPattern    = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	uuidPattern     = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// NormalizeEmail trims and lower-cases an address and checks that it is a
// bare address (no display name, no angle brackets) of at most 254 bytes.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", invalid("email", "required")
	}
	if len(s) > MaxEmailLen {
		return "", invalid("email", "at most 254 characters")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", invalid("email", "not an email address")
	}
	return s, nil
}

// normalizeName trims a name and checks 1..100 runes without control
// characters.
func normalizeName(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(s); {
	case !utf8.ValidString(s):
		return "", invalid(field, "not valid UTF-8")
	case n == 0:
		return "", invalid(field, "required")
	case n > MaxNameRunes:
		return "", invalid(field, "at most 100 characters")
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", invalid(field, "control characters are not allowed")
	}
	return s, nil
}

func validatePhone(s string) error {
	if s != "" && !phonePattern.MatchString(s) {
		return invalid("phone", "must be in E.164 form, e.g. +41221234567")
	}
	return nil
}

func normalizeLanguage(s string) (string, error) {
	if s == "" {
		return "en", nil
	}
	if !languagePattern.MatchString(s) {
		return "", invalid("language", "must be a language tag such as en or fr-CH")
	}
	return s, nil
}

func validID(id string) bool { return uuidPattern.MatchString(id) }

// newUUID returns a random (version 4) UUID. The id is made here rather than
// by the database because the sealed fields' AAD contains it.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
