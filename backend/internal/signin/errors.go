package signin

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors of the signin package. The caller maps them to responses;
// none of them says whether an e-mail address exists.
var (
	// ErrInvalidCredentials means the e-mail is unknown or the password is
	// wrong. Accounts.Authenticate must return it (possibly wrapped) for both.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrAccountNotActive means the password was right but the account is
	// pending approval or disabled. Only someone who knows the password
	// learns this.
	ErrAccountNotActive = errors.New("account not active")
	// ErrThrottled means too many recent failures; errors.As into
	// *ThrottledError gives the wait.
	ErrThrottled = errors.New("too many attempts")
	// ErrSecondFactorRequired means the session has passed the password
	// step only and may be used only to complete or enrol the second factor.
	ErrSecondFactorRequired = errors.New("second factor required")
	// ErrInvalidCode means a TOTP or recovery code was malformed, wrong,
	// already used or outside the accepted window.
	ErrInvalidCode = errors.New("invalid code")
	// ErrInvalidSession means the token is unknown, malformed, expired
	// (idle or absolute), revoked, or belongs to a user who is no longer
	// active. The reasons are not told apart on purpose.
	ErrInvalidSession = errors.New("invalid session")
	// ErrNotEnrolled means the user has no confirmed second factor.
	ErrNotEnrolled = errors.New("second factor not enrolled")
	// ErrAlreadyEnrolled means the user already has a confirmed second
	// factor; it must be reset (ResetFactor) before enrolling again.
	ErrAlreadyEnrolled = errors.New("second factor already enrolled")
	// ErrNoPendingEnrolment means Confirm was called without BeginEnrolment.
	ErrNoPendingEnrolment = errors.New("no pending enrolment")
	// ErrWrongLevel means the operation needs a session at another level,
	// e.g. completing the second factor on a session that is already full.
	ErrWrongLevel = errors.New("session at the wrong level for this operation")
	// ErrPasskeyHost means the request's host is not one that passkeys may
	// be bound to (the doctor or the admin app host).
	ErrPasskeyHost = errors.New("passkeys are not available on this host")
	// ErrNoPendingCeremony means a passkey response came without options
	// issued to this session in the last five minutes, or answered them
	// already.
	ErrNoPendingCeremony = errors.New("no pending passkey ceremony")
	// ErrMalformedCredential means the passkey response is not a
	// PublicKeyCredential in JSON form.
	ErrMalformedCredential = errors.New("malformed passkey response")
	// ErrInvalidPasskey means a well-formed passkey response did not verify:
	// wrong challenge, origin or RP ID, unknown credential, bad signature,
	// or a signature counter that did not grow.
	ErrInvalidPasskey = errors.New("passkey refused")
	// ErrPasskeyNotFound means the user has no passkey with that id.
	ErrPasskeyNotFound = errors.New("passkey not found")
	// ErrPasskeyExists means the credential is registered already.
	ErrPasskeyExists = errors.New("passkey already registered")
	// ErrPasskeyLimit means the user has MaxPasskeys passkeys.
	ErrPasskeyLimit = errors.New("too many passkeys")
	// ErrLastFactor means removing the factor would leave a doctor or an
	// admin, who must have one, without any.
	ErrLastFactor = errors.New("the last second factor cannot be removed")
	// ErrInvalidPasskeyName means the label is empty, longer than 64
	// characters or holds control characters.
	ErrInvalidPasskeyName = errors.New("passkey name must be 1 to 64 printable characters")
)

// ThrottledError is ErrThrottled with the time to wait.
type ThrottledError struct {
	// RetryAfter is how long until the next attempt is considered
	// (rounded up to the second, at least one second).
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%s: retry after %s", ErrThrottled, e.RetryAfter)
}

// Is makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// RetryAfter returns the wait carried by a throttling error.
func RetryAfter(err error) (time.Duration, bool) {
	var te *ThrottledError
	if errors.As(err, &te) {
		return te.RetryAfter, true
	}
	return 0, false
}
