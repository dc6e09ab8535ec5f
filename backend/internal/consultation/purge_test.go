package consultation_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hcw-home/hcw/backend/internal/audit"
	"github.com/hcw-home/hcw/backend/internal/consultation"
	"github.com/hcw-home/hcw/backend/internal/database"
	"github.com/hcw-home/hcw/backend/internal/database/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := dbtest.NewPool(t)
	require.NoError(t, database.Migrate(t.Context(), pool, database.Migrations(), slog.New(slog.DiscardHandler)))
	return pool
}

var idSeq int

func newID() string {
	idSeq++
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", idSeq)
}

func random32() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

// world is a queue and a doctor to hang consultations on.
type world struct {
	t      *testing.T
	pool   *pgxpool.Pool
	doctor string
	queue  string
	org    string
}

func newWorld(t *testing.T, pool *pgxpool.Pool) *world {
	w := &world{t: t, pool: pool, doctor: newID(), queue: newID(), org: newID()}
	w.exec(`INSERT INTO users (id, email, first_name_sealed, last_name_sealed, role, status)
		VALUES ($1, 'doctor@example.org', '\x00', '\x00', 'doctor', 'active')`, w.doctor)
	w.exec(`INSERT INTO queues (id, name, created_at, updated_at) VALUES ($1, 'General', now(), now())`, w.queue)
	w.exec(`INSERT INTO interpreter_organisations (id, name, name_key, languages, members_sealed, created_at, updated_at)
		VALUES ($1, 'Interpreters', 'interpreters', '{fr}', '\x00', now(), now())`, w.org)
	return w
}

func (w *world) exec(sql string, args ...any) {
	w.t.Helper()
	_, err := w.pool.Exec(w.t.Context(), sql, args...)
	require.NoError(w.t, err)
}

// consultation inserts a consultation with one of everything that can
// hang off it: a closed one when closedAt is set, with its anonymous
// statistics row.
func (w *world) consultation(closedAt *time.Time) string {
	w.t.Helper()
	id, patient, guest, invite, call, request, stats := newID(), newID(), newID(), newID(), newID(), newID(), newID()
	created := time.Now().Add(-400 * 24 * time.Hour)
	status, reason := "active", any(nil)
	if closedAt != nil {
		status, reason = "closed", "completed"
		created = closedAt.Add(-time.Hour)
		w.exec(`INSERT INTO consultation_stats (id, queue_id, close_reason, created_at, closed_at, participant_count)
			VALUES ($1, $2, 'completed', $3, $4, 2)`, stats, w.queue, created, *closedAt)
	}
	w.exec(`INSERT INTO consultations (id, queue_id, doctor_id, status, created_by_type, created_by_id, created_at,
		updated_at, pending_at, accepted_at, closed_at, close_reason, last_seq)
		VALUES ($1, $2, $3, $4, 'user', $3, $5, $5, $5, $5, $6, $7, 2)`, id, w.queue, w.doctor, status, created, closedAt, reason)
	if closedAt != nil {
		w.exec(`UPDATE consultations SET stats_id = $2 WHERE id = $1`, id, stats)
	}
	for _, p := range []struct{ id, role string }{{patient, "patient"}, {guest, "interpreter"}} {
		w.exec(`INSERT INTO participants (id, consultation_id, role, first_name_sealed, last_name_sealed, language, created_at)
			VALUES ($1, $2, $3, '\x01', '\x02', 'fr', $4)`, p.id, id, p.role, created)
		w.exec(`INSERT INTO participant_sessions (id_hash, participant_id, consultation_id, created_at, last_seen_at, expires_at, revoked_at)
			VALUES ($1, $2, $3, $4, $4, $5, $5)`, random32(), p.id, id, created, created.Add(time.Hour))
		w.exec(`INSERT INTO participant_presence (participant_id, replica_id, sockets, updated_at) VALUES ($1, 'r-1', 1, $2)`, p.id, created)
	}
	w.exec(`INSERT INTO invites (id, consultation_id, participant_id, token_hash, role, status, delivery, email_sealed,
		expires_at, note_sealed, created_by_type, created_by_id, created_at, updated_at, redeemed_at)
		VALUES ($1, $2, $3, $4, 'patient', 'redeemed', 'email', '\x03', $5, '\x04', 'user', $6, $5, $5, $5)`,
		invite, id, patient, random32(), created, w.doctor)
	w.exec(`INSERT INTO messages (consultation_id, seq, id, sender_participant_id, client_key, body_sealed, created_at)
		VALUES ($1, 1, $2, $3, 'k1', '\x05', $4)`, id, newID(), patient, created)
	w.exec(`INSERT INTO messages (consultation_id, seq, id, sender_user_id, client_key, body_sealed, created_at)
		VALUES ($1, 2, $2, $3, 'k1', '\x06', $4)`, id, newID(), w.doctor, created)
	w.exec(`INSERT INTO message_reads (consultation_id, reader_type, reader_id, last_read_seq, updated_at)
		VALUES ($1, 'participant', $2, 2, $3)`, id, patient, created)
	w.exec(`INSERT INTO calls (id, consultation_id, started_by, kind, state, started_at, answered_at, ended_at, end_reason)
		VALUES ($1, $2, $3, 'video', 'ended', $4, $4, $4, 'hung_up')`, call, id, w.doctor, created)
	w.exec(`INSERT INTO call_participants (call_id, identity, role, joined_at) VALUES ($1, $2, 'patient', $3)`, call, "p-"+patient, created)
	w.exec(`INSERT INTO feedback_tokens (participant_id, consultation_id, token_hash, created_at) VALUES ($1, $2, $3, $4)`,
		patient, id, random32(), created)
	w.exec(`INSERT INTO consultation_feedback (id, consultation_id, participant_id, rating, comment_sealed, created_at)
		VALUES ($1, $2, $3, 'good', '\x07', $4)`, newID(), id, patient, created)
	w.exec(`INSERT INTO interpreter_requests (id, consultation_id, organisation_id, language, requested_by, status,
		created_at, expires_at, accepted_at, invite_id) VALUES ($1, $2, $3, 'fr', $4, 'accepted', $5, $6, $5, $7)`,
		request, id, w.org, w.doctor, created, created.Add(time.Hour), invite)
	w.exec(`INSERT INTO interpreter_request_links (id, request_id, token_hash, email_sealed) VALUES ($1, $2, $3, '\x08')`,
		newID(), request, random32())
	return id
}

