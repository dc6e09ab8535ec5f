package database

import "errors"

// Sentinel errors of the database package.
var (
	// ErrUnavailable means the server could not be reached in time.
	ErrUnavailable = errors.New("database unavailable")
	// ErrMigrationsPending means the schema is older than the binary.
	ErrMigrationsPending = errors.New("migrations pending")
	// ErrBadMigrationName means an embedded file does not follow NNNN_name.sql.
	ErrBadMigrationName = errors.New("bad migration file name")
)
