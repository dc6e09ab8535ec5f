package consultation

import (
	"errors"
	"fmt"
	"time"

	"github.com/hcw-home/hcw/backend/internal/medianode"
)

// Sentinel errors. The texts are safe to show: they never contain input.
var (
	// ErrNotFound means no such queue, invite, consultation or doctor, or
	// one the caller may not see (told apart from neither on purpose).
	ErrNotFound = errors.New("not found")
	// ErrInvalidInput is wrapped by every *FieldError.
	ErrInvalidInput = errors.New("invalid input")
	// ErrInvalidCursor means a list cursor was not one this package gave.
	ErrInvalidCursor = errors.New("invalid cursor")
	// ErrQueueNameTaken means another queue has that name (compared
	// case-insensitively).
	ErrQueueNameTaken = errors.New("a queue with this name already exists")
	// ErrQueueInUse means consultations still refer to the queue.
	ErrQueueInUse = errors.New("the queue still has consultations")
	// ErrInvalidTransition means the invite's status does not allow it.
	ErrInvalidTransition = errors.New("the invite's status does not allow this")

	// ErrInviteInvalid means the token is malformed or unknown.
	ErrInviteInvalid = errors.New("invalid invite link")
	// ErrInviteRevoked means the invite was revoked (or replaced by a
	// resend).
	ErrInviteRevoked = errors.New("invite revoked")
	// ErrInviteExpired means the invite's lifetime is over.
	ErrInviteExpired = errors.New("invite expired")
	// ErrInviteTooEarly is wrapped by *TooEarlyError.
	ErrInviteTooEarly = errors.New("invite not open yet")
	// ErrConsultationClosed means the invite's consultation is closed.
	ErrConsultationClosed = errors.New("consultation closed")
	// ErrThrottled is wrapped by *ThrottledError.
	ErrThrottled = errors.New("too many failed attempts")
	// ErrAlreadyAccepted means another doctor accepted the consultation
	// first.
	ErrAlreadyAccepted = errors.New("the consultation was already accepted")
	// ErrWrongState means the consultation's status does not allow this
	// (e.g. closing one that is still pending).
	ErrWrongState = errors.New("the consultation's status does not allow this")
	// ErrInvalidSession means the participant session token is unknown,
	// malformed, expired, revoked or its consultation is closed.
	ErrInvalidSession = errors.New("invalid participant session")

	// ErrNoActiveCall means the consultation has no call that is ringing
	// or active.
	ErrNoActiveCall = errors.New("no active call")
	// ErrCallNotRinging means the call was already answered.
	ErrCallNotRinging = errors.New("the call is not ringing")
	// ErrCallInProgress means the consultation already has an open call.
	ErrCallInProgress = errors.New("a call is already in progress")
	// ErrConsultationNotActive means calls need an active consultation.
	ErrConsultationNotActive = errors.New("the consultation is not active")
	// ErrNoMediaNode means no healthy media node can take the call.
	ErrNoMediaNode = medianode.ErrNoNode
)

// FieldError says which input field failed validation and why. It wraps
// ErrInvalidInput.
type FieldError struct {
	// Field is the input's JSON name, e.g. "time_zone".
	Field string
	// Reason is a short, input-free explanation.
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidInput) true.
func (e *FieldError) Unwrap() error { return ErrInvalidInput }

func invalid(field, reason string) error { return &FieldError{Field: field, Reason: reason} }

// TooEarlyError refuses a redemption before the invite opens.
type TooEarlyError struct {
	// OpensAt is the first instant the invite can be redeemed.
	OpensAt time.Time
}

func (e *TooEarlyError) Error() string {
	return fmt.Sprintf("invite opens at %s", e.OpensAt.UTC().Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrInviteTooEarly) true.
func (e *TooEarlyError) Unwrap() error { return ErrInviteTooEarly }

// ThrottledError refuses a redemption from an address with too many
// recent failures.
type ThrottledError struct {
	// RetryAfter is the wait, rounded up to whole seconds.
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed attempts; retry after %s", e.RetryAfter)
}

// Unwrap makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Unwrap() error { return ErrThrottled }
