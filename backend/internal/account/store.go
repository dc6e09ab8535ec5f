package account

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/sealed"
)

// PostgreSQL error codes mapped to sentinels in mapErr.
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
	pgInvalidText         = "22P02"
	emailConstraint       = "users_email_key"
)

// adminLockKey serialises changes that could remove the last active
// administrator ("HCWADMN" in ASCII); without it two concurrent demotions
// could each see the other admin and both succeed.
const adminLockKey int64 = 0x48_43_57_41_44_4d_4e

const userColumns = `id::text AS id, email, first_name_sealed, last_name_sealed, phone_sealed,
    language, role, status, all_queues, password_hash, coalesce(terms_version, '') AS terms_version,
    created_at, updated_at`

const (
	sqlUserInsert = `
INSERT INTO users (id, email, first_name_sealed, last_name_sealed, phone_sealed, language, role, status, all_queues)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING ` + userColumns

	sqlUserByID          = `SELECT ` + userColumns + ` FROM users WHERE id = $1`
	sqlUserByIDForUpdate = sqlUserByID + ` FOR UPDATE`
	sqlUserByEmail       = `SELECT ` + userColumns + ` FROM users WHERE email = $1`

	sqlUserList = `
SELECT ` + userColumns + ` FROM users
WHERE ($1::text = '' OR role = $1::text)
  AND ($2::text = '' OR status = $2::text)
  AND ($3::timestamptz IS NULL OR (created_at, id) > ($3::timestamptz, $4::uuid))
ORDER BY created_at, id
LIMIT $5`

	sqlUserUpdate = `
UPDATE users SET first_name_sealed = $2, last_name_sealed = $3, phone_sealed = $4,
                 language = $5, role = $6, all_queues = $7, updated_at = now()
WHERE id = $1
RETURNING ` + userColumns

	sqlUserSetStatus = `UPDATE users SET status = $2, updated_at = now() WHERE id = $1 RETURNING ` + userColumns

	sqlUserSetPassword = `UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1`

	// sqlUserRehash replaces a hash only if it is still the one verified, so
	// a password change racing a sign-in is never undone.
	sqlUserRehash = `UPDATE users SET password_hash = $2 WHERE id = $1 AND password_hash = $3`

	sqlUserAcceptTerms = `UPDATE users SET terms_version = $2, updated_at = now() WHERE id = $1`

	sqlAdminLock         = `SELECT pg_advisory_xact_lock($1)`
	sqlOtherActiveAdmins = `SELECT count(*) FROM users WHERE role = 'admin' AND status = 'active' AND id <> $1`
)

// userRow is a users row as stored: sealed fields still sealed.
type userRow struct {
	ID              string    `db:"id"`
	Email           string    `db:"email"`
	FirstNameSealed []byte    `db:"first_name_sealed"`
	LastNameSealed  []byte    `db:"last_name_sealed"`
	PhoneSealed     []byte    `db:"phone_sealed"`
	Language        string    `db:"language"`
	Role            Role      `db:"role"`
	Status          Status    `db:"status"`
	AllQueues       bool      `db:"all_queues"`
	PasswordHash    *string   `db:"password_hash"`
	TermsVersion    string    `db:"terms_version"`
	CreatedAt       time.Time `db:"created_at"`
	UpdatedAt       time.Time `db:"updated_at"`
}

// Params configures NewStore.
type Params struct {
	Pool  *pgxpool.Pool
	Keys  *sealed.Keyring
	Audit *audit.Store
	// Now is the clock for token and API key times; time.Now if nil.
	Now func() time.Time
	// Hash are the argon2id parameters for new hashes; DefaultHashParams
	// if zero.
	Hash HashParams
}

// Store keeps accounts in PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool  *pgxpool.Pool
	keys  *sealed.Keyring
	audit *audit.Store
	now   func() time.Time
	hash  HashParams

	dummyHash func() string
	// onDummyVerify, if set, is called by every dummy verification (tests).
	onDummyVerify func()
}

