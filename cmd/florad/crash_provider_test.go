package main

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/provider/providerfake"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/store/sqlstore"
)

// TestCrashWhileWaitingOnProvider kills florad with SIGKILL while a run
// waits on fal (its request submitted and polled), and starts it again:
// the run polls the recorded request, never submits another, completes,
// and is charged once.
func TestCrashWhileWaitingOnProvider(t *testing.T) {
	t.Parallel()
	fal := providerfake.NewFal("fal-crash-key")
	t.Cleanup(fal.Close)
	fal.QueueTime, fal.RunTime = 5*time.Second, time.Second
	env := []string{"FLORA_FAL_KEY=fal-crash-key", "FLORA_FAL_QUEUE_URL=" + fal.URL(), "FLORA_PROVIDER_POLL_MAX=300ms"}
	data := filepath.Join(t.TempDir(), "data")

	srv := startCrashServer(t, floradBin, data, env...)
	key := regexp.MustCompile(`sk_live_[0-9a-z]+`).FindString(srv.stdout.String())
	require.NotEmpty(t, key)
	code, body := crashRequest(t, "POST", srv.base+"/api/v1/techniques/social-post-image/runs", key, map[string]any{
		"inputs": []map[string]string{{"id": "prompt", "type": "text", "value": "a harbour at night"}},
		"mode":   "async",
	})
	require.Equal(t, http.StatusOK, code, "%v", body)
	runID := body["run_id"].(string)

	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "florad.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var handle string
		err := db.QueryRow(`SELECT handle FROM run_step_calls WHERE run_id = ? AND state = 'submitted'`, runID).Scan(&handle)
		if err == nil && fal.Polls.Load() >= 2 {
			require.Contains(t, handle, "req-000001", "the provider's request id is on the step's record")
			break
		}
		require.True(t, time.Now().Before(deadline), "the request was never submitted and polled")
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGKILL))
	<-srv.done
	pollsBefore := fal.Polls.Load()
	require.Equal(t, int64(1), fal.Submits.Load())

	srv2 := startCrashServer(t, floradBin, data, env...)
	var final map[string]any
	deadline = time.Now().Add(120 * time.Second)
	for {
		_, final = crashRequest(t, "GET", srv2.base+"/api/v1/techniques/social-post-image/runs/"+runID, key, nil)
		if final["status"] == "completed" || final["status"] == "failed" {
			break
		}
		require.True(t, time.Now().Before(deadline), "the run did not complete after restart: %v", final)
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, "completed", final["status"], "%v", final)
	require.EqualValues(t, 8, final["charged_credits"])
	require.Equal(t, int64(1), fal.Submits.Load(), "the restarted florad polled the recorded request, never submitting again")
	require.Greater(t, fal.Polls.Load(), pollsBefore, "it polled after the restart")
	require.NoError(t, srv2.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-srv2.done:
	case <-time.After(30 * time.Second):
		t.Fatal("florad did not stop on SIGTERM")
	}

	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, sqlstore.SQLiteConfig{Path: filepath.Join(data, "florad.db")})
	require.NoError(t, err)
	defer st.Close()
	calls, err := st.StepCallList(ctx, runID)
	require.NoError(t, err)
	require.Empty(t, calls)
	run, err := st.RunGetByID(ctx, runID)
	require.NoError(t, err)
	ledger, err := st.LedgerList(ctx, run.WorkspaceID)
	require.NoError(t, err)
	kinds := map[string]int{}
	for _, e := range ledger {
		if e.RunID == runID {
			kinds[e.Kind]++
		}
	}
	require.Equal(t, map[string]int{store.LedgerReserve: 1, store.LedgerCharge: 1}, kinds, "charged once")
	ws, err := st.WorkspaceGet(ctx, run.WorkspaceID)
	require.NoError(t, err)
	require.EqualValues(t, 1000-8, ws.Balance)
}