// children counts the rows of each table that belong to consultation id.
func (w *world) children(id string) map[string]int {
	w.t.Helper()
	out := map[string]int{}
	for table, where := range map[string]string{
		"consultations":             `id = $1`,
		"participants":              `consultation_id = $1`,
		"participant_sessions":      `consultation_id = $1`,
		"participant_presence":      `participant_id IN (SELECT id FROM participants WHERE consultation_id = $1)`,
		"invites":                   `consultation_id = $1`,
		"messages":                  `consultation_id = $1`,
		"message_reads":             `consultation_id = $1`,
		"calls":                     `consultation_id = $1`,
		"call_participants":         `call_id IN (SELECT id FROM calls WHERE consultation_id = $1)`,
		"feedback_tokens":           `consultation_id = $1`,
		"consultation_feedback":     `consultation_id = $1`,
		"interpreter_requests":      `consultation_id = $1`,
		"interpreter_request_links": `request_id IN (SELECT id FROM interpreter_requests WHERE consultation_id = $1)`,
	} {
		var n int
		require.NoError(w.t, w.pool.QueryRow(w.t.Context(), `SELECT count(*) FROM `+table+` WHERE `+where, id).Scan(&n))
		out[table] = n
	}
	return out
}

func (w *world) count(sql string, args ...any) int {
	w.t.Helper()
	var n int
	require.NoError(w.t, w.pool.QueryRow(w.t.Context(), sql, args...).Scan(&n))
	return n
}

func ago(d time.Duration) *time.Time {
	t := time.Now().Add(-d).UTC()
	return &t
}

const day = 24 * time.Hour

