package audit

import "errors"

// Sentinel errors of the audit package.
var (
	// ErrInvalidEvent means an event failed validation and was not stored.
	ErrInvalidEvent = errors.New("invalid audit event")
	// ErrHorizonTooRecent means a purge was asked to delete rows younger than
	// MinRetention.
	ErrHorizonTooRecent = errors.New("audit purge horizon is more recent than the minimum retention")
	// ErrInvalidFilter is wrapped by every refusal of a listing filter.
	ErrInvalidFilter = errors.New("invalid audit filter")
)
