package keyrotation

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/account"
	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/database"
	"github.com/hcw-home/hcw/backend/internal/database/dbtest"
	"github.com/hcw-home/hcw/backend/internal/sealed"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func newKey(t *testing.T) *sealed.Key {
	t.Helper()
	secret := make([]byte, sealed.KeySize)
	rand.Read(secret)
	k, err := sealed.ParseKey(base64.RawURLEncoding.EncodeToString(secret))
	require.NoError(t, err)
	return k
}

func ring(t *testing.T, primary *sealed.Key, older ...*sealed.Key) *sealed.Keyring {
	t.Helper()
	r, err := sealed.NewKeyring(primary, older...)
	require.NoError(t, err)
	return r
}

func migratedPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := dbtest.NewPool(t)
	require.NoError(t, database.Migrate(t.Context(), pool, database.Migrations(), slog.New(slog.NewTextHandler(io.Discard, nil))))
	return pool
}

func accounts(pool *pgxpool.Pool, keys *sealed.Keyring) *account.Store {
	return account.NewStore(account.Params{Pool: pool, Keys: keys, Audit: audit.NewStore(pool)})
}

// seedUser creates a doctor through the account package, so its values
// carry the additional data the application really uses.
func seedUser(t *testing.T, store *account.Store, n int, phone string) account.User {
	t.Helper()
	u, err := store.Create(t.Context(), account.SystemActor(), account.NewUser{
		Email: fmt.Sprintf("doctor%d@example.org", n), FirstName: fmt.Sprintf("Ada%d", n), LastName: fmt.Sprintf("Lovelace%d", n),
		Phone: phone, Role: account.RoleDoctor, Status: account.StatusActive,
	})
	require.NoError(t, err)
	return u
}

// totpAAD is spelled out here rather than taken from the registry, so that
// a wrong entry in Columns fails the tests.
func totpAAD(userID string) []byte { return []byte("totp.secret:" + userID) }

func seedTOTP(t *testing.T, pool *pgxpool.Pool, keys *sealed.Keyring, userID string) {
	t.Helper()
	ct, err := keys.Seal([]byte("SECRET-"+userID), totpAAD(userID))
	require.NoError(t, err)
	_, err = pool.Exec(t.Context(), `INSERT INTO totp_factors (user_id, secret_sealed, created_at) VALUES ($1, $2, now())`, userID, ct)
	require.NoError(t, err)
}

func openTOTP(t *testing.T, pool *pgxpool.Pool, keys *sealed.Keyring, userID string) (string, error) {
	t.Helper()
	var ct []byte
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT secret_sealed FROM totp_factors WHERE user_id = $1`, userID).Scan(&ct))
	plain, err := keys.Open(ct, totpAAD(userID))
	return string(plain), err
}

// keyIDs returns, per column, how many non-NULL values each key sealed.
func keyIDs(t *testing.T, pool *pgxpool.Pool) map[string]map[sealed.KeyID]int {
	t.Helper()
	out := map[string]map[sealed.KeyID]int{}
	for _, c := range Columns() {
		rows, err := pool.Query(t.Context(), fmt.Sprintf(`SELECT %s FROM %s WHERE %s IS NOT NULL`, c.Name, c.Table, c.Name))
		require.NoError(t, err)
		for rows.Next() {
			var v []byte
			require.NoError(t, rows.Scan(&v))
			id, err := sealed.KeyIDOf(v)
			require.NoError(t, err)
			if out[c.String()] == nil {
				out[c.String()] = map[sealed.KeyID]int{}
			}
			out[c.String()][id]++
		}
		require.NoError(t, rows.Err())
	}
	return out
}

func TestRotate(t *testing.T) {
	pool := migratedPool(t)
	ctx := t.Context()
	a, b := newKey(t), newKey(t)
	oldStore := accounts(pool, ring(t, a))
	var users []account.User
	for i, phone := range []string{"+41221234567", "", "+33123456789"} {
		users = append(users, seedUser(t, oldStore, i, phone))
	}
	seedTOTP(t, pool, ring(t, a), users[0].ID)
	seedTOTP(t, pool, ring(t, a), users[2].ID)
	// Written by a service already running with the new key.
	users = append(users, seedUser(t, accounts(pool, ring(t, b, a)), 3, ""))

	res, err := Rotate(ctx, pool, ring(t, b, a), 0, nil)
	require.NoError(t, err)
	assert.Equal(t, Result{Rotated: 3 + 3 + 2 + 2, AlreadyCurrent: 2}, res)

	for col, ids := range keyIDs(t, pool) {
		assert.Equal(t, map[sealed.KeyID]int{b.ID(): ids[b.ID()]}, ids, "%s: only the new key", col)
	}
	onlyB := accounts(pool, ring(t, b))
	for _, u := range users {
		got, err := onlyB.ByID(ctx, u.ID)
		require.NoError(t, err, "opens without the old key")
		assert.Equal(t, []string{u.FirstName, u.LastName, u.Phone}, []string{got.FirstName, got.LastName, got.Phone})
	}
	for _, u := range []account.User{users[0], users[2]} {
		secret, err := openTOTP(t, pool, ring(t, b), u.ID)
		require.NoError(t, err)
		assert.Equal(t, "SECRET-"+u.ID, secret)
	}
	var nullPhones int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE phone_sealed IS NULL`).Scan(&nullPhones))
	assert.Equal(t, 2, nullPhones, "NULL stays NULL")

	res, err = Rotate(ctx, pool, ring(t, b, a), 0, nil)
	require.NoError(t, err)
	assert.Equal(t, Result{AlreadyCurrent: 12}, res, "a second run rotates nothing")
}

