// Package audit keeps the audit trail: an append-only table of
// security-relevant events in which each row carries a SHA-256 hash over its
// content and the previous row's hash, so that editing or removing a row is
// detected by Verify. Rows hold identifiers and outcomes only, never message
// bodies or health data: no field accepts free text.
package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"regexp"
	"time"
)

// Actor types: who caused an event.
const (
	ActorUser        = "user"
	ActorAPIKey      = "api_key"
	ActorParticipant = "participant"
	ActorSystem      = "system"
)

// Outcomes of an event.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeDenied  = "denied"
)

// Actions recorded so far. Any dotted lower-case name is accepted, so a new
// action needs no change here; these are the ones other packages share.
const (
	ActionSignInSuccess  = "sign_in.success"
	ActionSignInFailure  = "sign_in.failure"
	ActionFactorEnrolled = "factor.enrolled"
	ActionFactorReset    = "factor.reset"
	ActionSessionEnded   = "session.ended"
	ActionUserCreated    = "user.created"
	ActionUserChanged    = "user.changed"
	ActionUserDisabled   = "user.disabled"
	ActionAPIKeyCreated  = "api_key.created"
	ActionAPIKeyRevoked  = "api_key.revoked"
	ActionAuditVerified  = "audit.verified"
	ActionAuditRead      = "audit.read"
	ActionKeysRotated    = "keys.rotated"
)

// Event is one audit record as the caller describes it. Empty strings are
// stored as NULL.
type Event struct {
	// At is when it happened; the zero value means now. It is stored and
	// hashed truncated to the microsecond, PostgreSQL's precision.
	At time.Time
	// ActorType is one of the Actor* constants; ActorID is required unless
	// the actor is the system.
	ActorType, ActorID string
	// Action is a dotted lower-case name such as "sign_in.failure".
	Action string
	// ObjectType (lower-case name) and ObjectID name what was acted upon.
	ObjectType, ObjectID string
	// ConsultationID links the event to a consultation, if any.
	ConsultationID string
	// ClientIP is the client's address; the zero Addr means none.
	ClientIP netip.Addr
	// Outcome is one of the Outcome* constants.
	Outcome string
}

// Bounds and shapes accepted by validate. Identifiers are opaque tokens
// (UUIDs, e-mail addresses, key prefixes), never sentences.
var (
	actionPattern = regexp.MustCompile(`^[a-z_]+(\.[a-z_]+)*$`)
	namePattern   = regexp.MustCompile(`^[a-z_]+$`)
	idPattern     = regexp.MustCompile(`^[A-Za-z0-9._:@+-]+$`)
)

const (
	maxNameLen = 64
	maxIDLen   = 128
)

// normalize validates e and returns it in the form that is hashed and
// stored: UTC, microsecond precision, client address unmapped and zone-free.
func normalize(e Event, now time.Time) (Event, error) {
	if e.At.IsZero() {
		e.At = now
	}
	// Truncate before hashing: PostgreSQL keeps microseconds, and a hash over
	// nanoseconds could never be recomputed from the stored row.
	e.At = e.At.UTC().Truncate(time.Microsecond)
	if e.ClientIP.IsValid() {
		e.ClientIP = e.ClientIP.Unmap().WithZone("")
	}

	switch e.ActorType {
	case ActorUser, ActorAPIKey, ActorParticipant:
		if e.ActorID == "" {
			return e, fmt.Errorf("%w: actor_id is required for actor type %s", ErrInvalidEvent, e.ActorType)
		}
	case ActorSystem:
	default:
		return e, fmt.Errorf("%w: actor_type %q", ErrInvalidEvent, e.ActorType)
	}
	switch e.Outcome {
	case OutcomeSuccess, OutcomeFailure, OutcomeDenied:
	default:
		return e, fmt.Errorf("%w: outcome %q", ErrInvalidEvent, e.Outcome)
	}
	if len(e.Action) > maxNameLen || !actionPattern.MatchString(e.Action) {
		return e, fmt.Errorf("%w: action must be a dotted lower-case name of at most %d bytes", ErrInvalidEvent, maxNameLen)
	}
	if e.ObjectType != "" && (len(e.ObjectType) > maxNameLen || !namePattern.MatchString(e.ObjectType)) {
		return e, fmt.Errorf("%w: object_type must be a lower-case name of at most %d bytes", ErrInvalidEvent, maxNameLen)
	}
	for _, f := range []struct{ name, v string }{
		{"actor_id", e.ActorID}, {"object_id", e.ObjectID}, {"consultation_id", e.ConsultationID},
	} {
		if f.v != "" && (len(f.v) > maxIDLen || !idPattern.MatchString(f.v)) {
			// The value is not echoed: a bad one may be exactly what must not
			// be logged.
			return e, fmt.Errorf("%w: %s must be an identifier of at most %d bytes from [A-Za-z0-9._:@+-]", ErrInvalidEvent, f.name, maxIDLen)
		}
	}
	return e, nil
}

// encodingTag starts every hashed message; bump it if the encoding changes.
const encodingTag = "hcw-audit-v1"

// hashSize is the length of a SHA-256 hash, and of the genesis prev_hash.
const hashSize = sha256.Size

// chainHash returns SHA-256 over the canonical encoding of one row:
//
//	tag, seq, at, actor_type, actor_id, action, object_type, object_id,
//	consultation_id, client_ip, outcome, prev_hash
//
// in that order. seq is 8 bytes big-endian; at is 8 bytes big-endian
// microseconds since the Unix epoch (UTC); every other field is a 4-byte
// big-endian length followed by its bytes (strings as UTF-8, client_ip as 4
// or 16 address bytes or empty for none). Length prefixes make the encoding
// unambiguous: no two different rows encode to the same bytes.
func chainHash(seq int64, e Event, prevHash []byte) []byte {
	buf := make([]byte, 0, 256)
	field := func(b []byte) {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)))
		buf = append(buf, b...)
	}
	field([]byte(encodingTag))
	buf = binary.BigEndian.AppendUint64(buf, uint64(seq))
	buf = binary.BigEndian.AppendUint64(buf, uint64(e.At.UnixMicro()))
	field([]byte(e.ActorType))
	field([]byte(e.ActorID))
	field([]byte(e.Action))
	field([]byte(e.ObjectType))
	field([]byte(e.ObjectID))
	field([]byte(e.ConsultationID))
	var ip []byte
	if e.ClientIP.IsValid() {
		ip = e.ClientIP.AsSlice()
	}
	field(ip)
	field([]byte(e.Outcome))
	field(prevHash)
	sum := sha256.Sum256(buf)
	return sum[:]
}
