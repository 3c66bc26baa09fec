// Package sqlstore implements store.Store over database/sql. One body of
// queries serves SQLite and PostgreSQL; what differs between them (opening,
// placeholders, error codes, migrations) lives in a dialect value, so each
// difference is written once.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/florad/florad/internal/store"
)

// executor is what both *sql.DB and *sql.Tx offer.
type executor interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// dialect is everything that differs between the backends.
type dialect interface {
	name() string
	// rebind turns the '?' placeholders our queries are written with into
	// the backend's own.
	rebind(query string) string
	// interpretError maps driver errors to store sentinels.
	interpretError(err error) error
	// statementContext is the context a statement runs under.
	statementContext(ctx context.Context) context.Context
}

// Store is the database/sql implementation of store.Store.
type Store struct {
	queries
	writer *sql.DB
	reader *sql.DB
	pool   *pgxpool.Pool // PostgreSQL only
	group  *grouper      // SQLite only: group commit
	// lockPath is the SQLite database's migration lock file.
	lockPath string
	closers  []func() error
}

var _ store.Store = (*Store)(nil)

// WriterDB returns the pool that writes go through.
func (s *Store) WriterDB() *sql.DB { return s.writer }

// ReaderDB returns the pool for reads outside transactions.
func (s *Store) ReaderDB() *sql.DB { return s.reader }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.reader.PingContext(ctx); err != nil {
		return fmt.Errorf("error reaching the database: %w", err)
	}
	return nil
}

// Dialect names the backend.
func (s *Store) Dialect() string { return s.d.name() }

// Close closes both pools.
func (s *Store) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// InTx runs fn in one write transaction. The function receives a Tx whose
// reads also go through the transaction: on SQLite there is one writer
// connection, and reading through another pool while holding it would see
// stale data or, through the writer pool, deadlock.
func (s *Store) InTx(ctx context.Context, fn func(tx store.Tx) error) (err error) {
	sqlTx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("error beginning transaction: %w", s.d.interpretError(err))
	}
	committed := false
	// Roll back on every way out but a commit: an error, a panic, and also
	// runtime.Goexit (a failed test assertion), which would otherwise keep
	// the only writer connection forever.
	defer func() {
		if !committed {
			_ = sqlTx.Rollback()
		}
	}()
	failed := &txFailure{}
	if err = fn(&txQueries{queries: queries{ex: sqlTx, d: s.d, failed: failed}, tx: sqlTx}); err != nil {
		return err
	}
	if failed.err != nil {
		return fmt.Errorf("error committing transaction: a statement in it failed: %w", failed.err)
	}
	committed = true
	if err = sqlTx.Commit(); err != nil {
		return fmt.Errorf("error committing transaction: %w", s.d.interpretError(err))
	}
	return nil
}

// queries holds every query, bound to an executor: the read pool for a Store,
// the transaction for a Tx.
type queries struct {
	ex executor
	d  dialect
	// failed records the first statement of a transaction that failed; nil
	// outside transactions.
	failed *txFailure
}

// txFailure holds a transaction's first failed statement. A transaction
// with one never commits, whatever its function returns: PostgreSQL aborts
// such a transaction by itself, and SQLite, which undoes only the failed
// statement, is held to the same rule, so no caller can commit half of a
// change by carrying on after an error.
type txFailure struct{ err error }

// noteErr records err as the transaction's failure.
func (q *queries) noteErr(err error) error {
	if err != nil && q.failed != nil && q.failed.err == nil {
		q.failed.err = err
	}
	return err
}

func (q *queries) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := q.ex.ExecContext(q.d.statementContext(ctx), q.d.rebind(query), args...)
	return res, q.noteErr(q.d.interpretError(err))
}

func (q *queries) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := q.ex.QueryContext(q.d.statementContext(ctx), q.d.rebind(query), args...)
	return rows, q.noteErr(q.d.interpretError(err))
}

func (q *queries) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return q.ex.QueryRowContext(q.d.statementContext(ctx), q.d.rebind(query), args...)
}

// scanErr maps a Scan error; sql.ErrNoRows becomes store.ErrNotFound.
func (q *queries) scanErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return q.noteErr(q.d.interpretError(err))
}

type txQueries struct {
	queries
	tx *sql.Tx
}

var _ store.Tx = (*txQueries)(nil)

func (t *txQueries) SQLTx() *sql.Tx { return t.tx }