func TestRotateReportsValuesThatDoNotOpen(t *testing.T) {
	pool := migratedPool(t)
	ctx := t.Context()
	a, b, lost := newKey(t), newKey(t), newKey(t)
	oldStore := accounts(pool, ring(t, a))
	var users []account.User
	for i := range 4 {
		users = append(users, seedUser(t, oldStore, i, "+41221234567"))
	}
	// Tampered under the old key, sealed with a key nobody has any more,
	// and tampered under the new key (already "current" by its header).
	_, err := pool.Exec(ctx, `UPDATE users SET last_name_sealed = overlay(last_name_sealed placing '\x00'::bytea from 30 for 1) WHERE id = $1`, users[1].ID)
	require.NoError(t, err)
	lostCT, err := ring(t, lost).Seal([]byte("+41000000000"), account.SealedAAD("phone", users[2].ID))
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE users SET phone_sealed = $2 WHERE id = $1`, users[2].ID, lostCT)
	require.NoError(t, err)
	newCT, err := ring(t, b).Seal([]byte("Grace"), account.SealedAAD("first_name", users[3].ID))
	require.NoError(t, err)
	newCT[len(newCT)-1] ^= 1
	_, err = pool.Exec(ctx, `UPDATE users SET first_name_sealed = $2 WHERE id = $1`, users[3].ID, newCT)
	require.NoError(t, err)
	var before []byte
	require.NoError(t, pool.QueryRow(ctx, `SELECT last_name_sealed FROM users WHERE id = $1`, users[1].ID).Scan(&before))

	res, err := Rotate(ctx, pool, ring(t, b, a), 2, nil)
	require.NoError(t, err, "failures do not stop the run")
	assert.Equal(t, 3, res.Failed)
	assert.Equal(t, 4*3-3, res.Rotated, "every other value is rotated")
	assert.Zero(t, res.AlreadyCurrent)

	type failure struct{ column, id string }
	var got []failure
	for _, f := range res.Failures {
		got = append(got, failure{f.Column.String(), f.ID})
		line := f.String()
		assert.Contains(t, line, f.ID)
		for _, secret := range []string{"Lovelace", "Ada", "Grace", "+41"} {
			assert.NotContains(t, line, secret, "no content in the report")
		}
	}
	assert.ElementsMatch(t, []failure{
		{"users.first_name_sealed", users[3].ID},
		{"users.last_name_sealed", users[1].ID},
		{"users.phone_sealed", users[2].ID},
	}, got)
	byColumn := map[string]error{}
	for _, f := range res.Failures {
		byColumn[f.Column.Name] = f.Err
	}
	require.ErrorIs(t, byColumn["last_name_sealed"], sealed.ErrDecrypt)
	require.ErrorIs(t, byColumn["phone_sealed"], sealed.ErrUnknownKey)
	assert.Contains(t, byColumn["phone_sealed"].Error(), lost.ID().String(), "names the missing key")
	require.ErrorIs(t, byColumn["first_name_sealed"], sealed.ErrDecrypt)

	var after []byte
	require.NoError(t, pool.QueryRow(ctx, `SELECT last_name_sealed FROM users WHERE id = $1`, users[1].ID).Scan(&after))
	assert.Equal(t, before, after, "a value that does not open is left alone")
	got0, err := accounts(pool, ring(t, b)).ByID(ctx, users[0].ID)
	require.NoError(t, err)
	assert.Equal(t, "Lovelace0", got0.LastName)

	res, err = Rotate(ctx, pool, ring(t, b, a), 2, nil)
	require.NoError(t, err)
	assert.Equal(t, 3, res.Failed, "reported again")
	assert.Zero(t, res.Rotated)
}

func TestRotateBatches(t *testing.T) {
	pool := migratedPool(t)
	a, b := newKey(t), newKey(t)
	oldStore := accounts(pool, ring(t, a))
	var users []account.User
	for i := range 5 {
		users = append(users, seedUser(t, oldStore, i, "+41221234567"))
	}
	for _, u := range users[:4] {
		seedTOTP(t, pool, ring(t, a), u.ID)
	}

	calls := map[string][]int{}
	res, err := Rotate(t.Context(), pool, ring(t, b, a), 2, func(column string, done int) {
		calls[column] = append(calls[column], done)
	})
	require.NoError(t, err)
	assert.Equal(t, Result{Rotated: 5*3 + 4}, res)
	assert.Equal(t, map[string][]int{
		"users.first_name_sealed":    {2, 4, 5},
		"users.last_name_sealed":     {2, 4, 5},
		"users.phone_sealed":         {2, 4, 5},
		"totp_factors.secret_sealed": {2, 4}, // the empty third page is not reported
	}, calls)
	for col, ids := range keyIDs(t, pool) {
		assert.Equal(t, map[sealed.KeyID]int{b.ID(): ids[b.ID()]}, ids, col)
	}
}

// TestRotateResumes stops a run after its first batch, as a crash would:
// everything still opens with both keys, and the next run finishes.
func TestRotateResumes(t *testing.T) {
	pool := migratedPool(t)
	a, b := newKey(t), newKey(t)
	oldStore := accounts(pool, ring(t, a))
	var users []account.User
	for i := range 5 {
		users = append(users, seedUser(t, oldStore, i, ""))
	}

	ctx, cancel := context.WithCancel(t.Context())
	res, err := Rotate(ctx, pool, ring(t, b, a), 2, func(string, int) { cancel() })
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, Result{Rotated: 2}, res, "the committed batch counts")
	ids := keyIDs(t, pool)["users.first_name_sealed"]
	assert.Equal(t, map[sealed.KeyID]int{a.ID(): 3, b.ID(): 2}, ids)

	both := accounts(pool, ring(t, b, a))
	for _, u := range users {
		got, err := both.ByID(t.Context(), u.ID)
		require.NoError(t, err)
		assert.Equal(t, u.FirstName, got.FirstName)
	}

	res, err = Rotate(t.Context(), pool, ring(t, b, a), 2, nil)
	require.NoError(t, err)
	assert.Equal(t, Result{Rotated: 5*2 - 2, AlreadyCurrent: 2}, res)
	res, err = Rotate(t.Context(), pool, ring(t, b, a), 2, nil)
	require.NoError(t, err)
	assert.Equal(t, Result{AlreadyCurrent: 10}, res)
}

// TestRotateWaitsForLockedRows checks that a batch locks its rows: a
// writer holding one makes the run wait, not overwrite.
func TestRotateWaitsForLockedRows(t *testing.T) {
	if testing.Short() {
		t.Skip("waits on a lock")
	}
	pool := migratedPool(t)
	a, b := newKey(t), newKey(t)
	u := seedUser(t, accounts(pool, ring(t, a)), 0, "")

	tx, err := pool.Begin(t.Context())
	require.NoError(t, err)
	defer tx.Rollback(context.Background())
	_, err = tx.Exec(t.Context(), `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, u.ID)
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() {
		_, err := Rotate(t.Context(), pool, ring(t, b, a), 0, nil)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("rotation did not wait for the locked row: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	require.NoError(t, tx.Rollback(t.Context()))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("rotation still blocked after the lock was released")
	}
}