func TestPurgeClosed(t *testing.T) {
	pool := newPool(t)
	w := newWorld(t, pool)
	auditStore := audit.NewStore(pool)
	svc := consultation.New(consultation.Params{Pool: pool, Audit: auditStore})

	old := w.consultation(ago(31 * day))
	recent := w.consultation(ago(29 * day))
	open := w.consultation(nil)
	for _, id := range []string{old, recent, open} {
		for table, n := range w.children(id) {
			require.NotZero(t, n, "fixture %s has no %s", id, table)
		}
	}
	require.NoError(t, auditStore.Append(t.Context(), audit.Event{ActorType: audit.ActorUser, ActorID: w.doctor,
		Action: consultation.ActionConsultationClosed, ObjectType: "consultation", ObjectID: old, ConsultationID: old,
		Outcome: audit.OutcomeSuccess}))
	stats := w.count(`SELECT count(*) FROM consultation_stats`)
	require.Equal(t, 2, stats)

	cutoff := time.Now().Add(-30 * day)
	n, err := svc.PurgeClosed(t.Context(), cutoff)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	for table, n := range w.children(old) {
		assert.Zero(t, n, "%s of the purged consultation", table)
	}
	for _, id := range []string{recent, open} {
		for table, n := range w.children(id) {
			assert.NotZero(t, n, "%s of a consultation that must stay", table)
		}
	}
	assert.Equal(t, stats, w.count(`SELECT count(*) FROM consultation_stats`), "anonymous statistics survive")
	assert.Equal(t, 1, w.count(`SELECT count(*) FROM audit_events WHERE consultation_id = $1`, old), "the audit trail keeps its rows")
	assert.Equal(t, 1, w.count(`SELECT count(*) FROM users WHERE id = $1`, w.doctor), "staff stay")

	var actorType, objectID string
	var actorID *string
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT actor_type, actor_id, object_id FROM audit_events WHERE action = $1`,
		consultation.ActionConsultationsPurged).Scan(&actorType, &actorID, &objectID))
	assert.Equal(t, audit.ActorSystem, actorType)
	assert.Nil(t, actorID)
	assert.Equal(t, "1:"+cutoff.UTC().Truncate(time.Second).Format(time.RFC3339), objectID)

	// Nothing left to purge: no run is recorded.
	n, err = svc.PurgeClosed(t.Context(), cutoff)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, 1, w.count(`SELECT count(*) FROM audit_events WHERE action = $1`, consultation.ActionConsultationsPurged))
	res, err := auditStore.Verify(t.Context())
	require.NoError(t, err)
	assert.True(t, res.Intact)
}

func TestPurgeClosedInBatches(t *testing.T) {
	pool := newPool(t)
	w := newWorld(t, pool)
	svc := consultation.New(consultation.Params{Pool: pool, Audit: audit.NewStore(pool), PurgeBatch: 2})
	var old []string
	for i := range 7 {
		old = append(old, w.consultation(ago(time.Duration(40+i)*day)))
	}
	kept := w.consultation(ago(day))

	// A consultation another transaction holds is skipped, not waited for.
	tx, err := pool.Begin(t.Context())
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(context.Background()) }()
	_, err = tx.Exec(t.Context(), `SELECT 1 FROM consultations WHERE id = $1 FOR UPDATE`, old[3])
	require.NoError(t, err)

	n, err := svc.PurgeClosed(t.Context(), time.Now().Add(-30*day))
	require.NoError(t, err)
	assert.Equal(t, int64(6), n, "seven old ones, two per transaction, one of them locked")
	assert.Equal(t, 1, w.count(`SELECT count(*) FROM consultations WHERE id = $1`, old[3]))
	require.NoError(t, tx.Rollback(t.Context()))

	n, err = svc.PurgeClosed(t.Context(), time.Now().Add(-30*day))
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "the next run takes it")
	assert.Equal(t, 1, w.count(`SELECT count(*) FROM consultations`))
	assert.Equal(t, 1, w.count(`SELECT count(*) FROM consultations WHERE id = $1`, kept))
	assert.Equal(t, 8, w.count(`SELECT count(*) FROM consultation_stats`))
	assert.Equal(t, 2, w.count(`SELECT count(*) FROM audit_events WHERE action = $1`, consultation.ActionConsultationsPurged))
	assert.Equal(t, 1, w.count(`SELECT count(*) FROM audit_events WHERE action = $1 AND object_id LIKE '6:%'`, consultation.ActionConsultationsPurged))
}

// invited inserts a consultation whose patient never opened the link, with
// one invite per end time (an expiry, or a revocation when revoked).
func (w *world) invited(created time.Time, invites ...struct {
	end     time.Time
	revoked bool
}) string {
	w.t.Helper()
	id, patient := newID(), newID()
	w.exec(`INSERT INTO consultations (id, queue_id, status, created_by_type, created_by_id, created_at, updated_at)
		VALUES ($1, $2, 'invited', 'user', $3, $4, $4)`, id, w.queue, w.doctor, created)
	w.exec(`INSERT INTO participants (id, consultation_id, role, first_name_sealed, last_name_sealed, language, created_at)
		VALUES ($1, $2, 'patient', '\x01', '\x02', 'fr', $3)`, patient, id, created)
	for _, inv := range invites {
		status, expires, revokedAt := "sent", inv.end, any(nil)
		if inv.revoked {
			status, expires, revokedAt = "revoked", inv.end.Add(10*day), inv.end
		}
		w.exec(`INSERT INTO invites (id, consultation_id, participant_id, token_hash, role, status, delivery, email_sealed,
			expires_at, created_by_type, created_by_id, created_at, updated_at, revoked_at)
			VALUES ($1, $2, $3, $4, 'patient', $5, 'email', '\x03', $6, 'user', $7, $8, $8, $9)`,
			newID(), id, patient, random32(), status, expires, w.doctor, created, revokedAt)
	}
	return id
}

// TestPurgeNeverOpened: a consultation whose invitation lapsed unanswered
// goes after the same retention as a closed one, counted from the lapse.
func TestPurgeNeverOpened(t *testing.T) {
	pool := newPool(t)
	w := newWorld(t, pool)
	svc := consultation.New(consultation.Params{Pool: pool, Audit: audit.NewStore(pool)})
	type inv = struct {
		end     time.Time
		revoked bool
	}
	created := time.Now().Add(-60 * day)
	expiredLongAgo := w.invited(created, inv{end: *ago(31 * day)})
	revokedLongAgo := w.invited(created, inv{end: *ago(35 * day), revoked: true})
	expiredRecently := w.invited(created, inv{end: *ago(29 * day)})
	oneStillValid := w.invited(created, inv{end: *ago(40 * day)}, inv{end: time.Now().Add(day)})
	noInvite := w.invited(created)
	createdRecently := w.invited(time.Now().Add(-day))

	n, err := svc.PurgeClosed(t.Context(), time.Now().Add(-30*day))
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
	for id, want := range map[string]int{expiredLongAgo: 0, revokedLongAgo: 0, noInvite: 0,
		expiredRecently: 1, oneStillValid: 1, createdRecently: 1} {
		assert.Equal(t, want, w.count(`SELECT count(*) FROM consultations WHERE id = $1`, id), id)
		assert.Equal(t, want, w.count(`SELECT count(*) FROM participants WHERE consultation_id = $1`, id), id)
	}
	assert.Equal(t, 1, w.count(`SELECT count(*) FROM audit_events WHERE action = $1 AND object_id LIKE '3:%'`, consultation.ActionConsultationsPurged))
}

// TestPurgeForeignKeysCascade: deleting a consultation deletes everything
// that hangs off it, through ON DELETE CASCADE (or SET NULL) all the way
// down. A new table referring to a consultation, or to anything a
// consultation owns, with RESTRICT or NO ACTION would make the purge fail;
// and the anonymous statistics must never be bound to consultations.
func TestPurgeForeignKeysCascade(t *testing.T) {
	pool := newPool(t)
	type fk struct {
		Name   string `db:"name"`
		Child  string `db:"child"`
		Parent string `db:"parent"`
		Delete string `db:"del"`
	}
	rows, _ := pool.Query(t.Context(), `
SELECT conname AS name, conrelid::regclass::text AS child, confrelid::regclass::text AS parent, confdeltype::text AS del
FROM pg_constraint WHERE contype = 'f'`)
	fks, err := pgx.CollectRows(rows, pgx.RowToStructByName[fk])
	require.NoError(t, err)
	require.NotEmpty(t, fks)

	owned := map[string]bool{"consultations": true}
	for changed := true; changed; {
		changed = false
		for _, f := range fks {
			if owned[f.Parent] && f.Delete == "c" && !owned[f.Child] {
				owned[f.Child], changed = true, true
			}
		}
	}
	for _, table := range []string{"participants", "invites", "messages", "calls", "call_participants", "interpreter_requests",
		"interpreter_request_links", "participant_sessions", "consultation_feedback", "feedback_tokens"} {
		assert.True(t, owned[table], "%s goes with its consultation", table)
	}
	assert.False(t, owned["consultation_stats"], "statistics are not owned by consultations")
	var bad []string
	for _, f := range fks {
		if owned[f.Parent] && f.Delete != "c" && f.Delete != "n" {
			bad = append(bad, fmt.Sprintf("%s (%s -> %s, on delete %s)", f.Name, f.Child, f.Parent, f.Delete))
		}
		if f.Child == "consultation_stats" && owned[f.Parent] {
			bad = append(bad, f.Name+": consultation_stats must not refer to "+f.Parent)
		}
	}
	assert.Empty(t, bad, "foreign keys that block or outlive the purge:\n%s", strings.Join(bad, "\n"))
}
