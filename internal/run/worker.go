package run

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/florad/florad/internal/engine"
	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/technique"
)

// Executor runs a run's steps, recording each through rec, and returns the
// technique's outputs (*engine.Engine).
type Executor interface {
	Execute(ctx context.Context, r *store.Run, t *technique.Technique, rec engine.Recorder) ([]store.RunOutput, error)
}

// HeartbeatIntervalDefault is how often a worker renews the lease of a run
// it executes; a sixth of LeaseDefault.
const HeartbeatIntervalDefault = LeaseDefault / 6

// WatchInterval is how often an executing run checks that it is still
// open and still its job's: a cancel or a rescue may come from any
// process, so it is read from the database.
const WatchInterval = 500 * time.Millisecond

// Worker is the River worker of ExecuteArgs: the job that owns a run starts
// it, has its steps executed, and ends it. TDriver is the River driver in
// use, needed to complete the job inside our own transaction.
type Worker[TDriver riverdriver.Driver[*sql.Tx]] struct {
	river.WorkerDefaults[ExecuteArgs]
	Runs     *Service
	Executor Executor
	// HeartbeatInterval is how often the lease is renewed while the run
	// executes. Defaults to a sixth of the service's Lease.
	HeartbeatInterval time.Duration
}

// Reasons an execution stops early.
var (
	errRunEnded = errors.New("run ended while executing")
	errNotOwner = errors.New("run handed to another job while executing")
)

// Timeout lets River's own timeout fall back to the run's deadline, which
// Work enforces itself.
func (w *Worker[TDriver]) Timeout(*river.Job[ExecuteArgs]) time.Duration {
	return w.Runs.Timeout() + time.Minute
}

// NextRetry retries transient failures quickly at first: a run is
// interactive, and its deadline bounds the total anyway.
func (w *Worker[TDriver]) NextRetry(job *river.Job[ExecuteArgs]) time.Time {
	backoff := time.Duration(1<<min(job.Attempt, 8)) * time.Second
	return time.Now().Add(backoff)
}

// Work executes the run once. Whatever goes wrong on the job's last
// attempt, the run does not stay open with its credits reserved: it ends
// failed with internal_error and is refunded, and if even that cannot be
// written, the reconciler settles it once River has discarded the job.
func (w *Worker[TDriver]) Work(ctx context.Context, job *river.Job[ExecuteArgs]) error {
	err := w.work(ctx, job)
	if err == nil || ctx.Err() != nil || isJobControl(err) || job.Attempt < job.MaxAttempts {
		return err
	}
	log := w.Runs.logger().With("run_id", job.Args.RunID, "job_id", job.ID, "attempt", job.Attempt)
	log.Error("run job failed on its last attempt", "error", err)
	if _, ferr := w.finish(ctx, job, Outcome{Status: store.RunFailed, ErrorCode: processor.CodeInternalError,
		ErrorMessage: "The run could not be executed."}); ferr != nil {
		log.Error("error failing the run after its last attempt; the reconciler will settle it", "error", ferr)
		return errors.Join(err, ferr)
	}
	return nil
}

func isJobControl(err error) bool {
	var cancel *rivertype.JobCancelError
	var snooze *rivertype.JobSnoozeError
	return errors.As(err, &cancel) || errors.As(err, &snooze)
}

