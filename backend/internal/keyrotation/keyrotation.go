// Package keyrotation re-seals the sealed columns of the database with the
// primary data key, so that an older key can be retired.
//
// Each column is read in batches in primary key order (keyset pagination);
// a batch is one transaction that locks its rows (SELECT ... FOR UPDATE),
// opens every value, and re-seals with the same additional data those not
// sealed with the primary key. Committed batches stay committed: a run that
// stops half-way leaves values sealed with either key, all of which open
// with a keyring holding both, and the next run finishes the work. Rows
// written meanwhile by a service already running with the new primary key
// are sealed with it and need nothing.
//
// A value that does not open (a key the keyring lacks, tampered data) is
// left as it is and reported by table, column and row id, never by
// content; the run goes on with the others.
package keyrotation

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hcw-home/hcw/backend/internal/sealed"
)

// DefaultBatchSize is the number of rows per transaction when the caller
// gives none.
const DefaultBatchSize = 500

// MaxReportedFailures bounds Result.Failures; Result.Failed counts all.
const MaxReportedFailures = 1000

// Result counts the non-NULL values a run examined.
type Result struct {
	// Rotated values were sealed with an older key and are now sealed
	// with the primary key.
	Rotated int `json:"rotated"`
	// AlreadyCurrent values were sealed with the primary key already.
	AlreadyCurrent int `json:"already_current"`
	// Failed values did not open and were left unchanged.
	Failed int `json:"failed"`
	// Failures describes the first MaxReportedFailures failed values.
	Failures []Failure `json:"-"`
}

// Failure is a value that did not open.
type Failure struct {
	// Column is the sealed column, ID the row's primary key as text.
	Column Column
	ID     string
	// Err is ErrFormat, ErrUnknownKey (with the key ID) or ErrDecrypt of
	// package sealed: it never holds the value.
	Err error
}

// String returns one line for an operator.
func (f Failure) String() string {
	return fmt.Sprintf("%s %s=%s: %v", f.Column, f.Column.ID, f.ID, f.Err)
}

// Rotate re-seals every column of Columns with keys' primary key, batchSize
// rows per transaction (DefaultBatchSize if not positive). progress, if not
// nil, is called after each committed batch with the column ("table.column")
// and the number of its rows examined so far. The error is for what stops
// the run (database, cancellation); values that fail to open are in the
// Result, and the run continues past them.
func Rotate(ctx context.Context, pool *pgxpool.Pool, keys *sealed.Keyring, batchSize int, progress func(column string, done int)) (Result, error) {
	return rotate(ctx, pool, keys, Columns(), batchSize, progress)
}

func rotate(ctx context.Context, pool *pgxpool.Pool, keys *sealed.Keyring, columns []Column, batchSize int, progress func(string, int)) (Result, error) {
	if keys == nil {
		return Result{}, errors.New("rotate data keys: no keyring")
	}
	if batchSize <= 0 {
		batchSize = DefaultBatchSize
	}
	var res Result
	for _, c := range columns {
		if err := rotateColumn(ctx, pool, keys, c, batchSize, progress, &res); err != nil {
			return res, fmt.Errorf("rotate %s: %w", c, err)
		}
	}
	return res, nil
}

// sealedRow is one row of a batch: the value is nil for NULL.
type sealedRow struct {
	ID    string
	Value []byte
}

func rotateColumn(ctx context.Context, pool *pgxpool.Pool, keys *sealed.Keyring, c Column, batchSize int, progress func(string, int), res *Result) error {
	table := pgx.Identifier{c.Table}.Sanitize()
	id := pgx.Identifier{c.ID}.Sanitize()
	col := pgx.Identifier{c.Name}.Sanitize()
	// Two statements rather than "$2 IS NULL OR id > $2", which would
	// keep the planner from using the primary key index.
	first := fmt.Sprintf(`SELECT %[1]s::text, %[2]s FROM %[3]s ORDER BY %[1]s LIMIT $1 FOR UPDATE`, id, col, table)
	next := fmt.Sprintf(`SELECT %[1]s::text, %[2]s FROM %[3]s WHERE %[1]s > $2 ORDER BY %[1]s LIMIT $1 FOR UPDATE`, id, col, table)
	update := fmt.Sprintf(`UPDATE %s SET %s = $2 WHERE %s = $1`, table, col, id)
	primary := keys.Primary().ID()

	var cursor string
	done := 0
	for {
		var (
			n        int
			last     string
			batchRes Result
		)
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var rows pgx.Rows
			var err error
			if done == 0 {
				rows, err = tx.Query(ctx, first, batchSize)
			} else {
				rows, err = tx.Query(ctx, next, batchSize, cursor)
			}
			if err != nil {
				return err
			}
			batch, err := pgx.CollectRows(rows, pgx.RowToStructByPos[sealedRow])
			if err != nil {
				return err
			}
			updates := &pgx.Batch{}
			for _, r := range batch {
				if r.Value == nil {
					continue
				}
				resealed, current, err := reseal(keys, primary, r.Value, c.AAD(r.ID))
				switch {
				case err != nil:
					batchRes.Failed++
					batchRes.Failures = append(batchRes.Failures, Failure{Column: c, ID: r.ID, Err: err})
				case current:
					batchRes.AlreadyCurrent++
				default:
					updates.Queue(update, r.ID, resealed)
					batchRes.Rotated++
				}
			}
			if updates.Len() > 0 {
				if err := tx.SendBatch(ctx, updates).Close(); err != nil {
					return fmt.Errorf("update: %w", err)
				}
			}
			n = len(batch)
			if n > 0 {
				last = batch[n-1].ID
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Counted only once committed, so that the totals match the table.
		res.Rotated += batchRes.Rotated
		res.AlreadyCurrent += batchRes.AlreadyCurrent
		res.Failed += batchRes.Failed
		for _, f := range batchRes.Failures {
			if len(res.Failures) < MaxReportedFailures {
				res.Failures = append(res.Failures, f)
			}
		}
		if n == 0 {
			return nil
		}
		done += n
		cursor = last
		if progress != nil {
			progress(c.String(), done)
		}
		if n < batchSize {
			return nil
		}
	}
}

// reseal opens value and, unless the primary key sealed it, seals the
// plaintext again with the primary key. Values already current are opened
// too, so that a tampered one is reported whatever its key.
func reseal(keys *sealed.Keyring, primary sealed.KeyID, value, aad []byte) (resealed []byte, current bool, err error) {
	id, err := sealed.KeyIDOf(value)
	if err != nil {
		return nil, false, err
	}
	plain, err := keys.Open(value, aad)
	if err != nil {
		return nil, false, err
	}
	defer clear(plain)
	if id == primary {
		return nil, true, nil
	}
	resealed, err = keys.Seal(plain, aad)
	return resealed, false, err
}
