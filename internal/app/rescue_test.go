package app_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/app"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/store/pgtest"
)

// TestRescueRunsOfDeadWorkers leaves runs as a worker process leaves them
// when it dies at each moment of a run's start, and checks that a live
// worker takes every one over within a few RescueAfter. The dead process's
// part is played with the very statements it would have run: River's fetch
// (job running, attempted by it), RunStart, RunHeartbeat.
func TestRescueRunsOfDeadWorkers(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	ctx := context.Background()

	// An API process alone: runs are created and wait for a worker.
	b := setupWith(t, setupOpts{configure: func(c *app.Config) {
		c.DatabaseURL, c.Workers = dbURL, false
	}})
	newRun := func(prompt string) (runID string, jobID int64) {
		r, err := b.client.Runs.Create(ctx, "prompt-expander", promptRun(prompt))
		require.NoError(t, err)
		require.NoError(t, b.app.Store.WriterDB().QueryRowContext(ctx,
			`SELECT id FROM river_job WHERE args->>'run_id' = $1`, r.RunID).Scan(&jobID))
		return r.RunID, jobID
	}
	// fetchedByDeadWorker is River's fetch by a process that then died.
	fetchedByDeadWorker := func(jobID int64, ago time.Duration) {
		_, err := b.app.Store.WriterDB().ExecContext(ctx,
			`UPDATE river_job SET state = 'running', attempt = attempt + 1, attempted_at = now() - make_interval(secs => $2),
			 attempted_by = array_append(attempted_by, 'dead-worker') WHERE id = $1`, jobID, ago.Seconds())
		require.NoError(t, err)
	}
	started := func(runID string) {
		require.NoError(t, b.app.Store.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.RunStart(ctx, runID, time.Now().Add(-time.Minute).UnixMilli())
			return err
		}))
	}

	// Died after the fetch, before the run was marked running.
	pendingRun, job := newRun("died before starting the run")
	fetchedByDeadWorker(job, time.Minute)
	// Died after marking it running, before its first heartbeat.
	unbeatRun, job := newRun("died before the first heartbeat")
	fetchedByDeadWorker(job, time.Minute)
	started(unbeatRun)
	// Died while executing, heartbeats written until a minute ago.
	staleRun, job := newRun("died while executing")
	fetchedByDeadWorker(job, time.Minute)
	started(staleRun)
	require.NoError(t, b.app.Store.RunHeartbeat(ctx, staleRun, job, time.Now().Add(-time.Minute).UnixMilli()))

	// A live worker process with a short rescue delay.
	wctx, cancel := context.WithCancel(context.Background())
	w, err := app.New(wctx, app.Config{DatabaseURL: dbURL, DataDir: t.TempDir(), Dev: true, Workers: true, NoAPI: true,
		RescueAfter: time.Second, ShutdownTimeout: 10 * time.Second,
		Logger: slog.New(slog.NewJSONHandler(&syncBuffer{}, nil))})
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})

	// Poll all three to their end; report every one that did not.
	runs := map[string]string{"pending": pendingRun, "no heartbeat": unbeatRun, "stale heartbeat": staleRun}
	status := map[string]string{}
	deadline := time.Now().Add(15 * time.Second)
	for len(status) < len(runs) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // a poll interval, not a wait for a condition
		for name, id := range runs {
			r, err := b.client.Runs.Get(ctx, "prompt-expander", id)
			require.NoError(t, err)
			if r.Finished() {
				status[name] = r.Status + r.ErrorCode
			}
		}
	}
	require.Equal(t, map[string]string{"pending": client.StatusCompleted, "no heartbeat": client.StatusCompleted,
		"stale heartbeat": client.StatusCompleted}, status, "runs left by a worker that died, within 15 s")
	require.Equal(t, 3, b.countLedger(t, b.wsID, store.LedgerCharge))
	require.Zero(t, b.countLedger(t, b.wsID, store.LedgerRefund))
	b.requireLedgerExplainsBalance(t, b.wsID)
}