// NewStore returns a Store. The migrations must have run.
func NewStore(p Params) *Store {
	s := &Store{pool: p.Pool, keys: p.Keys, audit: p.Audit, now: p.Now, hash: p.Hash}
	if s.now == nil {
		s.now = time.Now
	}
	if s.hash == (HashParams{}) {
		s.hash = DefaultHashParams
	}
	s.dummyHash = sync.OnceValue(func() string {
		// A hash of nothing anyone knows, with the current parameters, so
		// that a dummy verification costs what a real one does.
		return s.hash.Hash(newUUID() + newUUID())
	})
	return s
}

// mapErr is the one place where database errors become sentinels.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case pgUniqueViolation:
			if pgErr.ConstraintName == emailConstraint {
				return ErrEmailTaken
			}
			return ErrConflict
		case pgForeignKeyViolation, pgInvalidText:
			// A reference to a user that does not exist (any more), or an
			// id that is not a UUID at all.
			return ErrNotFound
		}
	}
	return err
}

// inTx runs fn in a transaction and maps its error.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return mapErr(pgx.BeginFunc(ctx, s.pool, fn))
}

// record appends a successful event about an object inside tx.
func (s *Store) record(ctx context.Context, tx pgx.Tx, actor Actor, action, objectType, objectID string) error {
	return s.audit.AppendTx(ctx, tx, audit.Event{
		ActorType: actor.Type, ActorID: actor.ID, ClientIP: actor.ClientIP,
		Action: action, ObjectType: objectType, ObjectID: objectID, Outcome: audit.OutcomeSuccess,
	})
}

// SealedAAD is the additional data that binds a sealed users column
// (first_name, last_name, phone: the name without _sealed) to the row id,
// so a value copied to another row or column does not open.
func SealedAAD(column, id string) []byte { return []byte("users." + column + ":" + id) }

func (s *Store) seal(column, id, value string) []byte {
	b, err := s.keys.Seal([]byte(value), SealedAAD(column, id))
	if err != nil {
		panic(err) // Seal has no failure mode with a valid keyring
	}
	return b
}

func (s *Store) open(column, id string, b []byte) (string, error) {
	if b == nil {
		return "", nil
	}
	plain, err := s.keys.Open(b, SealedAAD(column, id))
	if err != nil {
		return "", fmt.Errorf("open users.%s of %s: %w", column, id, err)
	}
	return string(plain), nil
}

func (s *Store) toUser(r userRow) (User, error) {
	u := User{
		ID: r.ID, Email: r.Email, Language: r.Language, Role: r.Role, Status: r.Status,
		AllQueues: r.AllQueues, TermsVersion: r.TermsVersion, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	var err error
	if u.FirstName, err = s.open("first_name", r.ID, r.FirstNameSealed); err != nil {
		return User{}, err
	}
	if u.LastName, err = s.open("last_name", r.ID, r.LastNameSealed); err != nil {
		return User{}, err
	}
	if u.Phone, err = s.open("phone", r.ID, r.PhoneSealed); err != nil {
		return User{}, err
	}
	return u, nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func queryUserRow(ctx context.Context, q querier, sql string, args ...any) (userRow, error) {
	rows, _ := q.Query(ctx, sql, args...) // the error surfaces from Collect
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[userRow])
	return r, mapErr(err)
}

func (s *Store) queryUser(ctx context.Context, q querier, sql string, args ...any) (User, error) {
	r, err := queryUserRow(ctx, q, sql, args...)
	if err != nil {
		return User{}, err
	}
	return s.toUser(r)
}

// NewUser is the input of Create.
type NewUser struct {
	Email     string
	FirstName string
	LastName  string
	Phone     string // optional, E.164
	Language  string // optional, "en" if empty
	Role      Role
	// Status is StatusActive for accounts an administrator creates and
	// StatusPendingApproval for self-registered nurses.
	Status    Status
	AllQueues bool
}

// Create validates and stores a new account without a password (it is set
// through a setup link) and records user.created.
func (s *Store) Create(ctx context.Context, actor Actor, n NewUser) (User, error) {
	var err error
	if n.Email, err = NormalizeEmail(n.Email); err != nil {
		return User{}, err
	}
	if n.FirstName, err = normalizeName("first_name", n.FirstName); err != nil {
		return User{}, err
	}
	if n.LastName, err = normalizeName("last_name", n.LastName); err != nil {
		return User{}, err
	}
	if err = validatePhone(n.Phone); err != nil {
		return User{}, err
	}
	if n.Language, err = normalizeLanguage(n.Language); err != nil {
		return User{}, err
	}
	if !n.Role.Valid() {
		return User{}, invalid("role", "unknown role")
	}
	if n.Status != StatusActive && n.Status != StatusPendingApproval {
		return User{}, invalid("status", "must be active or pending_approval")
	}
	id := newUUID()
	var phone []byte
	if n.Phone != "" {
		phone = s.seal("phone", id, n.Phone)
	}
	var u User
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		u, err = s.queryUser(ctx, tx, sqlUserInsert, id, n.Email,
			s.seal("first_name", id, n.FirstName), s.seal("last_name", id, n.LastName), phone,
			n.Language, n.Role, n.Status, n.AllQueues)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, actor, ActionUserCreated, "user", id)
	})
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// ByID returns the user with that id, or ErrNotFound.
func (s *Store) ByID(ctx context.Context, id string) (User, error) {
	if !validID(id) {
		return User{}, ErrNotFound
	}
	u, err := s.queryUser(ctx, s.pool, sqlUserByID, id)
	if err != nil {
		return User{}, fmt.Errorf("user by id: %w", err)
	}
	return u, nil
}

