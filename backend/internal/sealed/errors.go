package sealed

import "errors"

// Errors returned by this package. None of them ever carries plaintext or
// key material; ErrUnknownKey is wrapped with the (public) key ID.
var (
	// ErrDecrypt means authentication failed: wrong key, wrong AAD (the
	// ciphertext was moved to another place), or tampered, truncated,
	// reordered or extended data.
	ErrDecrypt = errors.New("sealed: message authentication failed")
	// ErrUnknownKey means the ciphertext names a key ID the keyring does
	// not hold, typically a retired key removed too early.
	ErrUnknownKey = errors.New("sealed: unknown key ID")
	// ErrFormat means the input is not sealed data of a supported format:
	// too short or an unknown format byte.
	ErrFormat = errors.New("sealed: not sealed data")
	// ErrInvalidKey means an encoded key is not 32 bytes in base64url.
	ErrInvalidKey = errors.New("invalid data key")

	// errClosed is returned by a stream writer used after Close.
	errClosed = errors.New("sealed: write to closed stream")
)
