package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MinRetention is the youngest an audit row may be when it is purged. The
// migration's purge trigger enforces the same 30 days, and the configuration
// refuses a shorter HCW_AUDIT_RETENTION_DAYS.
const MinRetention = 30 * 24 * time.Hour

// appendLockKey is the pg_advisory_xact_lock key that serialises appends
// and purges across replicas ("HCWAUDT" in ASCII).
const appendLockKey int64 = 0x48_43_57_41_55_44_54

const (
	sqlLock = `SELECT pg_advisory_xact_lock($1)`

	// sqlHead is the link a new row chains to: the last row, or the newest
	// anchor when every row up to it was purged.
	sqlHead = `
SELECT seq, hash FROM (
    (SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1)
    UNION ALL
    (SELECT seq, hash FROM audit_anchor ORDER BY seq DESC LIMIT 1)
) head ORDER BY seq DESC LIMIT 1`

	sqlAnchor = `SELECT seq, hash FROM audit_anchor ORDER BY seq DESC LIMIT 1`

	sqlInsert = `
INSERT INTO audit_events (seq, at, actor_type, actor_id, action, object_type, object_id,
                          consultation_id, client_ip, outcome, prev_hash, hash)
OVERRIDING SYSTEM VALUE
VALUES ($1, $2, $3, NULLIF($4, ''), $5, NULLIF($6, ''), NULLIF($7, ''),
        NULLIF($8, ''), $9, $10, $11, $12)`

	sqlChain = `
SELECT seq, at, actor_type, coalesce(actor_id, '') AS actor_id, action,
       coalesce(object_type, '') AS object_type, coalesce(object_id, '') AS object_id,
       coalesce(consultation_id, '') AS consultation_id, client_ip, outcome, prev_hash, hash
FROM audit_events ORDER BY seq`

	sqlPurgeOn = `SELECT set_config('hcw.audit_purge', 'on', true)`

	// sqlPurgeCut is the last row of the longest prefix of the chain whose
	// rows are all older than $1. A younger row stops the prefix even if
	// older ones follow it (clocks of replicas differ slightly).
	sqlPurgeCut = `
SELECT seq, hash FROM audit_events
WHERE seq < coalesce((SELECT min(seq) FROM audit_events WHERE at >= $1), 9223372036854775807)
ORDER BY seq DESC LIMIT 1`

	sqlInsertAnchor = `INSERT INTO audit_anchor (seq, hash) VALUES ($1, $2)`
	sqlPurgeDelete  = `DELETE FROM audit_events WHERE seq <= $1`
)

// Store appends to, verifies and purges the audit trail.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// NewStore returns a Store on pool. The migrations must have run.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, now: time.Now}
}

// Append validates e and adds it at the end of the chain in its own
// transaction. An invalid event is refused with an error wrapping
// ErrInvalidEvent and nothing is written.
func (s *Store) Append(ctx context.Context, e Event) error {
	e, err := normalize(e, s.now())
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return appendNormalized(ctx, tx, e) })
	if err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	return nil
}

// AppendTx is Append inside the caller's transaction, for one event or
// several (chained in the order given), so they commit or roll back with
// the change they record. It holds the chain's lock until tx ends,
// serialising every other append: call it last, just before the commit,
// with all of the transaction's events at once, so the lock is held for
// two round trips and the commit rather than for the whole transaction.
// Nothing is written when any event is invalid.
func (s *Store) AppendTx(ctx context.Context, tx pgx.Tx, events ...Event) error {
	now := s.now()
	norm := make([]Event, 0, len(events))
	for _, e := range events {
		e, err := normalize(e, now)
		if err != nil {
			return err
		}
		norm = append(norm, e)
	}
	if len(norm) == 0 {
		return nil
	}
	if err := appendNormalized(ctx, tx, norm...); err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	return nil
}

// appendNormalized chains events to the head under the advisory lock, in
// two round trips: the lock and the head read, then the inserts. Under
// READ COMMITTED each statement takes a fresh snapshot when it starts, and
// the statements of a batch start one after the other, so the head read
// that follows the granted lock includes the rows of whoever held it
// before; the primary key on seq is the backstop if anyone inserts without
// the lock.
func appendNormalized(ctx context.Context, tx pgx.Tx, events ...Event) error {
	lock := &pgx.Batch{}
	lock.Queue(sqlLock, appendLockKey)
	lock.Queue(sqlHead)
	br := tx.SendBatch(ctx, lock)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return fmt.Errorf("lock chain: %w", err)
	}
	seq, prev, err := scanLink(br.QueryRow())
	if cerr := br.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("read chain head: %w", cerr)
	}
	if err != nil {
		return err
	}
	inserts := &pgx.Batch{}
	for _, e := range events {
		seq++
		hash := chainHash(seq, e, prev)
		var ip any // untyped nil: NULL
		if e.ClientIP.IsValid() {
			ip = e.ClientIP
		}
		inserts.Queue(sqlInsert, seq, e.At, e.ActorType, e.ActorID, e.Action,
			e.ObjectType, e.ObjectID, e.ConsultationID, ip, e.Outcome, prev, hash)
		prev = hash
	}
	if err := tx.SendBatch(ctx, inserts).Close(); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	return nil
}

