package sqlstore_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/store/sqlstore"
	"github.com/florad/florad/internal/store/storetest"
)

func TestSQLite(t *testing.T) {
	t.Parallel()

	storetest.Exercise(t, func(t *testing.T) store.Store {
		t.Helper()
		s, err := sqlstore.OpenSQLite(t.Context(), sqlstore.SQLiteConfig{
			Path: filepath.Join(t.TempDir(), "florad.db"),
		})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		require.Equal(t, "sqlite", s.Dialect())
		return s
	})
}

// TestSQLitePageSize checks that a new database gets florad's small pages,
// which a DSN pragma cannot set, and that an existing file keeps its own.
func TestSQLitePageSize(t *testing.T) {
	t.Parallel()
	pageSize := func(t *testing.T, path string) int {
		t.Helper()
		s, err := sqlstore.OpenSQLite(t.Context(), sqlstore.SQLiteConfig{Path: path})
		require.NoError(t, err)
		defer func() { require.NoError(t, s.Close()) }()
		var n int
		require.NoError(t, s.ReaderDB().QueryRowContext(t.Context(), `PRAGMA page_size`).Scan(&n))
		var mode string
		require.NoError(t, s.WriterDB().QueryRowContext(t.Context(), `PRAGMA journal_mode`).Scan(&mode))
		require.Equal(t, "wal", mode)
		return n
	}

	fresh := filepath.Join(t.TempDir(), "florad.db")
	require.Equal(t, 1024, pageSize(t, fresh))
	require.Equal(t, 1024, pageSize(t, fresh), "reopened")

	old := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+old)
	require.NoError(t, err)
	_, err = db.Exec(`PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (x)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.Equal(t, 4096, pageSize(t, old))
}

// TestSQLiteOpenConcurrently opens one fresh database from several
// goroutines at once, round after round: every open succeeds and the
// schema is migrated once. Without the migration lock, goose in two of
// them both saw version 0 and one failed on "table already exists".
func TestSQLiteOpenConcurrently(t *testing.T) {
	t.Parallel()

	for range 5 {
		path := filepath.Join(t.TempDir(), "florad.db")
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				s, err := sqlstore.OpenSQLite(t.Context(), sqlstore.SQLiteConfig{Path: path, Synchronous: "OFF"})
				if err == nil {
					var n int
					err = s.WriterDB().QueryRowContext(t.Context(), `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&n)
					if err == nil && n == 0 {
						err = errors.New("no migration recorded")
					}
					err = errors.Join(err, s.Close())
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
	}
}
