package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"
)

// modernc.org/sqlite prepares every statement anew on every query; on our
// long statements (RETURNING twenty columns, River's job insert) parsing
// and planning cost as much as running them. stmtCacheConnector keeps each
// connection's prepared statements, keyed by SQL text, and reuses them.
//
// A statement is reused only when idle: a query issued while rows of the
// same text are still open on the connection gets a fresh statement.
// Scripts of several statements (migrations) are never cached.
type stmtCacheConnector struct {
	inner driver.Connector
	size  int
}

func (c *stmtCacheConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &stmtCacheConn{conn: conn, size: c.size, stmts: map[string]*cachedStmt{}}, nil
}

func (c *stmtCacheConnector) Driver() driver.Driver { return c.inner.Driver() }

// stmtCacheSize bounds the statements kept per connection; our queries and
// River's together are well under it.
const stmtCacheSize = 128

// fullConn is what the modernc connection implements.
type fullConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type cachedStmt struct {
	stmt interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	}
	// busy while rows read from it are open: a nested use of the same
	// text prepares a fresh statement instead.
	busy bool
}

// stmtCacheConn is used by one goroutine at a time (database/sql's
// guarantee for a driver.Conn), so it needs no lock.
type stmtCacheConn struct {
	conn  driver.Conn
	size  int
	stmts map[string]*cachedStmt
}

func (c *stmtCacheConn) full() (fullConn, error) {
	f, ok := c.conn.(fullConn)
	if !ok {
		return nil, errors.New("sqlite connection lacks a context method")
	}
	return f, nil
}

// cacheable leaves out scripts of several statements, which the driver
// cannot keep prepared. A semicolon in a comment or a quoted string does
// not end a statement: River's job completion carries one in a comment,
// and re-parsing that statement on every completion was a third of a
// worker's CPU.
func cacheable(query string) bool {
	ended := false // a statement ended; only blanks and comments may follow
	for i := 0; i < len(query); i++ {
		switch c := query[i]; {
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			for i < len(query) && query[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(query) && query[i+1] == '*':
			end := strings.Index(query[i+2:], "*/")
			if end < 0 {
				return !ended
			}
			i += end + 3
		case c == '\'' || c == '"' || c == '`':
			// Quotes are escaped by doubling, which this reads as a
			// string ending and the next beginning.
			end := strings.IndexByte(query[i+1:], c)
			if end < 0 {
				return !ended
			}
			if ended {
				return false
			}
			i += end + 1
		case c == ';':
			ended = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default:
			if ended {
				return false
			}
		}
	}
	return true
}

func (c *stmtCacheConn) get(ctx context.Context, query string) (*cachedStmt, error) {
	if s, ok := c.stmts[query]; ok {
		if s.busy {
			return nil, nil
		}
		return s, nil
	}
	if !cacheable(query) {
		return nil, nil
	}
	f, err := c.full()
	if err != nil {
		return nil, err
	}
	ds, err := f.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := ds.(interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	})
	if !ok {
		ds.Close()
		return nil, nil
	}
	if len(c.stmts) >= c.size {
		// Crude but bounded: drop an idle statement at random.
		for k, s := range c.stmts {
			if !s.busy {
				s.stmt.Close()
				delete(c.stmts, k)
				break
			}
		}
	}
	s := &cachedStmt{stmt: st}
	c.stmts[query] = s
	return s, nil
}

func (c *stmtCacheConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	s, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		f, err := c.full()
		if err != nil {
			return nil, err
		}
		return f.ExecContext(ctx, query, args)
	}
	s.busy = true
	defer func() { s.busy = false }()
	return s.stmt.ExecContext(ctx, args)
}

func (c *stmtCacheConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		f, err := c.full()
		if err != nil {
			return nil, err
		}
		return f.QueryContext(ctx, query, args)
	}
	s.busy = true
	rows, err := s.stmt.QueryContext(ctx, args)
	if err != nil {
		s.busy = false
		return nil, err
	}
	return &cachedRows{Rows: rows, s: s}, nil
}

type cachedRows struct {
	driver.Rows
	s *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.s.busy = false
	return err
}

func (c *stmtCacheConn) Prepare(query string) (driver.Stmt, error) { return c.conn.Prepare(query) }

func (c *stmtCacheConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	f, err := c.full()
	if err != nil {
		return nil, err
	}
	return f.PrepareContext(ctx, query)
}

func (c *stmtCacheConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *stmtCacheConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	f, err := c.full()
	if err != nil {
		return nil, err
	}
	return f.BeginTx(ctx, opts)
}

func (c *stmtCacheConn) Close() error {
	var errs []error
	for k, s := range c.stmts {
		errs = append(errs, s.stmt.Close())
		delete(c.stmts, k)
	}
	return errors.Join(append(errs, c.conn.Close())...)
}

func (c *stmtCacheConn) Ping(ctx context.Context) error {
	f, err := c.full()
	if err != nil {
		return err
	}
	return f.Ping(ctx)
}

func (c *stmtCacheConn) ResetSession(ctx context.Context) error {
	f, err := c.full()
	if err != nil {
		return err
	}
	return f.ResetSession(ctx)
}

func (c *stmtCacheConn) IsValid() bool {
	f, err := c.full()
	return err == nil && f.IsValid()
}
