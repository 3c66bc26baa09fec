package run

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/florad/florad/internal/engine"
	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/store"
)

// Provider requests of a run's steps (internal/engine's asynchronous
// steps): recorded through the run's recorder, and canceled at the provider
// when the run ends with requests still in flight (canceled through the
// API, timed out, or failed in another step).

// CallCanceler stops a request at its provider (fal cancel, Replicate
// cancel, ComfyUI interrupt).
type CallCanceler interface {
	Cancel(ctx context.Context, handle string) error
}

// CancelCallsArgs is the River job that cancels the provider requests a run
// left in flight when it ended. It is inserted in the transaction that ends
// the run.
type CancelCallsArgs struct {
	RunID string `json:"run_id"`
}

// Kind implements river.JobArgs.
func (CancelCallsArgs) Kind() string { return "run_cancel_calls" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (CancelCallsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 10}
}

// submitGrace is how long a request being submitted when its run ended is
// left to its submitter, which records it (and cancels it itself, the run
// being over) within the engine's submit timeout.
const submitGrace = engine.SubmitTimeoutDefault + 30*time.Second

func (s *Service) cancelCallsTx(ctx context.Context, tx store.Tx, runID string) error {
	calls, err := tx.StepCallList(ctx, runID)
	if err != nil || len(calls) == 0 {
		return err
	}
	if _, err := s.Jobs.InsertTx(ctx, tx.SQLTx(), CancelCallsArgs{RunID: runID}, nil); err != nil {
		return fmt.Errorf("error enqueueing the cancel of run %s's provider requests: %w", runID, err)
	}
	return nil
}

// CancelCallsWorker is the River worker of CancelCallsArgs.
type CancelCallsWorker struct {
	river.WorkerDefaults[CancelCallsArgs]
	Runs *Service
	// Providers cancel requests by provider name.
	Providers map[string]CallCanceler
}

