package account

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/database"
	"github.com/hcw-home/hcw/backend/internal/database/dbtest"
	"github.com/hcw-home/hcw/backend/internal/sealed"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// clock is a settable time source for Params.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fixture struct {
	store *Store
	pool  *pgxpool.Pool
	clock *clock
	dummy *atomic.Int64
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	pool := dbtest.NewPool(t)
	require.NoError(t, database.Migrate(t.Context(), pool, database.Migrations(), slog.New(slog.NewTextHandler(io.Discard, nil))))
	secret := make([]byte, sealed.KeySize)
	rand.Read(secret)
	key, err := sealed.ParseKey(base64.RawURLEncoding.EncodeToString(secret))
	require.NoError(t, err)
	keys, err := sealed.NewKeyring(key)
	require.NoError(t, err)
	c := &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := NewStore(Params{Pool: pool, Keys: keys, Audit: audit.NewStore(pool), Now: c.Now, Hash: cheap})
	var n atomic.Int64
	s.onDummyVerify = func() { n.Add(1) }
	return fixture{store: s, pool: pool, clock: c, dummy: &n}
}

var admin = Actor{Type: audit.ActorUser, ID: "00000000-0000-4000-8000-000000000001", ClientIP: netip.MustParseAddr("192.0.2.7")}

func (f fixture) create(t *testing.T, email string, role Role, status Status) User {
	t.Helper()
	u, err := f.store.Create(t.Context(), admin, NewUser{
		Email: email, FirstName: "Ada", LastName: "Lovelace", Role: role, Status: status,
	})
	require.NoError(t, err)
	return u
}

type auditRow struct {
	ActorType, ActorID, Action, ObjectType, ObjectID, Outcome string
}

