package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"

	"github.com/florad/florad/internal/store"
)

// PostgresConfig configures OpenPostgres.
type PostgresConfig struct {
	// URL is a postgres:// connection string.
	URL string
	// MaxConns bounds the pool. Defaults to 20.
	MaxConns int
}

type postgresDialect struct {
	// rebound caches the $n form of each query; queries are constants, so
	// the cache stays as small as the set of queries.
	rebound sync.Map
}

func (*postgresDialect) name() string { return "postgres" }

// statementContext keeps the caller's: a statement can wait on the
// network or a row lock, and a request that ended should stop waiting.
func (*postgresDialect) statementContext(ctx context.Context) context.Context { return ctx }

func (d *postgresDialect) rebind(q string) string {
	if v, ok := d.rebound.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	out := b.String()
	d.rebound.Store(q, out)
	return out
}

func (*postgresDialect) interpretError(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
		return fmt.Errorf("%w: %w", store.ErrAlreadyExists, err)
	}
	return err
}

var migrationsPostgres = migrationSet{dir: "migrations/postgres", goose: goose.DialectPostgres}

// migrationLockID is the advisory lock that serialises migrations when
// several processes start at once.
const migrationLockID = 0x666c6f7261 // "flora"

// OpenPostgres opens a pool on PostgreSQL and applies migrations. Unlike
// SQLite, PostgreSQL takes concurrent writers well, so reads and writes share
// one pool.
func OpenPostgres(ctx context.Context, cfg PostgresConfig) (*Store, error) {
	maxConns := cfg.MaxConns
	if maxConns <= 0 {
		maxConns = 20
	}
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("error parsing database URL: %w", err)
	}
	pcfg.MaxConns = int32(maxConns)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("error connecting to PostgreSQL: %w", err)
	}
	db := openPgxDB(pool)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		pool.Close()
		return nil, fmt.Errorf("error connecting to PostgreSQL: %w", err)
	}
	d := &postgresDialect{}
	s := &Store{
		queries: queries{ex: db, d: d},
		writer:  db,
		reader:  db,
		pool:    pool,
		closers: []func() error{db.Close, func() error { pool.Close(); return nil }},
	}
	if err := withMigrationLock(ctx, db, func() error { return migrate(ctx, s, migrationsPostgres) }); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// PgxPool is the pgx pool under a PostgreSQL store (River's listener needs
// it for LISTEN/NOTIFY); nil on SQLite.
func (s *Store) PgxPool() *pgxpool.Pool { return s.pool }

// WithMigrationLock runs fn while holding the migration lock (PostgreSQL's
// advisory lock, SQLite's lock file beside the database), so that
// processes starting together migrate one after another: fn is where the
// caller applies River's migrations.
func (s *Store) WithMigrationLock(ctx context.Context, fn func() error) error {
	if s.pool == nil {
		return withFileLock(ctx, s.lockPath, fn)
	}
	return withMigrationLock(ctx, s.writer, fn)
}

func withMigrationLock(ctx context.Context, db *sql.DB, fn func() error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("error taking migration lock: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockID); err != nil {
		return fmt.Errorf("error taking migration lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockID) //nolint:errcheck
	return fn()
}
