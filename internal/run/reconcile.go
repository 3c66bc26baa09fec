package run

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/store"
)

// QueueMaintenance is the River queue of the reconciler, apart from runs so
// that a full runs queue never delays it.
const QueueMaintenance = "maintenance"

// ReconcileArgs is the periodic River job that settles what dead jobs left
// open: runs (see Service.Reconcile) and webhook deliveries.
type ReconcileArgs struct{}

// Kind implements river.JobArgs.
func (ReconcileArgs) Kind() string { return "reconcile" }

// InsertOpts implements river.JobArgsWithInsertOpts: one attempt (the next
// period is the retry).
func (ReconcileArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 1}
}

// Reconciler settles one kind of record left open by a job that died.
type Reconciler interface {
	Reconcile(ctx context.Context) (int, error)
}

// ReconcileWorker is the River worker of ReconcileArgs.
type ReconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	Runs *Service
	// Others are reconciled after runs (webhook deliveries).
	Others []Reconciler
}

// Work reconciles runs, then the others; an error in one does not keep the
// others from their turn.
func (w *ReconcileWorker) Work(ctx context.Context, _ *river.Job[ReconcileArgs]) error {
	res, err := w.Runs.Reconcile(ctx, ReconcileParams{})
	if res != nil && (res.Rescued+res.Settled) > 0 {
		w.Runs.logger().Warn("reconciled runs left by dead jobs", "rescued", res.Rescued, "settled", res.Settled,
			"renewed", res.Renewed)
	}
	errs := []error{err}
	for _, o := range w.Others {
		_, err := o.Reconcile(ctx)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// PeriodicReconcile is the River periodic job that runs the reconciler every
// interval (and once when a leader starts).
func PeriodicReconcile(interval time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return ReconcileArgs{}, nil },
		&river.PeriodicJobOpts{ID: "reconcile", RunOnStart: true})
}

// ReconcileParams widens one reconciliation.
type ReconcileParams struct {
	// DeadBefore, when set, declares every job that River handed out before
	// it dead: the embedded shape, whose only process just started, passes
	// its start time, so that runs of the process that died resume at once
	// rather than when their leases end.
	DeadBefore time.Time
	// Horizon also takes runs whose lease ends within it (with DeadBefore).
	Horizon time.Duration
}

// ReconcileResult counts what one reconciliation did.
type ReconcileResult struct {
	// Rescued runs were handed to a fresh job (their job had died).
	Rescued int
	// Settled runs were ended: past their deadline, or their job gave up.
	Settled int
	// Renewed runs were found waiting in the queue, alive, and looked at
	// again one lease later.
	Renewed int
}

// reconcileBatch bounds the runs one reconciliation looks at; the rest wait
// for the next period, the longest expired first.
const reconcileBatch = 500

// Reconcile looks at every open run whose lease ran out (its owner stopped
// renewing it) and at its River job, through River's API:
//   - job queued (available, scheduled, retryable): alive; the lease is
//     renewed, or the run settled as timed out if its deadline passed;
//   - job running, handed out less than a lease ago: about to start it;
//     left alone;
//   - job running for longer, completed, or gone: its process died; the run
//     is handed to a fresh job (inserted through River, its id recorded on
//     the run as the new owner, in one transaction), or settled as timed
//     out past its deadline;
//   - job discarded or cancelled: it gave up; the run ends failed with
//     internal_error (run_timeout past its deadline) and is refunded.
//
// Two reconcilers racing hand a run over once: the owner change is guarded
// by the old owner.
func (s *Service) Reconcile(ctx context.Context, p ReconcileParams) (*ReconcileResult, error) {
	now := s.now()
	runs, err := s.Store.RunListLeaseExpired(ctx, now.Add(p.Horizon).UnixMilli(), reconcileBatch)
	if err != nil || len(runs) == 0 {
		return &ReconcileResult{}, err
	}
	jobs, err := s.jobsByID(ctx, runs)
	if err != nil {
		return &ReconcileResult{}, err
	}
	deadBefore := now.Add(-s.lease())
	if p.DeadBefore.After(deadBefore) {
		deadBefore = p.DeadBefore
	}
	res := &ReconcileResult{}
	var errs []error
	for _, r := range runs {
		job := jobs[r.JobID]
		past := !now.Before(s.deadline(r))
		var err error
		switch judge(job, deadBefore) {
		case jobActive:
			continue
		case jobQueued:
			if !past {
				err = s.renewLease(ctx, r.ID, r.JobID, now)
				if err == nil {
					res.Renewed++
				}
				break
			}
			err = s.settle(ctx, r, timeoutOutcome(s.Timeout()), res)
		case jobDead:
			if !past {
				err = s.rescue(ctx, r, res)
				break
			}
			err = s.settle(ctx, r, timeoutOutcome(s.Timeout()), res)
		case jobGaveUp:
			o := Outcome{Status: store.RunFailed, ErrorCode: processor.CodeInternalError,
				ErrorMessage: "The run could not be executed."}
			if past {
				o = timeoutOutcome(s.Timeout())
			}
			err = s.settle(ctx, r, o, res)
		}
		if err != nil && !errors.Is(err, store.ErrNotOwner) && !errors.Is(err, store.ErrRunFinished) {
			errs = append(errs, fmt.Errorf("error reconciling run %s: %w", r.ID, err))
		}
	}
	return res, errors.Join(errs...)
}