// link reads a (seq, hash) pair with query; an empty result is the genesis
// link (0, 32 zero bytes).
func link(ctx context.Context, q pgx.Tx, query string) (int64, []byte, error) {
	return scanLink(q.QueryRow(ctx, query))
}

func scanLink(row pgx.Row) (int64, []byte, error) {
	var seq int64
	var hash []byte
	err := row.Scan(&seq, &hash)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, make([]byte, hashSize), nil
	case err != nil:
		return 0, nil, fmt.Errorf("read chain head: %w", err)
	}
	return seq, hash, nil
}

// Result is the outcome of Verify.
type Result struct {
	// Intact is true when every row checked out.
	Intact bool `json:"intact"`
	// Rows is the number of rows in the table (after the anchor).
	Rows int64 `json:"rows"`
	// FirstBrokenSeq is the seq of the first row that fails; 0 if intact.
	FirstBrokenSeq int64 `json:"first_broken_seq"`
	// Reason says why that row fails; empty if intact.
	Reason string `json:"reason"`
}

type chainRow struct {
	Seq            int64        `db:"seq"`
	At             time.Time    `db:"at"`
	ActorType      string       `db:"actor_type"`
	ActorID        string       `db:"actor_id"`
	Action         string       `db:"action"`
	ObjectType     string       `db:"object_type"`
	ObjectID       string       `db:"object_id"`
	ConsultationID string       `db:"consultation_id"`
	ClientIP       netip.Prefix `db:"client_ip"`
	Outcome        string       `db:"outcome"`
	PrevHash       []byte       `db:"prev_hash"`
	Hash           []byte       `db:"hash"`
}

// Verify walks the chain in seq order from the newest anchor (or from the
// zero hash), streaming the rows, and reports the first row whose seq,
// prev_hash or content does not match. It reads one snapshot, so a purge or
// append running meanwhile does not show up as a break.
//
// Removing rows from the end of the chain, or rewriting the whole chain
// from some row on, cannot be detected by an unkeyed hash chain.
func (s *Store) Verify(ctx context.Context) (Result, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return Result{}, fmt.Errorf("verify audit chain: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	lastSeq, prev, err := link(ctx, tx, sqlAnchor)
	if err != nil {
		return Result{}, fmt.Errorf("verify audit chain: %w", err)
	}
	rows, err := tx.Query(ctx, sqlChain)
	if err != nil {
		return Result{}, fmt.Errorf("verify audit chain: %w", err)
	}
	defer rows.Close()

	res := Result{Intact: true}
	for rows.Next() {
		r, err := pgx.RowToStructByName[chainRow](rows)
		if err != nil {
			return Result{}, fmt.Errorf("verify audit chain: read row: %w", err)
		}
		res.Rows++
		if !res.Intact {
			continue // keep counting; the first break is what matters
		}
		if reason := check(r, lastSeq+1, prev); reason != "" {
			res.Intact, res.FirstBrokenSeq, res.Reason = false, r.Seq, reason
			continue
		}
		lastSeq, prev = r.Seq, r.Hash
	}
	if err := rows.Err(); err != nil {
		return Result{}, fmt.Errorf("verify audit chain: %w", err)
	}
	return res, nil
}

// check returns why r does not follow the link (wantSeq-1, prev), or "".
func check(r chainRow, wantSeq int64, prev []byte) string {
	if r.Seq != wantSeq {
		return fmt.Sprintf("seq %d where %d was expected: rows missing or below the anchor", r.Seq, wantSeq)
	}
	if !bytes.Equal(r.PrevHash, prev) {
		return "prev_hash does not match the previous row's hash"
	}
	e := Event{
		At: r.At, ActorType: r.ActorType, ActorID: r.ActorID, Action: r.Action,
		ObjectType: r.ObjectType, ObjectID: r.ObjectID, ConsultationID: r.ConsultationID,
		Outcome: r.Outcome,
	}
	if r.ClientIP.IsValid() {
		if r.ClientIP.Bits() != r.ClientIP.Addr().BitLen() {
			return "client_ip is a network, not a host address"
		}
		e.ClientIP = r.ClientIP.Addr()
	}
	if !bytes.Equal(chainHash(r.Seq, e, r.PrevHash), r.Hash) {
		return "hash does not match the row's content"
	}
	return ""
}

// Purge deletes the oldest rows of the chain that are older than olderThan
// and returns how many. It stops at the first younger row, so it only ever
// removes a prefix, and it records the last deleted row in audit_anchor so
// that Verify stays intact. olderThan must be at least MinRetention ago.
func (s *Store) Purge(ctx context.Context, olderThan time.Time) (int64, error) {
	if olderThan.After(s.now().Add(-MinRetention)) {
		return 0, ErrHorizonTooRecent
	}
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlPurgeOn); err != nil {
			return err
		}
		// Appends chain to the anchor once every row is gone; hold their
		// lock so none reads the head between our anchor and our delete.
		if _, err := tx.Exec(ctx, sqlLock, appendLockKey); err != nil {
			return err
		}
		var cut int64
		var hash []byte
		err := tx.QueryRow(ctx, sqlPurgeCut, olderThan).Scan(&cut, &hash)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, sqlInsertAnchor, cut, hash); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, sqlPurgeDelete, cut)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("purge audit events: %w", err)
	}
	return n, nil
}
