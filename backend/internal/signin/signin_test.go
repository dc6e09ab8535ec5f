package signin_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/database"
	"github.com/hcw-home/hcw/backend/internal/database/dbtest"
	"github.com/hcw-home/hcw/backend/internal/sealed"
	"github.com/hcw-home/hcw/backend/internal/signin"
	"github.com/hcw-home/hcw/backend/internal/signin/totp"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// clock is a settable test clock, starting 10 s into a TOTP step.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeAccounts stands in for package account.
type fakeAccounts struct {
	mu    sync.Mutex
	users map[string]fakeUser // by e-mail
	calls int
}

type fakeUser struct {
	password string
	ref      signin.UserRef
}

func (f *fakeAccounts) Authenticate(_ context.Context, email, password string) (signin.UserRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	u, ok := f.users[signin.NormalizeEmail(email)]
	if !ok || u.password != password {
		return signin.UserRef{}, signin.ErrInvalidCredentials
	}
	return u.ref, nil
}

func (f *fakeAccounts) Calls() int { f.mu.Lock(); defer f.mu.Unlock(); return f.calls }

type env struct {
	t        *testing.T
	pool     *pgxpool.Pool
	svc      *signin.Service
	clock    *clock
	accounts *fakeAccounts
	revoked  chan string
}

const password = "correct horse battery staple"

var (
	ip1 = signin.Client{IP: netip.MustParseAddr("192.0.2.1"), UserAgent: "test-agent"}
	ip2 = signin.Client{IP: netip.MustParseAddr("198.51.100.2"), UserAgent: "test-agent"}
)

func newEnv(t *testing.T) *env {
	t.Helper()
	pool := dbtest.NewPool(t)
	require.NoError(t, database.Migrate(t.Context(), pool, database.Migrations(),
		slog.New(slog.NewTextHandler(io.Discard, nil))))
	raw := make([]byte, 32)
	rand.Read(raw)
	key, err := sealed.ParseKey(base64.RawURLEncoding.EncodeToString(raw))
	require.NoError(t, err)
	ring, err := sealed.NewKeyring(key)
	require.NoError(t, err)
	e := &env{
		t: t, pool: pool,
		clock:    &clock{t: time.Unix(1_800_000_010, 0)},
		accounts: &fakeAccounts{users: map[string]fakeUser{}},
		revoked:  make(chan string, 16),
	}
	e.svc, err = signin.New(signin.Params{
		Pool: pool, Accounts: e.accounts, Audit: audit.NewStore(pool), Keyring: ring,
		Now:      e.clock.Now,
		OnRevoke: func(id string) { e.revoked <- id },
	})
	require.NoError(t, err)
	return e
}

// user creates a users row and registers it with the fake.
func (e *env) user(email, role string) signin.UserRef {
	e.t.Helper()
	var id string
	err := e.pool.QueryRow(e.t.Context(), `
INSERT INTO users (email, first_name_sealed, last_name_sealed, role, status)
VALUES ($1, '\x00', '\x00', $2, 'active') RETURNING id::text`, email, role).Scan(&id)
	require.NoError(e.t, err)
	ref := signin.UserRef{ID: id, Email: email, Role: role, Status: signin.StatusActive}
	e.accounts.mu.Lock()
	e.accounts.users[email] = fakeUser{password: password, ref: ref}
	e.accounts.mu.Unlock()
	return ref
}

func (e *env) signIn(email string) signin.Result {
	e.t.Helper()
	res, err := e.svc.SignIn(e.t.Context(), email, password, ip1)
	require.NoError(e.t, err)
	return res
}

// enrol takes a doctor through first sign-in and enrolment; it returns the
// secret and the recovery codes, and leaves the clock one step later.
func (e *env) enrol(email string) (string, []string, signin.Result) {
	e.t.Helper()
	ctx := e.t.Context()
	res := e.signIn(email)
	require.Equal(e.t, signin.NextEnrol, res.Next)
	en, err := e.svc.BeginEnrolment(ctx, res.Token)
	require.NoError(e.t, err)
	out, err := e.svc.ConfirmEnrolment(ctx, res.Token, code(e.t, en.Secret, e.clock.Now(), 0), ip1)
	require.NoError(e.t, err)
	e.clock.Add(totp.Period * time.Second)
	return en.Secret, out.RecoveryCodes, out.Result
}

