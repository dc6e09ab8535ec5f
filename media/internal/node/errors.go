package node

import "errors"

// ErrNoRooms is returned by New without a NewRooms constructor.
var ErrNoRooms = errors.New("node: NewRooms is required")