func (w *Worker[TDriver]) work(ctx context.Context, job *river.Job[ExecuteArgs]) error {
	s := w.Runs
	r, err := s.Store.RunGetByID(ctx, job.Args.RunID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("run %s does not exist", job.Args.RunID))
	}
	if err != nil {
		return err
	}
	if r.Finished() || r.JobID != job.ID {
		// Ended, or handed to another job by the reconciler: nothing of
		// this job's to do.
		return nil
	}
	if !s.now().Before(s.deadline(r)) {
		return w.timedOut(ctx, job)
	}

	// The exact version the run started with, whatever was applied since.
	t, err := s.Techniques.Version(ctx, r.WorkspaceID, r.TechniqueSlug, r.TechniqueVersion)
	if errors.Is(err, store.ErrNotFound) {
		_, err = w.finish(ctx, job, Outcome{Status: store.RunFailed, ErrorCode: processor.CodeInternalError,
			ErrorMessage: "The run's technique version is no longer available."})
		return err
	}
	if err != nil {
		return err
	}

	r, fresh, err := s.Start(ctx, r.ID, job.ID)
	if err != nil {
		if errors.Is(err, store.ErrRunFinished) || errors.Is(err, store.ErrNotOwner) {
			return nil
		}
		return err
	}
	rec := s.Recorder(r.ID, job.ID)
	if fresh {
		rec = s.freshRecorder(r.ID, job.ID)
	}

	runCtx, cancel := context.WithDeadline(ctx, s.deadline(r))
	defer cancel()
	runCtx, cancelRun := context.WithCancelCause(runCtx)
	defer cancelRun(nil)
	stopWatch := w.watch(runCtx, r.ID, job.ID, cancelRun)
	outputs, err := w.Executor.Execute(runCtx, r, t, rec)
	stopWatch()
	cause := context.Cause(runCtx)
	switch {
	case errors.Is(cause, errRunEnded), errors.Is(cause, errNotOwner),
		errors.Is(err, store.ErrRunFinished), errors.Is(err, store.ErrNotOwner):
		// Canceled through the API (the run already ended, refunded, with
		// its events), or handed to another job: the running step was
		// stopped, or finished and had its record refused. Only this job
		// remains, and it is done.
		return nil
	case err == nil:
		_, err = w.finish(ctx, job, Outcome{Status: store.RunCompleted, Outputs: outputs})
		return err
	case errors.As(err, new(*engine.Waiting)) && ctx.Err() == nil:
		return w.wait(ctx, job, r, err.(*engine.Waiting))
	case errors.Is(runCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		return w.timedOut(ctx, job)
	case ctx.Err() != nil:
		// Shutting down (or River's own timeout): the run stays as it is,
		// and the job is run again at once by the next worker to start,
		// without using an attempt; it resumes after its last recorded
		// step.
		return river.JobSnooze(0)
	}
	pe := processor.AsError(err)
	if pe.Transient && job.Attempt < job.MaxAttempts {
		s.logger().Warn("run step failed, will retry", "run_id", r.ID, "attempt", job.Attempt, "error", err)
		return err
	}
	s.logger().Info("run failed", "run_id", r.ID, "error_code", pe.Code, "error", err)
	_, err = w.finish(ctx, job, Outcome{Status: store.RunFailed, ErrorCode: pe.Code, ErrorMessage: pe.Message})
	return err
}

// wait lets go of the worker while the run's steps wait on providers: the
// run's lease is pushed past the wake-up (so that the reconciler leaves it
// alone), and the job snoozes, not using an attempt. The run's deadline
// still applies: the job never sleeps past it.
func (w *Worker[TDriver]) wait(ctx context.Context, job *river.Job[ExecuteArgs], r *store.Run, wt *engine.Waiting) error {
	s := w.Runs
	after := wt.After
	if left := s.deadline(r).Sub(s.now()); left < after {
		after = max(left, 0)
	}
	// Grouped: thousands of waiting runs snooze all the time, and their
	// lease renewals share commits.
	until := s.now().Add(after + s.lease()).UnixMilli()
	err := s.Store.InTxGrouped(ctx, func(tx store.Tx) error {
		return tx.RunRenewLease(ctx, &store.RunLeaseParams{RunID: job.Args.RunID, JobID: job.ID, LeaseUntil: until})
	})
	switch {
	case errors.Is(err, store.ErrRunFinished), errors.Is(err, store.ErrNotOwner):
		return nil
	case err != nil:
		return err
	}
	return river.JobSnooze(after)
}