func code(t *testing.T, secret string, now time.Time, stepOffset int64) string {
	t.Helper()
	c, err := totp.Code(secret, totp.Step(now)+stepOffset)
	require.NoError(t, err)
	return c
}

func TestSignInWrongPasswordAndUnknownEmail(t *testing.T) {
	e := newEnv(t)
	e.user("sched@example.org", signin.RoleScheduler)
	ctx := t.Context()

	_, err := e.svc.SignIn(ctx, "sched@example.org", "wrong", ip1)
	require.ErrorIs(t, err, signin.ErrInvalidCredentials)
	_, err = e.svc.SignIn(ctx, "nobody@example.org", password, ip1)
	require.ErrorIs(t, err, signin.ErrInvalidCredentials)

	// The audit trail records both failures without any e-mail address.
	var n int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'sign_in.failure'`).Scan(&n))
	assert.Equal(t, 2, n)
	var dump string
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT coalesce(string_agg(t::text, ' '), '') FROM audit_events t`).Scan(&dump))
	assert.NotContains(t, dump, "@")
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT coalesce(string_agg(t::text, ' '), '') FROM signin_throttle t`).Scan(&dump))
	assert.NotContains(t, dump, "@", "throttle keys hash the e-mail")

	res := e.signIn("sched@example.org")
	assert.Equal(t, signin.LevelFull, res.Session.Level)
	assert.Equal(t, signin.NextNone, res.Next)
}

func TestSignInRefusesInactiveUser(t *testing.T) {
	e := newEnv(t)
	u := e.user("pending@example.org", signin.RoleScheduler)
	e.accounts.mu.Lock()
	fu := e.accounts.users[u.Email]
	fu.ref.Status = "pending_approval"
	e.accounts.users[u.Email] = fu
	e.accounts.mu.Unlock()
	_, err := e.svc.SignIn(t.Context(), u.Email, password, ip1)
	require.ErrorIs(t, err, signin.ErrAccountNotActive)
}

func TestThrottlePerAccount(t *testing.T) {
	for _, tc := range []struct{ name, email string }{
		{"existing account", "doc@example.org"},
		{"unknown e-mail", "ghost@example.org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.user("doc@example.org", signin.RoleScheduler)
			ctx := t.Context()
			for range signin.DefaultAccountThreshold {
				_, err := e.svc.SignIn(ctx, tc.email, "wrong", ip1)
				require.ErrorIs(t, err, signin.ErrInvalidCredentials)
			}
			calls := e.accounts.Calls()
			// Throttled, and the password is not even checked; the e-mail's
			// case and spaces do not matter.
			_, err := e.svc.SignIn(ctx, "  "+strings.ToUpper(tc.email), password, ip1)
			require.ErrorIs(t, err, signin.ErrThrottled)
			wait, ok := signin.RetryAfter(err)
			require.True(t, ok)
			assert.Equal(t, time.Second, wait)
			assert.Equal(t, calls, e.accounts.Calls())

			// Each further failure doubles the wait.
			var waits []time.Duration
			for range 4 {
				e.clock.Add(wait)
				_, err := e.svc.SignIn(ctx, tc.email, "wrong", ip1)
				require.ErrorIs(t, err, signin.ErrInvalidCredentials)
				_, err = e.svc.SignIn(ctx, tc.email, "wrong", ip1)
				require.ErrorIs(t, err, signin.ErrThrottled)
				wait, _ = signin.RetryAfter(err)
				waits = append(waits, wait)
			}
			assert.Equal(t, []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}, waits)

			// Another IP is throttled too: the key is the account.
			_, err = e.svc.SignIn(ctx, tc.email, password, ip2)
			require.ErrorIs(t, err, signin.ErrThrottled)

			if tc.email != "doc@example.org" {
				return
			}
			// Success after the wait resets the account's count.
			e.clock.Add(wait)
			e.signIn(tc.email)
			for range signin.DefaultAccountThreshold {
				_, err := e.svc.SignIn(ctx, tc.email, "wrong", ip1)
				require.ErrorIs(t, err, signin.ErrInvalidCredentials)
			}
		})
	}
}

func TestThrottleCap(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	var wait time.Duration
	for range 40 {
		e.clock.Add(wait)
		_, err := e.svc.SignIn(ctx, "x@example.org", "wrong", signin.Client{})
		require.ErrorIs(t, err, signin.ErrInvalidCredentials)
		_, err = e.svc.SignIn(ctx, "x@example.org", "wrong", signin.Client{})
		wait, _ = signin.RetryAfter(err)
	}
	assert.Equal(t, 15*time.Minute, wait)
}

func TestThrottlePerIPIndependent(t *testing.T) {
	e := newEnv(t)
	e.user("doc@example.org", signin.RoleScheduler)
	ctx := t.Context()
	// Spread over many accounts so that no account key trips.
	for i := range signin.DefaultIPThreshold {
		_, err := e.svc.SignIn(ctx, "guess"+string(rune('a'+i))+"@example.org", "wrong", ip1)
		require.ErrorIs(t, err, signin.ErrInvalidCredentials)
	}
	// The IP is throttled, even for a valid account never tried before ...
	_, err := e.svc.SignIn(ctx, "doc@example.org", password, ip1)
	require.ErrorIs(t, err, signin.ErrThrottled)
	// ... which another IP can still use.
	res, err := e.svc.SignIn(ctx, "doc@example.org", password, ip2)
	require.NoError(t, err)
	assert.Equal(t, signin.LevelFull, res.Session.Level)
	// A success elsewhere does not clear the IP key.
	_, err = e.svc.SignIn(ctx, "doc@example.org", password, ip1)
	require.ErrorIs(t, err, signin.ErrThrottled)
}

func TestSecondFactorByRole(t *testing.T) {
	e := newEnv(t)
	for role, want := range map[string]signin.Next{
		signin.RoleAdmin: signin.NextEnrol, signin.RoleDoctor: signin.NextEnrol,
		signin.RoleNurse: signin.NextNone, signin.RoleScheduler: signin.NextNone,
	} {
		e.user(role+"@example.org", role)
		res := e.signIn(role + "@example.org")
		assert.Equal(t, want, res.Next, role)
		if want == signin.NextNone {
			assert.Equal(t, signin.LevelFull, res.Session.Level, role)
		} else {
			assert.Equal(t, signin.LevelPassword, res.Session.Level, role)
		}
	}
	// A nurse who enrolled needs the factor from then on.
	nurse := "nurse@example.org"
	res := e.signIn(nurse)
	en, err := e.svc.BeginEnrolment(t.Context(), res.Token)
	require.NoError(t, err)
	_, err = e.svc.ConfirmEnrolment(t.Context(), res.Token, code(t, en.Secret, e.clock.Now(), 0), ip1)
	require.NoError(t, err)
	res = e.signIn(nurse)
	assert.Equal(t, signin.NextVerify, res.Next)
	assert.Equal(t, signin.LevelPassword, res.Session.Level)
}

func TestPasswordLevelIsNotFull(t *testing.T) {
	e := newEnv(t)
	e.user("doc@example.org", signin.RoleDoctor)
	ctx := t.Context()
	res := e.signIn("doc@example.org")
	sess, err := e.svc.Validate(ctx, res.Token)
	require.NoError(t, err)
	assert.Equal(t, signin.LevelPassword, sess.Level)
	require.ErrorIs(t, sess.RequireFull(), signin.ErrSecondFactorRequired)
	_, err = e.svc.ValidateFull(ctx, res.Token)
	require.ErrorIs(t, err, signin.ErrSecondFactorRequired)
	// Rotation keeps the level.
	rot, err := e.svc.Rotate(ctx, res.Token, ip1)
	require.NoError(t, err)
	assert.Equal(t, signin.LevelPassword, rot.Session.Level)
	// The password level ends after PendingLifetime.
	e.clock.Add(signin.DefaultPendingLifetime)
	_, err = e.svc.Validate(ctx, rot.Token)
	require.ErrorIs(t, err, signin.ErrInvalidSession)
}

func TestEnrolmentAndTOTP(t *testing.T) {
	e := newEnv(t)
	doc := e.user("doc@example.org", signin.RoleDoctor)
	ctx := t.Context()

	res := e.signIn(doc.Email)
	en, err := e.svc.BeginEnrolment(ctx, res.Token)
	require.NoError(t, err)
	assert.Contains(t, en.URI, "issuer=HCW@Home")
	assert.NotEmpty(t, en.QRPNG)

	// Pending until confirmed: no factor yet, and no way to complete.
	has, err := e.svc.HasSecondFactor(ctx, doc.ID)
	require.NoError(t, err)
	assert.False(t, has)
	_, err = e.svc.CompleteSecondFactor(ctx, res.Token, code(t, en.Secret, e.clock.Now(), 0), ip1)
	require.ErrorIs(t, err, signin.ErrNotEnrolled)

	// The secret is sealed: neither base32 nor raw bytes appear in the row.
	var raw []byte
	var rowText string
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT secret_sealed, t::text FROM totp_factors t WHERE user_id = $1`, doc.ID).Scan(&raw, &rowText))
	assert.NotContains(t, rowText, en.Secret)
	assert.NotContains(t, rowText, strings.ToLower(en.Secret))
	assert.False(t, bytes.Contains(raw, []byte(en.Secret)))

	// Wrong code refused; right code confirms, rotates to full and yields
	// ten recovery codes.
	_, err = e.svc.ConfirmEnrolment(ctx, res.Token, "000000", ip1)
	require.ErrorIs(t, err, signin.ErrInvalidCode)
	out, err := e.svc.ConfirmEnrolment(ctx, res.Token, code(t, en.Secret, e.clock.Now(), 0), ip1)
	require.NoError(t, err)
	assert.Equal(t, signin.LevelFull, out.Session.Level)
	assert.Len(t, out.RecoveryCodes, signin.RecoveryCodeCount)
	assert.Regexp(t, `^[a-z2-7]{4}(-[a-z2-7]{4}){3}$`, out.RecoveryCodes[0])
	_, err = e.svc.Validate(ctx, res.Token)
	require.ErrorIs(t, err, signin.ErrInvalidSession, "the password-level token is rotated away")
	_, err = e.svc.ValidateFull(ctx, out.Token)
	require.NoError(t, err)
	_, err = e.svc.BeginEnrolment(ctx, out.Token)
	require.ErrorIs(t, err, signin.ErrAlreadyEnrolled)

	// The confirmation code's step is spent: the same code is a replay.
	res = e.signIn(doc.Email)
	require.Equal(t, signin.NextVerify, res.Next)
	_, err = e.svc.CompleteSecondFactor(ctx, res.Token, code(t, en.Secret, e.clock.Now(), 0), ip1)
	require.ErrorIs(t, err, signin.ErrInvalidCode)

	steps := []struct {
		name   string
		offset int64
		ok     bool
	}{
		{"two steps behind", -2, false},
		{"one step behind", -1, true},
		{"two steps ahead", 2, false},
		{"current", 0, true},
		{"one step ahead", 1, true},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			e.clock.Add(5 * totp.Period * time.Second) // fresh steps each time
			res := e.signIn(doc.Email)
			got, err := e.svc.CompleteSecondFactor(ctx, res.Token, code(t, en.Secret, e.clock.Now(), st.offset), ip1)
			if !st.ok {
				require.ErrorIs(t, err, signin.ErrInvalidCode)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, signin.LevelFull, got.Session.Level)
			_, err = e.svc.Validate(ctx, res.Token)
			require.ErrorIs(t, err, signin.ErrInvalidSession, "old token revoked")
			// Replaying the same code on another sign-in fails.
			res2 := e.signIn(doc.Email)
			_, err = e.svc.CompleteSecondFactor(ctx, res2.Token, code(t, en.Secret, e.clock.Now(), st.offset), ip1)
			require.ErrorIs(t, err, signin.ErrInvalidCode)
		})
	}

	t.Run("recovery code once", func(t *testing.T) {
		res := e.signIn(doc.Email)
		rc := strings.ToUpper(out.RecoveryCodes[3])
		got, err := e.svc.CompleteSecondFactor(ctx, res.Token, rc, ip1)
		require.NoError(t, err)
		assert.Equal(t, signin.LevelFull, got.Session.Level)
		res = e.signIn(doc.Email)
		_, err = e.svc.CompleteSecondFactor(ctx, res.Token, out.RecoveryCodes[3], ip1)
		require.ErrorIs(t, err, signin.ErrInvalidCode)
		_, err = e.svc.CompleteSecondFactor(ctx, res.Token, "not a code!", ip1)
		require.ErrorIs(t, err, signin.ErrInvalidCode)
	})

	t.Run("full session cannot complete again", func(t *testing.T) {
		_, err := e.svc.CompleteSecondFactor(ctx, out.Token, code(t, en.Secret, e.clock.Now(), 0), ip1)
		require.ErrorIs(t, err, signin.ErrWrongLevel)
	})

	var enrolled int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'factor.enrolled' AND actor_id = $1`, doc.ID).Scan(&enrolled))
	assert.Equal(t, 1, enrolled)
}

func TestSecondFactorThrottled(t *testing.T) {
	e := newEnv(t)
	doc := e.user("doc@example.org", signin.RoleDoctor)
	e.enrol(doc.Email)
	ctx := t.Context()
	res := e.signIn(doc.Email)
	for range signin.DefaultAccountThreshold {
		_, err := e.svc.CompleteSecondFactor(ctx, res.Token, "000000", ip1)
		require.ErrorIs(t, err, signin.ErrInvalidCode)
	}
	_, err := e.svc.CompleteSecondFactor(ctx, res.Token, "000000", ip1)
	require.ErrorIs(t, err, signin.ErrThrottled)
}

func TestResetFactor(t *testing.T) {
	e := newEnv(t)
	doc := e.user("doc@example.org", signin.RoleDoctor)
	admin := e.user("admin@example.org", signin.RoleAdmin)
	_, _, full := e.enrol(doc.Email)
	ctx := t.Context()
	require.NoError(t, e.svc.ResetFactor(ctx, admin.ID, doc.ID))
	assert.Equal(t, doc.ID, <-e.revoked)
	_, err := e.svc.Validate(ctx, full.Token)
	require.ErrorIs(t, err, signin.ErrInvalidSession)
	res := e.signIn(doc.Email)
	assert.Equal(t, signin.NextEnrol, res.Next)
	var n int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1`, doc.ID).Scan(&n))
	assert.Zero(t, n)
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'factor.reset' AND actor_id = $1 AND object_id = $2`, admin.ID, doc.ID).Scan(&n))
	assert.Equal(t, 1, n)
}

func TestSessionTimeouts(t *testing.T) {
	e := newEnv(t)
	e.user("s@example.org", signin.RoleScheduler)
	ctx := t.Context()

	t.Run("idle", func(t *testing.T) {
		res := e.signIn("s@example.org")
		e.clock.Add(signin.DefaultIdleTimeout - time.Second)
		_, err := e.svc.Validate(ctx, res.Token)
		require.NoError(t, err, "use just before the idle timeout keeps it alive")
		e.clock.Add(signin.DefaultIdleTimeout - time.Second)
		_, err = e.svc.Validate(ctx, res.Token)
		require.NoError(t, err)
		e.clock.Add(signin.DefaultIdleTimeout)
		_, err = e.svc.Validate(ctx, res.Token)
		require.ErrorIs(t, err, signin.ErrInvalidSession)
	})
	t.Run("absolute", func(t *testing.T) {
		res := e.signIn("s@example.org")
		assert.Equal(t, e.clock.Now().Add(signin.DefaultAbsoluteLifetime).UTC(), res.Session.ExpiresAt)
		for elapsed := time.Duration(0); elapsed < signin.DefaultAbsoluteLifetime-20*time.Minute; elapsed += 20 * time.Minute {
			e.clock.Add(20 * time.Minute)
			_, err := e.svc.Validate(ctx, res.Token)
			require.NoError(t, err)
		}
		e.clock.Add(20 * time.Minute)
		_, err := e.svc.Validate(ctx, res.Token)
		require.ErrorIs(t, err, signin.ErrInvalidSession)
		// Rotation does not extend the absolute lifetime either.
	})
}

func TestLastSeenWrittenAtMostOncePerMinute(t *testing.T) {
	e := newEnv(t)
	e.user("s@example.org", signin.RoleScheduler)
	ctx := t.Context()
	res := e.signIn("s@example.org")
	start := e.clock.Now()
	lastSeen := func() time.Time {
		var ts time.Time
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT last_seen_at FROM sessions`).Scan(&ts))
		return ts
	}
	for range 5 {
		e.clock.Add(10 * time.Second)
		_, err := e.svc.Validate(ctx, res.Token)
		require.NoError(t, err)
		assert.True(t, lastSeen().Equal(start), "no write within the minute")
	}
	e.clock.Add(10 * time.Second)
	sess, err := e.svc.Validate(ctx, res.Token)
	require.NoError(t, err)
	assert.True(t, lastSeen().Equal(start.Add(time.Minute)))
	assert.True(t, sess.LastSeenAt.Equal(start.Add(time.Minute)))
}

