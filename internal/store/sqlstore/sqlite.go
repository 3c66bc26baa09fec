package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/florad/florad/internal/store"
)

// SQLiteConfig configures OpenSQLite.
type SQLiteConfig struct {
	// Path is the database file.
	Path string
	// Synchronous is SQLite's synchronous pragma. Credits are money, so the
	// default is FULL: a commit survives power loss. NORMAL is about five
	// times faster and loses at most the last commits on power loss (never on
	// a process crash). Defaults to "FULL".
	Synchronous string
	// Readers is the size of the read pool. Defaults to 2×GOMAXPROCS, at
	// least 4.
	Readers int
}

// sqlitePageSize is the page size of databases florad creates. A commit
// writes every page it touched whole into the WAL, and a run's creation
// touches about fifteen (the run, its event, the ledger entry, the balance,
// the River job and their indexes), each only to append a small row: at 1 KiB
// instead of SQLite's 4 KiB a create writes a third of the bytes and took
// 20-25% less time at one connection (internal/app BenchmarkRunCreate,
// FULL sync), while reads by key cost the same (BenchmarkRunGet).
const sqlitePageSize = 1024

// createSQLiteFile makes a new database file with florad's page size. The
// size is fixed when the first page is written, so it must be set before
// anything else: the driver's DSN pragmas run sorted by name, journal_mode
// before page_size, too late. An existing file is left as it is.
func createSQLiteFile(ctx context.Context, path string) error {
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return nil
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("error creating SQLite database %s: %w", path, err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("error creating SQLite database %s: %w", path, err)
	}
	defer conn.Close()
	// Switching to WAL writes the header; if another process got there
	// first, page_size is a no-op and the file keeps the size it was made with.
	for _, q := range []string{fmt.Sprintf(`PRAGMA page_size = %d`, sqlitePageSize), `PRAGMA journal_mode = WAL`} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("error creating SQLite database %s: %w", path, err)
		}
	}
	return nil
}

type sqliteDialect struct{}

func (sqliteDialect) name() string           { return "sqlite" }
func (sqliteDialect) rebind(q string) string { return q }

// statementContext drops the caller's cancellation. Our SQLite statements
// run in-process in tens of microseconds (the writer's lock wait is in
// BEGIN, outside them), and a cancellable context costs each of them two
// goroutines, database/sql's and the driver's, that only watch for it:
// measurable on every poll.
func (sqliteDialect) statementContext(ctx context.Context) context.Context {
	return context.WithoutCancel(ctx)
}
func (sqliteDialect) interpretError(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", store.ErrAlreadyExists, err)
		}
	}
	return err
}

// OpenSQLite opens the file with one writer connection and a pool of
// read-only connections. One writer is deliberate: SQLite has a single write
// lock, and several writer connections waiting on busy_timeout add no
// throughput while starving some transactions for seconds; a Go pool of one
// queues them fairly instead. Transactions begin IMMEDIATE so a read-then-
// write transaction (a credit check) can never fail on lock upgrade.
func OpenSQLite(ctx context.Context, cfg SQLiteConfig) (*Store, error) {
	sync := cfg.Synchronous
	if sync == "" {
		sync = "FULL"
	}
	switch sync {
	case "FULL", "NORMAL", "EXTRA", "OFF":
	default:
		return nil, fmt.Errorf("invalid SQLite synchronous mode %q (want FULL, NORMAL, EXTRA or OFF)", sync)
	}
	readers := cfg.Readers
	if readers <= 0 {
		readers = max(4, 2*runtime.GOMAXPROCS(0))
	}

	dsn := func(extra ...string) string {
		v := url.Values{}
		v.Add("_pragma", "busy_timeout(10000)")
		v.Add("_pragma", "journal_mode(WAL)")
		v.Add("_pragma", "synchronous("+sync+")")
		v.Add("_pragma", "foreign_keys(1)")
		for i := 0; i+1 < len(extra); i += 2 {
			v.Add(extra[i], extra[i+1])
		}
		return "file:" + cfg.Path + "?" + v.Encode()
	}

	// Creating the file and migrating it happen under the migration lock,
	// for processes opening a fresh folder at the same moment.
	var s *Store
	err := withFileLock(ctx, sqliteLockPath(cfg.Path), func() error {
		var err error
		s, err = openSQLite(ctx, cfg.Path, readers, dsn)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func openSQLite(ctx context.Context, path string, readers int, dsn func(extra ...string) string) (*Store, error) {
	if err := createSQLiteFile(ctx, path); err != nil {
		return nil, err
	}

	// Each connection keeps its prepared statements (stmtcache.go).
	// The writer never checkpoints on commit (a commit that happens to
	// cross the auto-checkpoint threshold would pay for copying the whole
	// WAL back); a checkpointer connection does it in the background.
	writerConn, err := sqlite.NewConnector(dsn("_txlock", "immediate", "_pragma", "wal_autocheckpoint(0)"))
	if err != nil {
		return nil, fmt.Errorf("error opening SQLite writer: %w", err)
	}
	writer := sql.OpenDB(&stmtCacheConnector{inner: writerConn, size: stmtCacheSize})
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("error opening SQLite database %s: %w", path, err)
	}

	readerConn, err := sqlite.NewConnector(dsn("_pragma", "query_only(1)"))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("error opening SQLite reader: %w", err)
	}
	reader := sql.OpenDB(&stmtCacheConnector{inner: readerConn, size: stmtCacheSize})
	reader.SetMaxOpenConns(readers)
	reader.SetMaxIdleConns(readers)
	reader.SetConnMaxIdleTime(0)
	reader.SetConnMaxLifetime(0)

	d := sqliteDialect{}
	s := &Store{
		queries:  queries{ex: reader, d: d},
		writer:   writer,
		reader:   reader,
		closers:  []func() error{reader.Close, writer.Close},
		lockPath: sqliteLockPath(path),
	}
	if err := migrate(ctx, s, migrationsSQLite); err != nil {
		s.Close()
		return nil, err
	}
	s.group = &grouper{s: s}
	if err := s.startCheckpointer(dsn()); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}
