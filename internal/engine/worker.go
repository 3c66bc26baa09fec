package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"

	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/technique"
)

// RunTimeoutDefault is how long a run may take from creation to its end.
const RunTimeoutDefault = 30 * time.Minute

// HeartbeatIntervalDefault is how often a worker says it is still
// executing a run.
const HeartbeatIntervalDefault = 5 * time.Second

// RunWorker is the River worker of run.ExecuteArgs. TDriver is the River
// driver in use, needed to complete the job inside our own transaction.
type RunWorker[TDriver riverdriver.Driver[*sql.Tx]] struct {
	river.WorkerDefaults[run.ExecuteArgs]
	Engine     *Engine
	Techniques *technique.Library
	// RunTimeout is the deadline of a run, counted from its creation.
	// Defaults to RunTimeoutDefault.
	RunTimeout time.Duration
	// HeartbeatInterval is how often the run's heartbeat is written while
	// it executes. Defaults to HeartbeatIntervalDefault.
	HeartbeatInterval time.Duration
}

// errRunEnded cancels a run's execution when the run was ended elsewhere
// (canceled through the API).
var errRunEnded = errors.New("run ended while executing")

// CancelPollInterval is how often an executing run checks whether it was
// canceled; cancellation may come from any API process, so it is read
// from the database.
const CancelPollInterval = 500 * time.Millisecond

// heartbeat writes the run's heartbeat now and then every interval until
// the returned function is called. Other workers rescue a run whose
// heartbeat stops, which happens only when this process dies. Between
// beats it watches for the run having ended elsewhere and calls ended.
func (w *RunWorker[TDriver]) heartbeat(ctx context.Context, runID string, jobID int64, ended func()) (stop func()) {
	e := w.Engine
	interval := w.HeartbeatInterval
	if interval <= 0 {
		interval = HeartbeatIntervalDefault
	}
	lastBeat := e.cfg.Now()
	beat := func() {
		if err := e.cfg.Store.RunHeartbeat(ctx, runID, jobID, e.cfg.Now().UnixMilli()); err != nil && ctx.Err() == nil {
			e.cfg.Logger.Warn("error writing run heartbeat", "run_id", runID, "error", err)
		}
	}
	beat()
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(min(interval, CancelPollInterval))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if r, err := e.cfg.Store.RunGetByID(ctx, runID); err == nil && r.Finished() {
				ended()
				return
			}
			if e.cfg.Now().Sub(lastBeat) >= interval {
				lastBeat = e.cfg.Now()
				beat()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func (w *RunWorker[TDriver]) runTimeout() time.Duration {
	if w.RunTimeout > 0 {
		return w.RunTimeout
	}
	return RunTimeoutDefault
}

// Timeout lets River's own timeout fall back to the run's deadline, which
// Work enforces itself.
func (w *RunWorker[TDriver]) Timeout(*river.Job[run.ExecuteArgs]) time.Duration {
	return w.runTimeout() + time.Minute
}

// NextRetry retries transient failures quickly at first: a run is
// interactive, and its deadline bounds the total anyway.
func (w *RunWorker[TDriver]) NextRetry(job *river.Job[run.ExecuteArgs]) time.Time {
	backoff := time.Duration(1<<min(job.Attempt, 8)) * time.Second
	return time.Now().Add(backoff)
}

// Work executes the run once. A run already ended (a duplicate delivery or
// a retry after the end committed) is left alone. A transient failure is
// returned to River to retry, unless attempts or time ran out; every other
// ending commits with the job's completion in one transaction.
func (w *RunWorker[TDriver]) Work(ctx context.Context, job *river.Job[run.ExecuteArgs]) error {
	e := w.Engine
	r, err := e.cfg.Store.RunGetByID(ctx, job.Args.RunID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("run %s does not exist", job.Args.RunID))
	}
	if err != nil {
		return err
	}
	if r.Finished() {
		return nil
	}
	deadline := time.UnixMilli(r.CreatedAt).Add(w.runTimeout())
	if !e.cfg.Now().Before(deadline) {
		return w.finish(ctx, job, r, run.Outcome{Status: store.RunFailed, ErrorCode: processor.CodeRunTimeout,
			ErrorMessage: fmt.Sprintf("The run did not finish within %s.", w.runTimeout())})
	}

	// The exact version the run started with, whatever was applied since.
	t, err := w.Techniques.Version(ctx, r.WorkspaceID, r.TechniqueSlug, r.TechniqueVersion)
	if errors.Is(err, store.ErrNotFound) {
		return w.finish(ctx, job, r, run.Outcome{Status: store.RunFailed, ErrorCode: processor.CodeInternalError,
			ErrorMessage: "The run's technique version is no longer available."})
	}
	if err != nil {
		return err
	}

	if r.Status == store.RunPending {
		err := e.cfg.Store.InTx(ctx, func(tx store.Tx) error {
			var err error
			r, err = tx.RunStart(ctx, r.ID, e.cfg.Now().UnixMilli())
			return err
		})
		if errors.Is(err, store.ErrRunFinished) {
			return nil
		}
		if err != nil {
			return err
		}
	}

	runCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	runCtx, cancelRun := context.WithCancelCause(runCtx)
	defer cancelRun(nil)
	stopBeat := w.heartbeat(runCtx, r.ID, job.ID, func() { cancelRun(errRunEnded) })
	outputs, err := e.Execute(runCtx, r, t)
	stopBeat()
	if errors.Is(context.Cause(runCtx), errRunEnded) || errors.Is(err, store.ErrRunFinished) {
		// Canceled through the API: the run already ended, refunded, with
		// its events; the running step was stopped, or finished before this
		// worker noticed and had its result refused. Only the job remains.
		return nil
	}
	if err == nil {
		return w.finish(ctx, job, r, run.Outcome{Status: store.RunCompleted, Outputs: outputs})
	}
	if errors.Is(runCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		return w.finish(ctx, job, r, run.Outcome{Status: store.RunFailed, ErrorCode: processor.CodeRunTimeout,
			ErrorMessage: fmt.Sprintf("The run did not finish within %s.", w.runTimeout())})
	}
	if ctx.Err() != nil {
		// Shutting down or River's timeout: leave the run as it is; the job
		// is retried and resumes after its last recorded step.
		return ctx.Err()
	}
	pe := processor.AsError(err)
	if pe.Transient && job.Attempt < job.MaxAttempts {
		e.cfg.Logger.Warn("run step failed, will retry", "run_id", r.ID, "attempt", job.Attempt, "error", err)
		return err
	}
	e.cfg.Logger.Info("run failed", "run_id", r.ID, "error_code", pe.Code, "error", err)
	return w.finish(ctx, job, r, run.Outcome{Status: store.RunFailed, ErrorCode: pe.Code, ErrorMessage: pe.Message})
}

func (w *RunWorker[TDriver]) finish(ctx context.Context, job *river.Job[run.ExecuteArgs], r *store.Run, o run.Outcome) error {
	e := w.Engine
	err := e.cfg.Store.InTx(ctx, func(tx store.Tx) error {
		// The client working this job also enqueues the run's webhook.
		jobs := river.ClientFromContext[*sql.Tx](ctx)
		if _, err := run.FinishTx(ctx, tx, jobs, r, o, e.cfg.Now().UnixMilli()); err != nil {
			return err
		}
		_, err := river.JobCompleteTx[TDriver](ctx, tx.SQLTx(), job)
		return err
	})
	if errors.Is(err, store.ErrRunFinished) {
		return nil
	}
	return err
}