func TestRotateRevokeAndRevokeAll(t *testing.T) {
	e := newEnv(t)
	u := e.user("s@example.org", signin.RoleScheduler)
	ctx := t.Context()

	a := e.signIn(u.Email)
	rot, err := e.svc.Rotate(ctx, a.Token, ip2)
	require.NoError(t, err)
	assert.NotEqual(t, a.Token, rot.Token)
	assert.Equal(t, a.Session.ExpiresAt, rot.Session.ExpiresAt)
	_, err = e.svc.Validate(ctx, a.Token)
	require.ErrorIs(t, err, signin.ErrInvalidSession)
	_, err = e.svc.Rotate(ctx, a.Token, ip2)
	require.ErrorIs(t, err, signin.ErrInvalidSession, "a rotated token cannot be rotated again")
	sess, err := e.svc.Validate(ctx, rot.Token)
	require.NoError(t, err)
	assert.Equal(t, ip2.IP, sess.ClientIP)

	require.NoError(t, e.svc.Revoke(ctx, rot.Token, ip2))
	_, err = e.svc.Validate(ctx, rot.Token)
	require.ErrorIs(t, err, signin.ErrInvalidSession)
	require.NoError(t, e.svc.Revoke(ctx, rot.Token, ip2), "revoking twice is fine")

	b, c := e.signIn(u.Email), e.signIn(u.Email)
	n, err := e.svc.RevokeAllForUser(ctx, u.ID, signin.ReasonSignOutEverywhere)
	require.NoError(t, err)
	assert.EqualValues(t, 2, n)
	select {
	case id := <-e.revoked:
		assert.Equal(t, u.ID, id)
	case <-time.After(5 * time.Second):
		t.Fatal("OnRevoke not called")
	}
	for _, r := range []signin.Result{b, c} {
		_, err = e.svc.Validate(ctx, r.Token)
		require.ErrorIs(t, err, signin.ErrInvalidSession)
	}
	var reason string
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT revoke_reason FROM sessions WHERE id_hash = decode($1, 'hex')`, b.Session.ID).Scan(&reason))
	assert.Equal(t, signin.ReasonSignOutEverywhere, reason)
}

func TestDisabledUserSessionInvalidAtOnce(t *testing.T) {
	e := newEnv(t)
	u := e.user("s@example.org", signin.RoleScheduler)
	ctx := t.Context()
	res := e.signIn(u.Email)
	_, err := e.svc.Validate(ctx, res.Token)
	require.NoError(t, err)
	_, err = e.pool.Exec(ctx, `UPDATE users SET status = 'disabled' WHERE id = $1`, u.ID)
	require.NoError(t, err)
	_, err = e.svc.Validate(ctx, res.Token)
	require.ErrorIs(t, err, signin.ErrInvalidSession)
}

func TestValidateRefusesJunkAndUnknown(t *testing.T) {
	e := newEnv(t)
	for _, tok := range []string{"", "x", strings.Repeat("A", 43), strings.Repeat("!", 43)} {
		_, err := e.svc.Validate(t.Context(), tok)
		require.ErrorIs(t, err, signin.ErrInvalidSession)
	}
}

func TestTokenStoredHashedOnly(t *testing.T) {
	e := newEnv(t)
	e.user("s@example.org", signin.RoleScheduler)
	res := e.signIn("s@example.org")
	assert.Len(t, res.Token, 43)
	var dump string
	require.NoError(t, e.pool.QueryRow(t.Context(), `SELECT string_agg(t::text, ' ') FROM sessions t`).Scan(&dump))
	assert.NotContains(t, dump, res.Token)
}

func TestPurgeExpired(t *testing.T) {
	e := newEnv(t)
	e.user("s@example.org", signin.RoleScheduler)
	ctx := t.Context()
	old := e.signIn("s@example.org")
	_, err := e.svc.SignIn(ctx, "s@example.org", "wrong", ip1)
	require.ErrorIs(t, err, signin.ErrInvalidCredentials)
	e.clock.Add(signin.DefaultIdleTimeout + time.Minute)
	live := e.signIn("s@example.org")
	n, err := e.svc.PurgeExpired(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	_, err = e.svc.Validate(ctx, old.Token)
	require.ErrorIs(t, err, signin.ErrInvalidSession)
	_, err = e.svc.Validate(ctx, live.Token)
	require.NoError(t, err)
	e.clock.Add(25 * time.Hour)
	_, err = e.svc.PurgeExpired(ctx)
	require.NoError(t, err)
	var rows int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM signin_throttle)`).Scan(&rows))
	assert.Zero(t, rows)
}
