package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"modernc.org/sqlite"
)

func TestCacheable(t *testing.T) {
	t.Parallel()
	for query, want := range map[string]bool{
		"SELECT 1":                                   true,
		"SELECT 1;":                                  true,
		"SELECT 1; \n -- done\n /* really */ ":       true,
		"SELECT 1; SELECT 2":                         false,
		"CREATE TABLE a (x);\nCREATE TABLE b (y);":   false,
		"-- first; then\nSELECT 1":                   true,
		"SELECT /* a; b */ 1":                        true,
		"SELECT ';' AS s":                            true,
		"SELECT 'it''s; fine'":                       true,
		`SELECT 1 AS "a;b"`:                          true,
		"SELECT 1; -- then\nSELECT 2":                false,
		"SELECT 1; /* then */ SELECT 2":              false,
		"SELECT 1; 'x'":                              false,
		"SELECT 1 /* never closed; ":                 true,
		"UPDATE t SET x = 1 -- ends here; no more\n": true,
	} {
		require.Equal(t, want, cacheable(query), "%q", query)
	}
}

// TestStmtCacheKeepsCommentedStatements: a statement with a semicolon in a
// comment, as River's job completion has, is prepared once per connection.
func TestStmtCacheKeepsCommentedStatements(t *testing.T) {
	t.Parallel()
	inner, err := sqlite.NewConnector("file:" + filepath.Join(t.TempDir(), "c.db"))
	require.NoError(t, err)
	var conns []*stmtCacheConn
	db := sql.OpenDB(&spyConnector{stmtCacheConnector{inner: inner, size: stmtCacheSize}, &conns})
	t.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(1)
	const query = "-- one; statement\nSELECT 1 + ?"
	for i := range 3 {
		var n int
		require.NoError(t, db.QueryRowContext(t.Context(), query, i).Scan(&n))
		require.Equal(t, 1+i, n)
	}
	require.Len(t, conns, 1)
	require.Contains(t, conns[0].stmts, query)
}

type spyConnector struct {
	stmtCacheConnector
	conns *[]*stmtCacheConn
}

func (c *spyConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.stmtCacheConnector.Connect(ctx)
	if err == nil {
		*c.conns = append(*c.conns, conn.(*stmtCacheConn))
	}
	return conn, err
}
