package sqlstore

import (
	"context"
	"fmt"
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

// RunRescueStale makes the River jobs of running runs whose heartbeat is
// older than before available again, so a live worker takes them over. A run
// resumes after its last recorded step, and its end is guarded (a finished
// run cannot finish twice, a run cannot be settled twice), so even a false
// alarm costs time, never money.
func (s *Store) RunRescueStale(ctx context.Context, before int64) (int64, error) {
	now := `now()`
	if s.d.name() == "sqlite" {
		now = `datetime('now', 'subsec')`
	}
	res, err := s.writer.ExecContext(ctx, s.d.rebind(
		`UPDATE river_job SET state = 'available', scheduled_at = `+now+`
		 WHERE state = 'running' AND id IN (
		   SELECT job_id FROM runs WHERE status = 'running' AND job_id IS NOT NULL AND heartbeat_at < ?)`), before)
	if err != nil {
		return 0, fmt.Errorf("error rescuing stale runs: %w", err)
	}
	return res.RowsAffected()
}