func (w *Worker[TDriver]) timedOut(ctx context.Context, job *river.Job[ExecuteArgs]) error {
	_, err := w.finish(ctx, job, timeoutOutcome(w.Runs.Timeout()))
	return err
}

func timeoutOutcome(d time.Duration) Outcome {
	return Outcome{Status: store.RunFailed, ErrorCode: processor.CodeRunTimeout,
		ErrorMessage: fmt.Sprintf("The run did not finish within %s.", d)}
}

// finish ends the run for its owning job and completes the job in the same
// transaction. A run that ended meanwhile, or that another job owns now, is
// left as it is.
func (w *Worker[TDriver]) finish(ctx context.Context, job *river.Job[ExecuteArgs], o Outcome) (*store.Run, error) {
	r, err := w.Runs.finish(ctx, job.Args.RunID, job.ID, o, func(tx store.Tx) error {
		_, err := river.JobCompleteTx[TDriver](ctx, tx.SQLTx(), job)
		return err
	})
	if errors.Is(err, store.ErrNotOwner) {
		return nil, nil
	}
	return r, err
}

// watch renews the run's lease every heartbeat interval and, between
// beats, checks that the run is still open and still this job's; when it is
// not, it cancels the execution with the reason. The returned function
// stops it.
func (w *Worker[TDriver]) watch(ctx context.Context, runID string, jobID int64, cancel context.CancelCauseFunc) (stop func()) {
	s := w.Runs
	interval := w.HeartbeatInterval
	if interval <= 0 {
		interval = s.lease() / 6
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(min(interval, WatchInterval))
		defer t.Stop()
		lastBeat := s.now()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			var err error
			if s.now().Sub(lastBeat) >= interval {
				lastBeat = s.now()
				err = s.Heartbeat(ctx, runID, jobID)
			} else {
				var st *store.RunState
				if st, err = s.State(ctx, runID); err == nil {
					switch {
					case st.Finished():
						err = store.ErrRunFinished
					case st.JobID != jobID:
						err = store.ErrNotOwner
					}
				}
			}
			switch {
			case errors.Is(err, store.ErrRunFinished):
				cancel(errRunEnded)
				return
			case errors.Is(err, store.ErrNotOwner):
				s.logger().Warn("run handed to another job; stopping this one", "run_id", runID, "job_id", jobID)
				cancel(errNotOwner)
				return
			case err != nil && ctx.Err() == nil:
				s.logger().Warn("error watching executing run", "run_id", runID, "error", err)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// Recorder is what the engine records an execution of the run through, on
// behalf of jobID, the job that owns it.
func (s *Service) Recorder(runID string, jobID int64) engine.Recorder {
	return &recorder{s: s, runID: runID, jobID: jobID}
}

// freshRecorder is the recorder of an execution that has just started the
// run from pending: such a run has no step and no provider call recorded
// yet, so the execution's first reading of each is answered without asking
// the store (two reads less for every run).
func (s *Service) freshRecorder(runID string, jobID int64) engine.Recorder {
	x := &recorder{s: s, runID: runID, jobID: jobID}
	x.freshSteps.Store(true)
	x.freshCalls.Store(true)
	return x
}

type recorder struct {
	s     *Service
	runID string
	jobID int64
	// freshSteps and freshCalls: the next reading of steps, of calls, is
	// known to be empty.
	freshSteps, freshCalls atomic.Bool
}

var _ engine.Recorder = (*recorder)(nil)

func (x *recorder) StepsDone(ctx context.Context) ([]*store.RunStep, error) {
	if x.freshSteps.Swap(false) {
		return nil, nil
	}
	return x.s.StepsDone(ctx, x.runID)
}

func (x *recorder) StepDone(ctx context.Context, step *store.RunStep, progress int, outputs []store.RunOutput) error {
	step.RunID = x.runID
	return x.s.RecordStep(ctx, x.jobID, step, progress, outputs)
}

func (x *recorder) Progress(ctx context.Context, progress int) error {
	return x.s.Progress(ctx, x.runID, progress)
}
