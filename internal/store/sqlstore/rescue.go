package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// RunHeartbeat records that the process executing a run, through River job
// jobID, is alive.
func (s *Store) RunHeartbeat(ctx context.Context, runID string, jobID, at int64) error {
	_, err := s.writer.ExecContext(ctx, s.d.rebind(
		`UPDATE runs SET job_id = ?, heartbeat_at = ? WHERE id = ? AND status = 'running'`), jobID, at, runID)
	if err != nil {
		return fmt.Errorf("error recording heartbeat: %w", err)
	}
	return nil
}

// RunRescueStale makes the River jobs of runs whose executing process went
// silent available again, so a live worker takes them over. A job is stale
// when River handed it out before `before` (its attempted_at) and no run
// executing through it has sent a heartbeat since. Judging by the job
// rather than by the run's heartbeat alone also covers a process that died
// between River's fetch and the run's first heartbeat: its run is still
// pending, or running with no heartbeat, and would otherwise wait for
// River's own rescue of stuck jobs (the run timeout plus five minutes).
// A run resumes after its last recorded step, and its end is guarded (a
// finished run cannot finish twice, a run cannot be settled twice), so even
// a false alarm costs time, never money.
func (s *Store) RunRescueStale(ctx context.Context, before int64) (int64, error) {
	now := `now()`
	// River's own column types: timestamptz on PostgreSQL, and on SQLite
	// text in the one format its driver writes and compares.
	var handedOutBefore any = time.UnixMilli(before).UTC()
	if s.d.name() == "sqlite" {
		now = `datetime('now', 'subsec')`
		handedOutBefore = time.UnixMilli(before).UTC().Format("2006-01-02 15:04:05.000")
	}
	res, err := s.writer.ExecContext(ctx, s.d.rebind(
		`UPDATE river_job SET state = 'available', scheduled_at = `+now+`
		 WHERE state = 'running' AND kind = 'run_execute' AND attempted_at < ?
		   AND NOT EXISTS (
		     SELECT 1 FROM runs
		     WHERE runs.status = 'running' AND runs.job_id = river_job.id AND runs.heartbeat_at >= ?)`),
		handedOutBefore, before)
	if err != nil {
		return 0, fmt.Errorf("error rescuing stale runs: %w", err)
	}
	return res.RowsAffected()
}
