package account

import "errors"

// Sentinel errors of the account package. Handlers map them to responses;
// the texts are safe to show (they never contain input).
var (
	// ErrNotFound means no user, API key or token with that identifier.
	ErrNotFound = errors.New("not found")
	// ErrEmailTaken means another account already uses the e-mail address
	// (compared case-insensitively).
	ErrEmailTaken = errors.New("email address already in use")
	// ErrConflict is any other uniqueness violation.
	ErrConflict = errors.New("conflicting record")
	// ErrInvalidInput is wrapped by every *FieldError.
	ErrInvalidInput = errors.New("invalid input")
	// ErrInvalidCursor means a List cursor was not one List returned.
	ErrInvalidCursor = errors.New("invalid cursor")
	// ErrInvalidTransition means the status change is not allowed (for
	// example approving an account that is not pending).
	ErrInvalidTransition = errors.New("status change not allowed")
	// ErrLastAdmin means the change would leave no active administrator.
	ErrLastAdmin = errors.New("the last active administrator cannot be demoted or disabled")

	// ErrInvalidCredentials is the one answer to a failed sign-in, whether
	// the address is unknown, the password wrong, no password is set yet or
	// the account may not sign in with a password.
	ErrInvalidCredentials = errors.New("invalid email or password")
	// ErrDisabled means the account is disabled. Authenticate returns it only
	// after the password was verified.
	ErrDisabled = errors.New("account disabled")
	// ErrPendingApproval means the account waits for an administrator's
	// approval. Authenticate returns it only after the password was verified.
	ErrPendingApproval = errors.New("account pending approval")

	// Password policy (ASVS V6.2): each error names the rule that failed.
	ErrPasswordTooShort      = errors.New("password must be at least 8 characters")
	ErrPasswordTooLong       = errors.New("password must be at most 128 characters")
	ErrPasswordCommon        = errors.New("password is too common")
	ErrPasswordContainsEmail = errors.New("password must not contain the email address")
	ErrPasswordEncoding      = errors.New("password is not valid UTF-8")

	// ErrInvalidHash means a stored password hash is not a PHC string this
	// package can verify.
	ErrInvalidHash = errors.New("invalid password hash")

	// ErrInvalidAPIKey means the key is malformed, unknown or does not match.
	ErrInvalidAPIKey = errors.New("invalid API key")
	// ErrAPIKeyRevoked means the key was revoked, or is already revoked.
	ErrAPIKeyRevoked = errors.New("API key revoked")

	// ErrTokenInvalid means the token is malformed, unknown, or was
	// superseded by a newer token of the same purpose.
	ErrTokenInvalid = errors.New("invalid link")
	// ErrTokenUsed means the token was already used.
	ErrTokenUsed = errors.New("link already used")
	// ErrTokenExpired means the token's lifetime is over.
	ErrTokenExpired = errors.New("link expired")
	// ErrTokenPurpose means the token was issued for another purpose.
	ErrTokenPurpose = errors.New("link issued for another purpose")
)

// FieldError says which input field failed validation and why. It wraps
// ErrInvalidInput.
type FieldError struct {
	// Field is the input's name in snake case, e.g. "first_name".
	Field string
	// Reason is a short, input-free explanation.
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidInput) true.
func (e *FieldError) Unwrap() error { return ErrInvalidInput }

func invalid(field, reason string) error { return &FieldError{Field: field, Reason: reason} }
