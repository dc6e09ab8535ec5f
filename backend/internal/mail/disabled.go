package mail

import "context"

// Disabled is the Sender used when no SMTP relay is configured: every Send
// fails with ErrNotConfigured, after validating the message so that callers
// see their own mistakes even with mail off.
type Disabled struct{}

// Send returns ErrNotConfigured (or the validation error of m).
func (Disabled) Send(ctx context.Context, m Message) error {
	if _, err := m.validate(); err != nil {
		return err
	}
	return ErrNotConfigured
}

var _ Sender = Disabled{}