// Work cancels every submitted request of the run and forgets it; a request
// still being submitted is looked at again once its submitter had time to
// record it.
func (w *CancelCallsWorker) Work(ctx context.Context, job *river.Job[CancelCallsArgs]) error {
	s := w.Runs
	calls, err := s.Store.StepCallList(ctx, job.Args.RunID)
	if err != nil {
		return err
	}
	var wait time.Duration
	var errs []error
	for _, c := range calls {
		if c.State == store.CallSubmitting {
			if age := s.now().Sub(time.UnixMilli(c.UpdatedAt)); age < submitGrace {
				wait = max(wait, submitGrace-age)
				continue
			}
		} else if p := w.Providers[c.Provider]; p != nil {
			if err := p.Cancel(ctx, c.Handle); err != nil {
				errs = append(errs, fmt.Errorf("error canceling %s request of step %s: %w", c.Provider, c.StepID, err))
				continue
			}
			s.logger().Info("provider request canceled", "run_id", c.RunID, "step", c.StepID, "provider", c.Provider)
		}
		if err := s.Store.InTx(ctx, func(tx store.Tx) error { return tx.StepCallDelete(ctx, c.RunID, c.StepID) }); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if wait > 0 {
		return river.JobSnooze(wait)
	}
	return nil
}

// WakeCall is a provider's word (its webhook) that a request changed: the
// run waiting on it is executed now instead of at its next poll. A request
// florad does not know (finished, canceled, never sent by this deployment)
// is not an error: providers retry webhooks, and late ones are normal.
func (s *Service) WakeCall(ctx context.Context, provider, requestID string) error {
	c, err := s.Store.StepCallByRequest(ctx, provider, requestID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	st, err := s.Store.RunStateGet(ctx, c.RunID)
	if err != nil || st.Finished() || st.JobID == 0 {
		return err
	}
	return s.wake(ctx, c.RunID, st.JobID, 0)
}

// wakeAttempts bounds how often a wake is tried again while the run's job
// is running.
const wakeAttempts = 10

// wake makes the run's snoozed job available now. River leaves a running
// job as it is, and one that is running may have polled just before the
// provider finished and be about to snooze for a long while: then a
// WakeArgs job tries again a moment later.
func (s *Service) wake(ctx context.Context, runID string, jobID int64, attempt int) error {
	row, err := s.Jobs.JobRetry(ctx, jobID)
	if errors.Is(err, river.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("error waking the job of run %s: %w", runID, err)
	}
	if row.State != rivertype.JobStateRunning || attempt >= wakeAttempts {
		return nil
	}
	return s.Store.InTx(ctx, func(tx store.Tx) error {
		_, err := s.Jobs.InsertTx(ctx, tx.SQLTx(), WakeArgs{RunID: runID, JobID: jobID, Attempt: attempt + 1},
			&river.InsertOpts{ScheduledAt: s.now().Add(500 * time.Millisecond)})
		return err
	})
}

// WakeArgs is the River job that wakes a run's job once it is no longer
// running (see Service.wake).
type WakeArgs struct {
	RunID   string `json:"run_id"`
	JobID   int64  `json:"job_id"`
	Attempt int    `json:"attempt"`
}

// Kind implements river.JobArgs.
func (WakeArgs) Kind() string { return "run_wake" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (WakeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 3}
}

// WakeWorker is the River worker of WakeArgs.
type WakeWorker struct {
	river.WorkerDefaults[WakeArgs]
	Runs *Service
}

// Work tries the wake again, unless the run ended or changed hands.
func (w *WakeWorker) Work(ctx context.Context, job *river.Job[WakeArgs]) error {
	st, err := w.Runs.Store.RunStateGet(ctx, job.Args.RunID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Finished() || st.JobID != job.Args.JobID {
		return nil
	}
	return w.Runs.wake(ctx, job.Args.RunID, job.Args.JobID, job.Args.Attempt)
}

func (x *recorder) Calls(ctx context.Context) ([]*store.StepCall, error) {
	if x.freshCalls.Swap(false) {
		return nil, nil
	}
	return x.s.Store.StepCallList(ctx, x.runID)
}

func (x *recorder) CallBegin(ctx context.Context, stepID, provider string, limit int) error {
	now := x.s.now()
	return x.s.Store.InTx(ctx, func(tx store.Tx) error {
		if err := tx.RunRenewLease(ctx, &store.RunLeaseParams{RunID: x.runID, JobID: x.jobID,
			LeaseUntil: now.Add(x.s.lease()).UnixMilli()}); err != nil {
			return err
		}
		return tx.StepCallBegin(ctx, &store.StepCallBeginParams{RunID: x.runID, StepID: stepID, Provider: provider,
			Limit: limit, At: now.UnixMilli()})
	})
}

func (x *recorder) CallSubmitted(ctx context.Context, stepID string, sub *processor.Submission) error {
	now := x.s.now()
	return x.s.Store.InTx(ctx, func(tx store.Tx) error {
		if err := tx.RunRenewLease(ctx, &store.RunLeaseParams{RunID: x.runID, JobID: x.jobID,
			LeaseUntil: now.Add(x.s.lease()).UnixMilli()}); err != nil {
			return err
		}
		return tx.StepCallSubmitted(ctx, x.runID, stepID, sub.RequestID, sub.Handle, now.UnixMilli())
	})
}

func (x *recorder) CallStatus(ctx context.Context, stepID string, st engine.CallStatus) error {
	at := x.s.now().UnixMilli()
	key := fmt.Sprintf("%s|%d|%d", st.Status, st.QueuePosition, st.Progress)
	var wrote bool
	// Grouped: the status of many waiting runs changes on every poll.
	err := x.s.Store.InTxGrouped(ctx, func(tx store.Tx) error {
		wrote = false
		changed, err := tx.StepCallSetStatus(ctx, x.runID, stepID, key, at)
		if err != nil || !changed {
			return err
		}
		if _, err := tx.RunSetProgress(ctx, x.runID, st.Progress); err != nil {
			return err
		}
		d := ProgressData{RunID: x.runID, Progress: st.Progress, StepID: stepID, ProviderStatus: st.Status}
		if st.QueuePosition >= 0 {
			d.QueuePosition = &st.QueuePosition
		}
		wrote = true
		return appendEvent(ctx, tx, x.runID, EventProgress, d, at)
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if wrote {
		x.s.notify(x.runID)
	}
	return err
}

func (x *recorder) CallEnd(ctx context.Context, stepID string) error {
	return x.s.Store.InTx(ctx, func(tx store.Tx) error { return tx.StepCallDelete(ctx, x.runID, stepID) })
}