type jobVerdict int

const (
	jobActive jobVerdict = iota
	jobQueued
	jobDead
	jobGaveUp
)

// judge tells what a run's job is doing; job is nil when River has no
// such job (anymore).
func judge(job *rivertype.JobRow, deadBefore time.Time) jobVerdict {
	if job == nil {
		return jobDead
	}
	switch job.State {
	case rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRetryable,
		rivertype.JobStatePending:
		return jobQueued
	case rivertype.JobStateRunning:
		if job.AttemptedAt != nil && !job.AttemptedAt.Before(deadBefore) {
			return jobActive
		}
		return jobDead
	case rivertype.JobStateDiscarded, rivertype.JobStateCancelled:
		return jobGaveUp
	}
	return jobDead // completed, yet the run is open
}

func (s *Service) jobsByID(ctx context.Context, runs []*store.Run) (map[int64]*rivertype.JobRow, error) {
	ids := make([]int64, 0, len(runs))
	for _, r := range runs {
		if r.JobID != 0 {
			ids = append(ids, r.JobID)
		}
	}
	out := make(map[int64]*rivertype.JobRow, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	res, err := s.Jobs.JobList(ctx, river.NewJobListParams().IDs(ids...).First(len(ids)))
	if err != nil {
		return nil, fmt.Errorf("error reading run jobs: %w", err)
	}
	for _, j := range res.Jobs {
		out[j.ID] = j
	}
	return out, nil
}

// rescue hands the run to a fresh job, which resumes it after its last
// recorded step.
func (s *Service) rescue(ctx context.Context, r *store.Run, res *ReconcileResult) error {
	now := s.now()
	err := s.Store.InTx(ctx, func(tx store.Tx) error {
		job, err := s.Jobs.InsertTx(ctx, tx.SQLTx(), ExecuteArgs{RunID: r.ID}, s.jobOpts())
		if err != nil {
			return fmt.Errorf("error enqueueing rescued run: %w", err)
		}
		return tx.RunSetOwner(ctx, &store.RunOwnerParams{RunID: r.ID, FromJobID: r.JobID, ToJobID: job.Job.ID,
			LeaseUntil: now.Add(s.lease()).UnixMilli()})
	})
	if err == nil {
		res.Rescued++
		s.logger().Warn("rescued run whose job died", "run_id", r.ID, "dead_job_id", r.JobID)
	}
	return err
}

func (s *Service) settle(ctx context.Context, r *store.Run, o Outcome, res *ReconcileResult) error {
	done, err := s.finish(ctx, r.ID, 0, o, nil)
	if err == nil && done.ErrorCode == o.ErrorCode && done.Status == o.Status {
		res.Settled++
		s.logger().Warn("settled run left open by its job", "run_id", r.ID, "job_id", r.JobID, "error_code", o.ErrorCode)
	}
	return err
}