// TestColumnsCoverSchema fails when a migration adds a sealed column that
// Columns does not list: its values would never be re-sealed, and would
// stop opening once the previous key is dropped.
func TestColumnsCoverSchema(t *testing.T) {
	pool := migratedPool(t)
	ctx := t.Context()
	rows, err := pool.Query(ctx, `
SELECT table_name || '.' || column_name, data_type FROM information_schema.columns
WHERE table_schema = current_schema() AND right(column_name, 7) = '_sealed'
ORDER BY 1`)
	require.NoError(t, err)
	var inSchema []string
	for rows.Next() {
		var name, typ string
		require.NoError(t, rows.Scan(&name, &typ))
		assert.Equal(t, "bytea", typ, name)
		inSchema = append(inSchema, name)
	}
	require.NoError(t, rows.Err())
	require.NotEmpty(t, inSchema)

	var listed []string
	for _, c := range Columns() {
		listed = append(listed, c.String())
		// The id must be unique, never NULL and ordered by an index:
		// keyset pagination relies on it. It is the whole primary key, or
		// (messages, keyed by consultation and number) a column with a
		// unique, non-partial index of its own.
		var pk []string
		require.NoError(t, pool.QueryRow(ctx, `
SELECT array_agg(a.attname::text ORDER BY k.ord)
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1::regclass AND i.indisprimary`, c.Table).Scan(&pk))
		if slices.Equal(pk, []string{c.ID}) {
			continue
		}
		var uniqueNotNull bool
		require.NoError(t, pool.QueryRow(ctx, `
SELECT EXISTS (
    SELECT 1 FROM pg_index i
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL
      AND i.indexprs IS NULL AND a.attname = $2 AND a.attnotnull)`, c.Table, c.ID).Scan(&uniqueNotNull))
		assert.True(t, uniqueNotNull, "%s: ID must be the primary key or a NOT NULL column with its own unique index (primary key %v)", c, pk)
	}
	slices.Sort(listed)
	assert.Equal(t, inSchema, listed, "every *_sealed column of the schema, and only those, is in Columns()")
}
