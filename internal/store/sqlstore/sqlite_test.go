package sqlstore_test

import (
	"path/filepath"
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
