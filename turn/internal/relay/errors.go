package relay

import "errors"

// Sentinel errors of the relay package.
var (
	// ErrTCPRelay is returned when something asks for a TCP relay socket
	// (RFC 6062); this server relays UDP only.
	ErrTCPRelay = errors.New("relay: TCP relaying is not supported")
	// ErrParams is returned by New for incomplete Params.
	ErrParams = errors.New("relay: invalid parameters")
)