// ByEmail returns the user with that address (case-insensitive), or
// ErrNotFound.
func (s *Store) ByEmail(ctx context.Context, email string) (User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return User{}, fmt.Errorf("user by email: %w", ErrNotFound)
	}
	u, err := s.queryUser(ctx, s.pool, sqlUserByEmail, email)
	if err != nil {
		return User{}, fmt.Errorf("user by email: %w", err)
	}
	return u, nil
}

// List limits.
const (
	DefaultListLimit = 50
	MaxListLimit     = 100
)

// ListParams filters and pages List. Zero Role or Status means any.
type ListParams struct {
	Role   Role
	Status Status
	// Limit is 1..100; 0 means DefaultListLimit.
	Limit int
	// Cursor is Page.Next of the previous page; empty for the first page.
	Cursor string
}

// Page is one page of List.
type Page struct {
	Users []User
	// Next is the cursor of the following page; empty on the last page.
	Next string
}

// List returns users ordered by creation time (then id), a page at a time.
// Keyset pagination: rows created while a client pages are neither skipped
// nor repeated.
func (s *Store) List(ctx context.Context, p ListParams) (Page, error) {
	if p.Role != "" && !p.Role.Valid() {
		return Page{}, invalid("role", "unknown role")
	}
	if p.Status != "" && !p.Status.Valid() {
		return Page{}, invalid("status", "unknown status")
	}
	switch {
	case p.Limit == 0:
		p.Limit = DefaultListLimit
	case p.Limit < 1 || p.Limit > MaxListLimit:
		return Page{}, invalid("limit", "must be between 1 and 100")
	}
	var after *time.Time
	var afterID *string
	if p.Cursor != "" {
		t, id, err := decodeCursor(p.Cursor)
		if err != nil {
			return Page{}, err
		}
		after, afterID = &t, &id
	}
	rows, _ := s.pool.Query(ctx, sqlUserList, string(p.Role), string(p.Status), after, afterID, p.Limit+1)
	found, err := pgx.CollectRows(rows, pgx.RowToStructByName[userRow])
	if err != nil {
		return Page{}, fmt.Errorf("list users: %w", mapErr(err))
	}
	var page Page
	if len(found) > p.Limit {
		found = found[:p.Limit]
		last := found[len(found)-1]
		page.Next = encodeCursor(last.CreatedAt, last.ID)
	}
	page.Users = make([]User, 0, len(found))
	for _, r := range found {
		u, err := s.toUser(r)
		if err != nil {
			return Page{}, fmt.Errorf("list users: %w", err)
		}
		page.Users = append(page.Users, u)
	}
	return page, nil
}

// The cursor is base64url("<created_at in Unix microseconds>:<id>"):
// opaque to clients, exact to PostgreSQL's precision.
func encodeCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixMicro(), 10) + ":" + id))
}

