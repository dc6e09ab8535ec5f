package mail

import (
	"errors"
	"fmt"
)

var (
	// ErrNotConfigured is returned by the Disabled sender: no SMTP relay
	// is configured (HCW_SMTP_HOST is empty), so mail is off.
	ErrNotConfigured = errors.New("mail is not configured (HCW_SMTP_HOST is empty)")
	// ErrInvalidMessage is wrapped by every validation error; nothing was
	// sent.
	ErrInvalidMessage = errors.New("invalid message")
	// ErrInvalidParams is wrapped by every error of NewSMTP.
	ErrInvalidParams = errors.New("invalid SMTP parameters")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidMessage}, args...)...)
}

// sendError carries the relay's error with full recipient addresses
// replaced by their domains, so that the caller may log it; Unwrap still
// gives the original for errors.As.
type sendError struct {
	msg string
	err error
}

func (e *sendError) Error() string { return e.msg }
func (e *sendError) Unwrap() error { return e.err }
