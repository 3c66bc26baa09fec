package asset

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/store"
)

// QueueMaintenance is the River queue of periodic housekeeping, shared with
// the run reconciler.
const QueueMaintenance = run.QueueMaintenance

// RetentionArgs is the periodic River job that deletes assets and run
// outputs older than the retention period.
type RetentionArgs struct{}

// Kind implements river.JobArgs.
func (RetentionArgs) Kind() string { return "retention_sweep" }

// InsertOpts implements river.JobArgsWithInsertOpts: one attempt, the next
// period is the retry (every step of a sweep is safe to do again).
func (RetentionArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 1}
}

// RetentionWorker is the River worker of RetentionArgs.
type RetentionWorker struct {
	river.WorkerDefaults[RetentionArgs]
	Assets *Service
}

// Work sweeps once.
func (w *RetentionWorker) Work(ctx context.Context, job *river.Job[RetentionArgs]) error {
	_, err := w.Assets.Sweep(ctx)
	return err
}

// PeriodicRetention schedules the sweep every interval.
func PeriodicRetention(interval time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return RetentionArgs{}, nil },
		&river.PeriodicJobOpts{ID: "retention_sweep", RunOnStart: true})
}

// RetentionInterval is how often the sweep runs for a retention period: a
// tenth of it, between a minute and an hour.
func RetentionInterval(retention time.Duration) time.Duration {
	return min(max(retention/10, time.Minute), time.Hour)
}

// SweepResult counts what one sweep removed.
type SweepResult struct {
	Assets int
	Runs   int
}

// sweepBatch is how many rows one listing takes.
const sweepBatch = 100

// Sweep deletes the assets created, and the output files of the runs that
// ended, longer than Retention ago: blobs first, then the rows, so a sweep
// cut short leaves rows whose blobs are gone, which the next sweep finishes
// (deleting a missing blob is no error), and never a blob nobody names.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	if s.Retention <= 0 {
		return res, nil
	}
	before := s.now().Add(-s.Retention).UnixMilli()
	for {
		list, err := s.Store.AssetListCreatedBefore(ctx, before, sweepBatch)
		if err != nil {
			return res, err
		}
		for _, a := range list {
			if err := s.Blobs.Delete(ctx, a.BlobKey); err != nil {
				return res, err
			}
			err := s.Store.InTx(ctx, func(tx store.Tx) error { return tx.AssetDelete(ctx, a.ID) })
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return res, fmt.Errorf("error deleting asset %s: %w", a.ID, err)
			}
			res.Assets++
		}
		if len(list) < sweepBatch {
			break
		}
	}
	for {
		list, err := s.Store.RunListPurgeable(ctx, before, sweepBatch)
		if err != nil {
			return res, err
		}
		at := s.now().UnixMilli()
		for _, r := range list {
			for _, key := range r.BlobKeys {
				if err := s.Blobs.Delete(ctx, key); err != nil {
					return res, err
				}
			}
			err := s.Store.InTx(ctx, func(tx store.Tx) error { return tx.RunPurgeOutputs(ctx, r.RunID, at) })
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return res, fmt.Errorf("error purging outputs of run %s: %w", r.RunID, err)
			}
			res.Runs++
		}
		if len(list) < sweepBatch {
			break
		}
	}
	return res, nil
}