func decodeCursor(c string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(c)
	if err != nil {
		return time.Time{}, "", ErrInvalidCursor
	}
	micros, id, ok := strings.Cut(string(b), ":")
	n, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil || !validID(id) {
		return time.Time{}, "", ErrInvalidCursor
	}
	return time.UnixMicro(n).UTC(), id, nil
}

// Changes is the input of Update: nil fields stay as they are. An empty
// Phone removes the phone number.
type Changes struct {
	FirstName, LastName, Phone, Language *string
	Role                                 *Role
	AllQueues                            *bool
}

// Update applies c to the user and records user.changed. privileged is
// true when the role or the all-queues flag changed: the caller must then
// end the user's sessions so that no session keeps the old privileges
// (ASVS 7.4.2). Demoting the last active administrator fails with
// ErrLastAdmin. A change that changes nothing records nothing.
func (s *Store) Update(ctx context.Context, actor Actor, id string, c Changes) (u User, privileged bool, err error) {
	if !validID(id) {
		return User{}, false, fmt.Errorf("update user: %w", ErrNotFound)
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if c.Role != nil {
			if _, err := tx.Exec(ctx, sqlAdminLock, adminLockKey); err != nil {
				return err
			}
		}
		old, err := s.queryUser(ctx, tx, sqlUserByIDForUpdate, id)
		if err != nil {
			return err
		}
		next := old
		if c.FirstName != nil {
			if next.FirstName, err = normalizeName("first_name", *c.FirstName); err != nil {
				return err
			}
		}
		if c.LastName != nil {
			if next.LastName, err = normalizeName("last_name", *c.LastName); err != nil {
				return err
			}
		}
		if c.Phone != nil {
			if err = validatePhone(*c.Phone); err != nil {
				return err
			}
			next.Phone = *c.Phone
		}
		if c.Language != nil {
			if next.Language, err = normalizeLanguage(*c.Language); err != nil {
				return err
			}
		}
		if c.Role != nil {
			if !c.Role.Valid() {
				return invalid("role", "unknown role")
			}
			next.Role = *c.Role
		}
		if c.AllQueues != nil {
			next.AllQueues = *c.AllQueues
		}
		if next == old {
			u = old
			return nil
		}
		if old.Role == RoleAdmin && next.Role != RoleAdmin && old.Status == StatusActive {
			if err := s.requireOtherAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		var phone []byte
		if next.Phone != "" {
			phone = s.seal("phone", id, next.Phone)
		}
		u, err = s.queryUser(ctx, tx, sqlUserUpdate, id,
			s.seal("first_name", id, next.FirstName), s.seal("last_name", id, next.LastName), phone,
			next.Language, next.Role, next.AllQueues)
		if err != nil {
			return err
		}
		privileged = old.Role != next.Role || old.AllQueues != next.AllQueues
		return s.record(ctx, tx, actor, ActionUserChanged, "user", id)
	})
	if err != nil {
		return User{}, false, fmt.Errorf("update user: %w", err)
	}
	return u, privileged, nil
}

func (s *Store) requireOtherAdmin(ctx context.Context, tx pgx.Tx, id string) error {
	var n int
	if err := tx.QueryRow(ctx, sqlOtherActiveAdmins, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return ErrLastAdmin
	}
	return nil
}

// SetStatus moves the account to status and records the matching event:
//
//	pending_approval -> active    user.approved (a nurse is approved)
//	disabled         -> active    user.enabled
//	active, pending  -> disabled  user.disabled
//
// Anything else, including no change, fails with ErrInvalidTransition.
// Disabling the last active administrator fails with ErrLastAdmin. After
// disabling, the caller ends the user's sessions.
func (s *Store) SetStatus(ctx context.Context, actor Actor, id string, status Status) (User, error) {
	if !validID(id) {
		return User{}, fmt.Errorf("set status: %w", ErrNotFound)
	}
	var u User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlAdminLock, adminLockKey); err != nil {
			return err
		}
		old, err := queryUserRow(ctx, tx, sqlUserByIDForUpdate, id)
		if err != nil {
			return err
		}
		var action string
		switch {
		case old.Status == StatusPendingApproval && status == StatusActive:
			action = ActionUserApproved
		case old.Status == StatusDisabled && status == StatusActive:
			action = ActionUserEnabled
		case old.Status != StatusDisabled && status == StatusDisabled:
			action = ActionUserDisabled
			if old.Role == RoleAdmin && old.Status == StatusActive {
				if err := s.requireOtherAdmin(ctx, tx, id); err != nil {
					return err
				}
			}
		default:
			return ErrInvalidTransition
		}
		if u, err = s.queryUser(ctx, tx, sqlUserSetStatus, id, status); err != nil {
			return err
		}
		return s.record(ctx, tx, actor, action, "user", id)
	})
	if err != nil {
		return User{}, fmt.Errorf("set status: %w", err)
	}
	return u, nil
}