func (f fixture) auditRows(t *testing.T) []auditRow {
	t.Helper()
	rows, err := f.pool.Query(t.Context(), `SELECT actor_type, coalesce(actor_id, ''), action,
		coalesce(object_type, ''), coalesce(object_id, ''), outcome FROM audit_events ORDER BY seq`)
	require.NoError(t, err)
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		require.NoError(t, rows.Scan(&r.ActorType, &r.ActorID, &r.Action, &r.ObjectType, &r.ObjectID, &r.Outcome))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

func (f fixture) lastAudit(t *testing.T) auditRow {
	t.Helper()
	rows := f.auditRows(t)
	require.NotEmpty(t, rows)
	return rows[len(rows)-1]
}

func TestCreateAndRead(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	u, err := f.store.Create(ctx, admin, NewUser{
		Email: "  Marie.Curie@Example.ORG ", FirstName: " Marie ", LastName: "Skłodowska-Curie",
		Phone: "+41221234567", Language: "fr-CH", Role: RoleDoctor, Status: StatusActive, AllQueues: true,
	})
	require.NoError(t, err)
	assert.Regexp(t, uuidPattern, u.ID)
	assert.Equal(t, "marie.curie@example.org", u.Email)
	assert.Equal(t, "Marie", u.FirstName)
	assert.Equal(t, "Skłodowska-Curie", u.LastName)
	assert.Equal(t, "+41221234567", u.Phone)
	assert.Equal(t, "fr-CH", u.Language)
	assert.Equal(t, RoleDoctor, u.Role)
	assert.Equal(t, StatusActive, u.Status)
	assert.True(t, u.AllQueues)
	assert.False(t, u.CreatedAt.IsZero())

	got, err := f.store.ByID(ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, u, got)
	got, err = f.store.ByEmail(ctx, "MARIE.curie@example.org")
	require.NoError(t, err)
	assert.Equal(t, u, got)

	_, err = f.store.ByID(ctx, newUUID())
	require.ErrorIs(t, err, ErrNotFound)
	_, err = f.store.ByID(ctx, "not-a-uuid")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = f.store.ByEmail(ctx, "nobody@example.org")
	require.ErrorIs(t, err, ErrNotFound)

	assert.Equal(t, auditRow{"user", admin.ID, "user.created", "user", u.ID, "success"}, f.lastAudit(t))
	var ip string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT host(client_ip) FROM audit_events`).Scan(&ip))
	assert.Equal(t, "192.0.2.7", ip)
}

func TestCreateValidation(t *testing.T) {
	f := newFixture(t)
	good := NewUser{Email: "a@example.org", FirstName: "A", LastName: "B", Role: RoleNurse, Status: StatusPendingApproval}
	for _, tc := range []struct {
		name  string
		edit  func(*NewUser)
		field string
	}{
		{"email missing", func(n *NewUser) { n.Email = " " }, "email"},
		{"email with name", func(n *NewUser) { n.Email = "Ada <a@example.org>" }, "email"},
		{"email not an address", func(n *NewUser) { n.Email = "example.org" }, "email"},
		{"email too long", func(n *NewUser) { n.Email = strings.Repeat("a", 64) + "@" + strings.Repeat("b", 190) + ".org" }, "email"},
		{"first name empty", func(n *NewUser) { n.FirstName = "  " }, "first_name"},
		{"first name 101 runes", func(n *NewUser) { n.FirstName = strings.Repeat("é", 101) }, "first_name"},
		{"last name control", func(n *NewUser) { n.LastName = "B\x00C" }, "last_name"},
		{"last name newline", func(n *NewUser) { n.LastName = "B\nC" }, "last_name"},
		{"phone not e164", func(n *NewUser) { n.Phone = "022 123 45 67" }, "phone"},
		{"phone leading zero", func(n *NewUser) { n.Phone = "+0221234567" }, "phone"},
		{"language", func(n *NewUser) { n.Language = "english" }, "language"},
		{"role", func(n *NewUser) { n.Role = "root" }, "role"},
		{"status disabled", func(n *NewUser) { n.Status = StatusDisabled }, "status"},
		{"status empty", func(n *NewUser) { n.Status = "" }, "status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := good
			tc.edit(&n)
			_, err := f.store.Create(t.Context(), admin, n)
			require.ErrorIs(t, err, ErrInvalidInput)
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.field, fe.Field)
		})
	}
	n := good
	n.FirstName = strings.Repeat("é", 100)
	_, err := f.store.Create(t.Context(), admin, n)
	require.NoError(t, err, "100 runes is the maximum, not 100 bytes")
}

func TestDuplicateEmail(t *testing.T) {
	f := newFixture(t)
	f.create(t, "dup@example.org", RoleDoctor, StatusActive)
	before := len(f.auditRows(t))
	_, err := f.store.Create(t.Context(), admin, NewUser{
		Email: "DUP@Example.org", FirstName: "X", LastName: "Y", Role: RoleNurse, Status: StatusActive,
	})
	require.ErrorIs(t, err, ErrEmailTaken)
	assert.Len(t, f.auditRows(t), before, "the failed change left no audit row")
}

// The audit row and the change commit together: an event the audit trail
// refuses rolls the change back.
func TestAuditFailureRollsBackChange(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	bad := Actor{Type: audit.ActorUser} // no id: refused by audit
	_, err := f.store.Create(ctx, bad, NewUser{Email: "x@example.org", FirstName: "X", LastName: "Y", Role: RoleDoctor, Status: StatusActive})
	require.ErrorIs(t, err, audit.ErrInvalidEvent)
	_, err = f.store.ByEmail(ctx, "x@example.org")
	require.ErrorIs(t, err, ErrNotFound)

	u := f.create(t, "y@example.org", RoleDoctor, StatusActive)
	_, err = f.store.SetStatus(ctx, bad, u.ID, StatusDisabled)
	require.ErrorIs(t, err, audit.ErrInvalidEvent)
	got, err := f.store.ByID(ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, StatusActive, got.Status)
	assert.Len(t, f.auditRows(t), 1)
}

func TestSealedAtRest(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	const first, last, phone = "Zorglub-MARKER-first", "Zorglub-MARKER-last", "+41799998877"
	u, err := f.store.Create(ctx, admin, NewUser{
		Email: "sealed@example.org", FirstName: first, LastName: last, Phone: phone, Role: RoleDoctor, Status: StatusActive,
	})
	require.NoError(t, err)
	var raw string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT t::text FROM users t WHERE id = $1`, u.ID).Scan(&raw))
	assert.Contains(t, raw, "sealed@example.org", "sanity: the row text is what we think")
	for _, m := range []string{"MARKER", "Zorglub", "799998877"} {
		assert.NotContains(t, raw, m)
		assert.NotContains(t, raw, hex.EncodeToString([]byte(m)), "not even as bytea hex")
	}
	var found bool
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT position(convert_to('MARKER', 'UTF8') IN first_name_sealed) > 0
		OR position(convert_to('MARKER', 'UTF8') IN last_name_sealed) > 0 FROM users WHERE id = $1`, u.ID).Scan(&found))
	assert.False(t, found)

	// Ciphertext bound to its row: copied into another user's row, it does
	// not open.
	other := f.create(t, "other@example.org", RoleNurse, StatusActive)
	_, err = f.pool.Exec(ctx, `UPDATE users SET first_name_sealed = (SELECT first_name_sealed FROM users WHERE id = $1) WHERE id = $2`, u.ID, other.ID)
	require.NoError(t, err)
	_, err = f.store.ByID(ctx, other.ID)
	require.ErrorIs(t, err, sealed.ErrDecrypt)
}

func TestListPagination(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	want := map[string]bool{}
	var doctors int
	for i := range 23 {
		role := []Role{RoleDoctor, RoleNurse, RoleScheduler}[i%3]
		if role == RoleDoctor {
			doctors++
		}
		u := f.create(t, fmt.Sprintf("u%02d@example.org", i), role, StatusActive)
		want[u.ID] = true
	}
	// Same created_at for a batch inserted in one transaction: the id
	// breaks the tie.
	_, err := f.pool.Exec(ctx, `UPDATE users SET created_at = '2030-01-01T00:00:00Z' WHERE email < 'u10'`)
	require.NoError(t, err)

	seen := map[string]int{}
	var pages int
	var prev User
	cursor := ""
	for {
		page, err := f.store.List(ctx, ListParams{Limit: 5, Cursor: cursor})
		require.NoError(t, err)
		pages++
		for _, u := range page.Users {
			seen[u.ID]++
			if prev.ID != "" {
				assert.True(t, prev.CreatedAt.Before(u.CreatedAt) || (prev.CreatedAt.Equal(u.CreatedAt) && prev.ID < u.ID), "ordered by (created_at, id)")
			}
			prev = u
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
		require.Less(t, pages, 10, "pagination terminates")
	}
	assert.Equal(t, 5, pages)
	require.Len(t, seen, len(want))
	for id, n := range seen {
		assert.True(t, want[id])
		assert.Equal(t, 1, n, "each row exactly once")
	}

	page, err := f.store.List(ctx, ListParams{Role: RoleDoctor, Status: StatusActive, Limit: 100})
	require.NoError(t, err)
	assert.Len(t, page.Users, doctors)
	assert.Empty(t, page.Next)
	page, err = f.store.List(ctx, ListParams{Status: StatusDisabled})
	require.NoError(t, err)
	assert.Empty(t, page.Users)
	assert.NotNil(t, page.Users, "an empty page, not nil")

	_, err = f.store.List(ctx, ListParams{Cursor: "bm9wZQ"})
	require.ErrorIs(t, err, ErrInvalidCursor)
	_, err = f.store.List(ctx, ListParams{Cursor: "!!"})
	require.ErrorIs(t, err, ErrInvalidCursor)
	_, err = f.store.List(ctx, ListParams{Limit: 101})
	require.ErrorIs(t, err, ErrInvalidInput)
	_, err = f.store.List(ctx, ListParams{Role: "root"})
	require.ErrorIs(t, err, ErrInvalidInput)
}

func ptr[T any](v T) *T { return &v }

func TestUpdate(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	u, err := f.store.Create(ctx, admin, NewUser{Email: "d@example.org", FirstName: "D", LastName: "E", Phone: "+41221234567", Role: RoleDoctor, Status: StatusActive})
	require.NoError(t, err)

	got, privileged, err := f.store.Update(ctx, admin, u.ID, Changes{FirstName: ptr("Dora"), Phone: ptr(""), Language: ptr("de")})
	require.NoError(t, err)
	assert.False(t, privileged)
	assert.Equal(t, "Dora", got.FirstName)
	assert.Equal(t, "E", got.LastName)
	assert.Empty(t, got.Phone)
	assert.Equal(t, "de", got.Language)
	assert.Equal(t, auditRow{"user", admin.ID, "user.changed", "user", u.ID, "success"}, f.lastAudit(t))
	reread, err := f.store.ByID(ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, got, reread)

	_, privileged, err = f.store.Update(ctx, admin, u.ID, Changes{Role: ptr(RoleNurse)})
	require.NoError(t, err)
	assert.True(t, privileged, "role change")
	_, privileged, err = f.store.Update(ctx, admin, u.ID, Changes{AllQueues: ptr(true)})
	require.NoError(t, err)
	assert.True(t, privileged, "all-queues change")

	n := len(f.auditRows(t))
	_, privileged, err = f.store.Update(ctx, admin, u.ID, Changes{Role: ptr(RoleNurse), FirstName: ptr("Dora")})
	require.NoError(t, err)
	assert.False(t, privileged)
	assert.Len(t, f.auditRows(t), n, "no change, no audit row")

	_, _, err = f.store.Update(ctx, admin, u.ID, Changes{LastName: ptr("")})
	require.ErrorIs(t, err, ErrInvalidInput)
	_, _, err = f.store.Update(ctx, admin, u.ID, Changes{Role: ptr(Role("root"))})
	require.ErrorIs(t, err, ErrInvalidInput)
	_, _, err = f.store.Update(ctx, admin, newUUID(), Changes{FirstName: ptr("X")})
	require.ErrorIs(t, err, ErrNotFound)
}

func TestLastAdmin(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	a := f.create(t, "a@example.org", RoleAdmin, StatusActive)
	_, _, err := f.store.Update(ctx, admin, a.ID, Changes{Role: ptr(RoleDoctor)})
	require.ErrorIs(t, err, ErrLastAdmin)
	_, err = f.store.SetStatus(ctx, admin, a.ID, StatusDisabled)
	require.ErrorIs(t, err, ErrLastAdmin)

	b := f.create(t, "b@example.org", RoleAdmin, StatusActive)
	_, err = f.store.SetStatus(ctx, admin, a.ID, StatusDisabled)
	require.NoError(t, err)
	_, _, err = f.store.Update(ctx, admin, b.ID, Changes{Role: ptr(RoleDoctor)})
	require.ErrorIs(t, err, ErrLastAdmin, "a disabled admin does not count")
}

func TestSetStatus(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	n := f.create(t, "nurse@example.org", RoleNurse, StatusPendingApproval)
	for _, step := range []struct {
		to     Status
		err    error
		action string
	}{
		{StatusPendingApproval, ErrInvalidTransition, ""},
		{StatusActive, nil, "user.approved"},
		{StatusActive, ErrInvalidTransition, ""},
		{StatusPendingApproval, ErrInvalidTransition, ""},
		{StatusDisabled, nil, "user.disabled"},
		{StatusDisabled, ErrInvalidTransition, ""},
		{StatusActive, nil, "user.enabled"},
		{"bogus", ErrInvalidTransition, ""},
	} {
		u, err := f.store.SetStatus(ctx, admin, n.ID, step.to)
		if step.err != nil {
			require.ErrorIs(t, err, step.err, "to %s", step.to)
			continue
		}
		require.NoError(t, err, "to %s", step.to)
		assert.Equal(t, step.to, u.Status)
		assert.Equal(t, step.action, f.lastAudit(t).Action)
	}
	_, err := f.store.SetStatus(ctx, admin, newUUID(), StatusDisabled)
	require.ErrorIs(t, err, ErrNotFound)
}

func TestAcceptTerms(t *testing.T) {
	f := newFixture(t)
	u := f.create(t, "t@example.org", RoleDoctor, StatusActive)
	require.NoError(t, f.store.AcceptTerms(t.Context(), UserActor(u.ID, netip.Addr{}), u.ID, "2030-01"))
	got, err := f.store.ByID(t.Context(), u.ID)
	require.NoError(t, err)
	assert.Equal(t, "2030-01", got.TermsVersion)
	assert.Equal(t, auditRow{"user", u.ID, "terms.accepted", "user", u.ID, "success"}, f.lastAudit(t))
	require.ErrorIs(t, f.store.AcceptTerms(t.Context(), admin, u.ID, "v 1"), ErrInvalidInput)
	require.ErrorIs(t, f.store.AcceptTerms(t.Context(), admin, newUUID(), "v1"), ErrNotFound)
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	const pw = "tulip-harbour-84"
	doc := f.create(t, "doc@example.org", RoleDoctor, StatusActive)
	require.NoError(t, f.store.SetPassword(ctx, admin, doc.ID, pw))
	assert.Equal(t, auditRow{"user", admin.ID, "password.changed", "user", doc.ID, "success"}, f.lastAudit(t))

	u, err := f.store.Authenticate(ctx, " DOC@example.org", pw)
	require.NoError(t, err)
	assert.Equal(t, doc.ID, u.ID)

	// Unknown address and wrong password: the same error; only the unknown
	// address runs the dummy verification (the wrong password ran a real one).
	f.dummy.Store(0)
	_, errWrong := f.store.Authenticate(ctx, "doc@example.org", pw+"x")
	require.ErrorIs(t, errWrong, ErrInvalidCredentials)
	assert.EqualValues(t, 0, f.dummy.Load())
	_, errUnknown := f.store.Authenticate(ctx, "nobody@example.org", pw)
	require.ErrorIs(t, errUnknown, ErrInvalidCredentials)
	assert.Equal(t, errWrong.Error(), errUnknown.Error())
	assert.EqualValues(t, 1, f.dummy.Load(), "unknown address spends a verification")
	_, err = f.store.Authenticate(ctx, "not an address", pw)
	require.ErrorIs(t, err, ErrInvalidCredentials)
	assert.EqualValues(t, 2, f.dummy.Load())

	// No password yet: the same, with the dummy work.
	fresh := f.create(t, "fresh@example.org", RoleDoctor, StatusActive)
	_, err = f.store.Authenticate(ctx, "fresh@example.org", pw)
	require.ErrorIs(t, err, ErrInvalidCredentials)
	assert.EqualValues(t, 3, f.dummy.Load())
	_ = fresh

	// Scheduler accounts use API keys only.
	sch := f.create(t, "sched@example.org", RoleScheduler, StatusActive)
	require.NoError(t, f.store.SetPassword(ctx, admin, sch.ID, pw))
	_, err = f.store.Authenticate(ctx, "sched@example.org", pw)
	require.ErrorIs(t, err, ErrInvalidCredentials)

	// Status is told only to someone who knows the password.
	nurse := f.create(t, "nurse@example.org", RoleNurse, StatusPendingApproval)
	require.NoError(t, f.store.SetPassword(ctx, admin, nurse.ID, pw))
	_, err = f.store.Authenticate(ctx, "nurse@example.org", pw+"x")
	require.ErrorIs(t, err, ErrInvalidCredentials)
	_, err = f.store.Authenticate(ctx, "nurse@example.org", pw)
	require.ErrorIs(t, err, ErrPendingApproval)
	_, err = f.store.SetStatus(ctx, admin, doc.ID, StatusDisabled)
	require.NoError(t, err)
	_, err = f.store.Authenticate(ctx, "doc@example.org", pw+"x")
	require.ErrorIs(t, err, ErrInvalidCredentials)
	_, err = f.store.Authenticate(ctx, "doc@example.org", pw)
	require.ErrorIs(t, err, ErrDisabled)
}

func TestSetPasswordPolicyAndRehash(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	u := f.create(t, "grace.hopper@example.org", RoleDoctor, StatusActive)
	require.ErrorIs(t, f.store.SetPassword(ctx, admin, u.ID, "short"), ErrPasswordTooShort)
	require.ErrorIs(t, f.store.SetPassword(ctx, admin, u.ID, "Password1"), ErrPasswordCommon)
	require.ErrorIs(t, f.store.SetPassword(ctx, admin, u.ID, "i-am-grace.hopper"), ErrPasswordContainsEmail)
	require.ErrorIs(t, f.store.SetPassword(ctx, admin, newUUID(), "tulip-harbour-84"), ErrNotFound)
	assert.Len(t, f.auditRows(t), 1, "refused passwords change nothing")

	require.NoError(t, f.store.SetPassword(ctx, admin, u.ID, "tulip-harbour-84"))
	hash := func() string {
		var h string
		require.NoError(t, f.pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, u.ID).Scan(&h))
		return h
	}
	old := hash()
	require.Contains(t, old, "m=64,t=1,p=1")

	// The parameters were raised: the next sign-in stores a stronger hash.
	stronger := *f.store
	stronger.hash = HashParams{Memory: 128, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	_, err := stronger.Authenticate(ctx, u.Email, "tulip-harbour-84")
	require.NoError(t, err)
	assert.Contains(t, hash(), "m=128,t=2,p=1")
	_, err = stronger.Authenticate(ctx, u.Email, "tulip-harbour-84")
	require.NoError(t, err, "the new hash verifies")
}
