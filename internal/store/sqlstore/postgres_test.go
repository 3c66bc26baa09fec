package sqlstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/store/pgtest"
	"github.com/florad/florad/internal/store/sqlstore"
	"github.com/florad/florad/internal/store/storetest"
)

func TestPostgres(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(t *testing.T) store.Store {
		t.Helper()
		s, err := sqlstore.OpenPostgres(t.Context(), sqlstore.PostgresConfig{URL: pgtest.NewDatabase(t), MaxConns: 30})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		require.Equal(t, "postgres", s.Dialect())
		return s
	})
}

// Several processes starting at once must migrate one after another.
func TestPostgresConcurrentMigrations(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := sqlstore.OpenPostgres(t.Context(), sqlstore.PostgresConfig{URL: url})
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		require.NoError(t, <-errs)
	}
}
