package registry

import "errors"

// Errors returned by the constructors.
var (
	ErrNoBackend  = errors.New("registry: backend URL is required")
	ErrNoSecret   = errors.New("registry: node secret is required")
	ErrBadNodeID  = errors.New("registry: invalid node id")
	ErrNoLoad     = errors.New("registry: load and draining functions are required")
	ErrNoVerifier = errors.New("registry: verifier is required")
	ErrNoJWKSURL  = errors.New("registry: JWKS URL is required")
)
