package realtime

import "errors"

// Origin check failures. Each is answered with 403 before any upgrade.
var (
	ErrOriginMissing    = errors.New("origin header missing")
	ErrOriginMalformed  = errors.New("origin is not https://host[:port]")
	ErrOriginNotAllowed = errors.New("origin host is not an app host")
	ErrOriginCrossSite  = errors.New("origin does not match the requested host")
)