// SetPassword checks password against the policy, stores its hash and
// records password.changed. It does not ask for the current password:
// a self-service change verifies it with Authenticate first. The caller
// ends the user's other sessions (ASVS 7.4.3).
func (s *Store) SetPassword(ctx context.Context, actor Actor, id, password string) error {
	u, err := s.ByID(ctx, id)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if err := CheckPassword(password, u.Email); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	hash := s.hash.Hash(password) // slow: outside the transaction
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sqlUserSetPassword, id, hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return s.record(ctx, tx, actor, ActionPasswordChanged, "user", id)
	})
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return nil
}

// AcceptTerms records that the user accepted the terms of use of version
// (a short token such as "2025-01").
func (s *Store) AcceptTerms(ctx context.Context, actor Actor, id, version string) error {
	if version == "" || len(version) > MaxTermsLen || !termsPattern.MatchString(version) {
		return invalid("terms_version", "must be 1 to 64 characters from [A-Za-z0-9._-]")
	}
	if !validID(id) {
		return fmt.Errorf("accept terms: %w", ErrNotFound)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sqlUserAcceptTerms, id, version)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return s.record(ctx, tx, actor, ActionTermsAccepted, "user", id)
	})
	if err != nil {
		return fmt.Errorf("accept terms: %w", err)
	}
	return nil
}

// Authenticate checks an e-mail address and password. Unknown address,
// wrong password, no password set yet, and a scheduler account (API keys
// only) all give ErrInvalidCredentials after the same argon2id work, so
// neither the answer nor its timing tells which addresses have accounts
// (ASVS 6.3.8). Only once the password is verified does it reveal that the
// account is disabled (ErrDisabled) or pending approval
// (ErrPendingApproval). A hash weaker than the current parameters is
// replaced on success.
func (s *Store) Authenticate(ctx context.Context, email, password string) (User, error) {
	r, err := s.authRow(ctx, email)
	if errors.Is(err, ErrNotFound) || (err == nil && r.PasswordHash == nil) {
		s.dummyVerify(password)
		return User{}, ErrInvalidCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("authenticate: %w", err)
	}
	ok, err := VerifyPassword(*r.PasswordHash, password)
	if err != nil {
		return User{}, fmt.Errorf("authenticate: %w", err)
	}
	if !ok || r.Role == RoleScheduler {
		return User{}, ErrInvalidCredentials
	}
	switch r.Status {
	case StatusDisabled:
		return User{}, ErrDisabled
	case StatusPendingApproval:
		return User{}, ErrPendingApproval
	}
	if s.hash.NeedsRehash(*r.PasswordHash) {
		// Best effort: a failure here must not refuse a valid sign-in, and
		// the next sign-in tries again.
		_, _ = s.pool.Exec(ctx, sqlUserRehash, r.ID, s.hash.Hash(password), *r.PasswordHash)
	}
	u, err := s.toUser(r)
	if err != nil {
		return User{}, fmt.Errorf("authenticate: %w", err)
	}
	return u, nil
}

func (s *Store) authRow(ctx context.Context, email string) (userRow, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return userRow{}, ErrNotFound
	}
	return queryUserRow(ctx, s.pool, sqlUserByEmail, email)
}

// dummyVerify spends the work of one verification on a hash nobody knows
// the password of.
func (s *Store) dummyVerify(password string) {
	if s.onDummyVerify != nil {
		s.onDummyVerify()
	}
	_, _ = VerifyPassword(s.dummyHash(), password)
}
