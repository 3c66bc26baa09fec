package sqlstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store/pgtest"
	"github.com/florad/florad/internal/store/sqlstore"
)

// TestPostgresAnnouncesSeveralRuns: one announcement of several runs is
// heard as one call per run, with its sender.
func TestPostgresAnnouncesSeveralRuns(t *testing.T) {
	t.Parallel()
	s, err := sqlstore.OpenPostgres(t.Context(), sqlstore.PostgresConfig{URL: pgtest.NewDatabase(t)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })

	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan struct{})
	var (
		mu    sync.Mutex
		heard []string
	)
	done := make(chan error, 1)
	go func() {
		done <- s.ListenRunEvents(ctx, func() { close(ready) }, func(from, runID string) {
			mu.Lock()
			defer mu.Unlock()
			heard = append(heard, from+":"+runID)
		})
	}()
	<-ready
	require.NoError(t, s.AnnounceRunEvents(t.Context(), "hub_a", []string{"run_1", "run_2", "run_3"}))
	require.NoError(t, s.AnnounceRunEvents(t.Context(), "hub_b", nil), "nothing to announce is no error")
	require.NoError(t, s.AnnounceRunEvents(t.Context(), "hub_b", []string{"run_4"}))
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(heard) == 4
	}, time.Minute, 10*time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	require.Equal(t, []string{"hub_a:run_1", "hub_a:run_2", "hub_a:run_3", "hub_b:run_4"}, heard)
}
