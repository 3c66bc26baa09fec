package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/store/pgtest"
	"github.com/florad/florad/internal/store/sqlstore"
)

// TestRunRescueStale leaves run jobs in each state a worker process can
// leave them in when it dies, next to jobs of live workers, and checks that
// exactly the dead ones are made available again, on both databases.
func TestRunRescueStale(t *testing.T) {
	t.Parallel()
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		s, err := sqlstore.OpenSQLite(t.Context(), sqlstore.SQLiteConfig{Path: filepath.Join(t.TempDir(), "florad.db")})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		require.NoError(t, sqlstore.MigrateRiver(t.Context(), riversqlite.New(s.WriterDB())))
		jobs, err := river.NewClient(riversqlite.New(s.WriterDB()), &river.Config{})
		require.NoError(t, err)
		// River's SQLite driver keeps times as text in this one format.
		exerciseRescue(t, s, jobs, func(at time.Time) any { return at.UTC().Format("2006-01-02 15:04:05.000") })
	})
	t.Run("Postgres", func(t *testing.T) {
		t.Parallel()
		s, err := sqlstore.OpenPostgres(t.Context(), sqlstore.PostgresConfig{URL: pgtest.NewDatabase(t), MaxConns: 4})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		require.NoError(t, sqlstore.MigrateRiver(t.Context(), riverdatabasesql.New(s.WriterDB())))
		jobs, err := river.NewClient(riverdatabasesql.New(s.WriterDB()), &river.Config{})
		require.NoError(t, err)
		exerciseRescue(t, s, jobs, func(at time.Time) any { return at })
	})
}

func exerciseRescue(t *testing.T, s *sqlstore.Store, jobs *river.Client[*sql.Tx], riverTime func(time.Time) any) {
	ctx := context.Background()
	now := time.Now()
	longAgo, justNow := now.Add(-time.Minute), now.Add(-time.Second)
	wsID := "ws_" + strings.ToLower(rand.Text())
	require.NoError(t, s.InTx(ctx, func(tx store.Tx) error {
		_, err := tx.WorkspaceInsert(ctx, &store.WorkspaceInsertParams{ID: wsID, Name: "rescue", WebhookSecret: "whsec_x", CreatedAt: now.UnixMilli()})
		return err
	}))

	// newJob makes a pending run and its job, which a worker fetched at
	// fetchedAt (zero: still waiting in the queue).
	newJob := func(fetchedAt time.Time) (runID string, jobID int64) {
		runID = "run_" + strings.ToLower(rand.Text())
		require.NoError(t, s.InTx(ctx, func(tx store.Tx) error {
			if _, err := tx.RunInsert(ctx, &store.RunInsertParams{ID: runID, WorkspaceID: wsID, TechniqueID: "tech_x",
				TechniqueSlug: "x", TechniqueVersion: "1", Mode: "async", Fingerprint: "f", CreatedAt: now.UnixMilli()}); err != nil {
				return err
			}
			res, err := jobs.InsertTx(ctx, tx.SQLTx(), run.ExecuteArgs{RunID: runID}, nil)
			if err == nil {
				jobID = res.Job.ID
			}
			return err
		}))
		if !fetchedAt.IsZero() {
			// River's fetch: the job runs, attempted now by some worker.
			_, err := s.WriterDB().ExecContext(ctx, rebind(s, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = ? WHERE id = ?`),
				riverTime(fetchedAt), jobID)
			require.NoError(t, err)
		}
		return runID, jobID
	}
	start := func(runID string) {
		require.NoError(t, s.InTx(ctx, func(tx store.Tx) error {
			_, err := tx.RunStart(ctx, runID, longAgo.UnixMilli())
			return err
		}))
	}
	beat := func(runID string, jobID int64, at time.Time) {
		require.NoError(t, s.RunHeartbeat(ctx, runID, jobID, at.UnixMilli()))
	}

	// Dead: fetched, then the process died before starting the run, ...
	_, diedFetched := newJob(longAgo)
	// ... after starting it but before its first heartbeat, ...
	r, diedStarted := newJob(longAgo)
	start(r)
	// ... or while executing it.
	r, diedExecuting := newJob(longAgo)
	start(r)
	beat(r, diedExecuting, longAgo)

	// Alive: just fetched, ...
	_, aliveFetched := newJob(justNow)
	// ... executing for long with a fresh heartbeat, ...
	r, aliveExecuting := newJob(longAgo)
	start(r)
	beat(r, aliveExecuting, justNow)
	// ... and waiting in the queue.
	_, queued := newJob(time.Time{})

	n, err := s.RunRescueStale(ctx, now.Add(-30*time.Second).UnixMilli())
	require.NoError(t, err)
	require.Equal(t, int64(3), n)
	for id, want := range map[int64]string{
		diedFetched: "available", diedStarted: "available", diedExecuting: "available",
		aliveFetched: "running", aliveExecuting: "running", queued: "available",
	} {
		var state string
		require.NoError(t, s.WriterDB().QueryRowContext(ctx, rebind(s, `SELECT state FROM river_job WHERE id = ?`), id).Scan(&state))
		require.Equal(t, want, state, "job %d", id)
	}

	n, err = s.RunRescueStale(ctx, now.Add(-30*time.Second).UnixMilli())
	require.NoError(t, err)
	require.Zero(t, n, "nothing left to rescue")
}

// rebind writes the test's '?' placeholders as PostgreSQL's $n.
func rebind(s *sqlstore.Store, q string) string {
	if s.Dialect() != "postgres" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$")
			b.WriteByte(byte('0' + n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
