package sfu

import "errors"

// Sentinel errors of the SFU. Each that reaches a client maps to one
// signalling error code (see code).
var (
	ErrNoVerifier       = errors.New("sfu: no grant verifier")
	ErrNoUDP            = errors.New("sfu: no UDP socket")
	ErrBadNodeID        = errors.New("sfu: invalid node id")
	ErrClosed           = errors.New("sfu: closed")
	ErrRoomFull         = errors.New("sfu: node full")
	ErrDraining         = errors.New("sfu: node draining")
	ErrNotJoined        = errors.New("sfu: message before join")
	ErrAlreadyJoined    = errors.New("sfu: already joined")
	ErrWrongRoom        = errors.New("sfu: join for another room than the grant's")
	ErrSourceNotAllowed = errors.New("sfu: source not allowed by the grant")
	ErrUnknownTrack     = errors.New("sfu: unknown track")
	ErrBadTarget        = errors.New("sfu: unknown peer connection target")
	ErrRateLimited      = errors.New("sfu: too many messages")
	ErrUnknownType      = errors.New("sfu: unknown message type")
	ErrBadKind          = errors.New("sfu: kind does not match source")
	errBadMessage       = errors.New("sfu: bad message")
	errNoEstimator      = errors.New("sfu: no bandwidth estimator for the sub connection")
)
