package run

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/webhook"
)

// Outcome is how a run ends.
type Outcome struct {
	Status       string // store.RunCompleted or store.RunFailed
	Outputs      []store.RunOutput
	ErrorCode    string
	ErrorMessage string
}

// Start moves a pending run to running on behalf of jobID, its owner, and
// renews its lease, and says whether it did: a run started now has nothing
// recorded of its steps. A running run of the same owner (a retried job)
// is returned as it is. ErrNotOwner if another job owns it now,
// ErrRunFinished if it ended.
func (s *Service) Start(ctx context.Context, runID string, jobID int64) (*store.Run, bool, error) {
	now := s.now()
	var (
		r       *store.Run
		started bool
	)
	err := s.Store.InTxGrouped(ctx, func(tx store.Tx) error {
		var err error
		r, started, err = tx.RunStart(ctx, &store.RunStartParams{RunID: runID, JobID: jobID, At: now.UnixMilli(),
			LeaseUntil: now.Add(s.lease()).UnixMilli()})
		if err != nil || !started {
			return err
		}
		return appendEvent(ctx, tx, r.ID, EventStarted, deltaOf(r), now.UnixMilli())
	})
	if err != nil {
		return nil, false, err
	}
	if started && r.StartedAt != nil {
		s.Metrics.RunStarted(r.TechniqueSlug, r.CreatedAt, *r.StartedAt)
	}
	s.notify(runID)
	return r, started, nil
}

// Heartbeat says that jobID, the run's owner, is alive and still executing
// it: the lease moves forward by Lease. ErrNotOwner or ErrRunFinished tell
// the job to stop.
func (s *Service) Heartbeat(ctx context.Context, runID string, jobID int64) error {
	return s.renewLease(ctx, runID, jobID, s.now())
}

func (s *Service) renewLease(ctx context.Context, runID string, jobID int64, from time.Time) error {
	until := from.Add(s.lease()).UnixMilli()
	return s.Store.InTxGrouped(ctx, func(tx store.Tx) error {
		return tx.RunRenewLease(ctx, &store.RunLeaseParams{RunID: runID, JobID: jobID, LeaseUntil: until})
	})
}

// State is the run's status and owner as a worker watches them.
func (s *Service) State(ctx context.Context, runID string) (*store.RunState, error) {
	return s.Store.RunStateGet(ctx, runID)
}

// StepsDone returns the steps of the run recorded so far.
func (s *Service) StepsDone(ctx context.Context, runID string) ([]*store.RunStep, error) {
	return s.Store.RunStepList(ctx, runID)
}

// RecordStep records a finished step for jobID, the run's owner, in one
// transaction with the run's new progress and the technique outputs the step
// produced (announced as run.output events), and renews the lease. A step
// recorded before (by an earlier attempt) gives store.ErrAlreadyExists;
// ErrNotOwner and ErrRunFinished refuse it.
func (s *Service) RecordStep(ctx context.Context, jobID int64, step *store.RunStep, progress int, announce []store.RunOutput) error {
	runID := step.RunID
	err := s.Store.InTxGrouped(ctx, func(tx store.Tx) error {
		if err := tx.RunRenewLease(ctx, &store.RunLeaseParams{RunID: runID, JobID: jobID,
			LeaseUntil: step.FinishedAt + s.lease().Milliseconds()}); err != nil {
			return err
		}
		if err := tx.RunStepInsert(ctx, step); err != nil {
			return err
		}
		if step.EndsCall {
			if err := tx.StepCallDelete(ctx, runID, step.StepID); err != nil {
				return err
			}
		}
		if err := setProgress(ctx, tx, runID, progress, step.FinishedAt); err != nil {
			return err
		}
		for _, o := range announce {
			if err := appendEvent(ctx, tx, runID, EventOutput, OutputData{RunID: runID, Output: o}, step.FinishedAt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("error recording step %s: %w", step.StepID, err)
	}
	s.notify(runID)
	return nil
}

// Progress raises the run's progress (never lowers it) with its event.
func (s *Service) Progress(ctx context.Context, runID string, progress int) error {
	err := s.Store.InTxGrouped(ctx, func(tx store.Tx) error {
		return setProgress(ctx, tx, runID, progress, s.now().UnixMilli())
	})
	if err != nil {
		return err
	}
	s.notify(runID)
	return nil
}

func setProgress(ctx context.Context, tx store.Tx, runID string, progress int, at int64) error {
	changed, err := tx.RunSetProgress(ctx, runID, progress)
	if err != nil || !changed {
		return err
	}
	return appendEvent(ctx, tx, runID, EventProgress, ProgressData{RunID: runID, Progress: progress}, at)
}

// finishTx ends a run inside tx: the final status and its event, and the
// money in the same transaction: a completed run's reservation becomes its
// charge, a failed run's is refunded. The ledger's unique (run, kind) index
// makes a second settlement impossible even if two processes raced to
// finish one run. When the run has a callback URL, its webhook delivery and
// the River job that sends it are inserted in the same transaction too, so
// the event goes out exactly when the end commits. jobID, when not zero,
// is the job finishing the run, which must own it. extra, when set, runs
// in tx before the money moves: the credit entry comes last because on
// PostgreSQL it locks the workspace's row until commit, and every run of
// the workspace ending meanwhile waits for that lock.
func (s *Service) finishTx(ctx context.Context, tx store.Tx, r *store.Run, jobID int64, o Outcome, extra func(tx store.Tx) error) (*store.Run, error) {
	at := s.now().UnixMilli()
	p := &store.RunFinishParams{RunID: r.ID, JobID: jobID, Status: o.Status, Outputs: o.Outputs, At: at,
		ErrorCode: o.ErrorCode, ErrorMessage: o.ErrorMessage}
	if o.Status == store.RunCompleted {
		charged := r.Credits
		p.ChargedCredits = &charged
	}
	done, err := tx.RunFinish(ctx, p)
	if err != nil {
		return done, err
	}
	typ := EventCompleted
	if done.Status == store.RunFailed {
		typ = EventFailed
	}
	if err := appendEvent(ctx, tx, done.ID, typ, deltaOf(done), at); err != nil {
		return nil, err
	}
	if done.CallbackURL != "" {
		if _, err := webhook.EnqueueTx(ctx, tx, s.Jobs, done, at); err != nil {
			return nil, err
		}
	}
	if extra != nil {
		if err := extra(tx); err != nil {
			return nil, err
		}
	}
	if err := s.cancelCallsTx(ctx, tx, done.ID); err != nil {
		return nil, err
	}
	if r.Credits == 0 {
		return done, nil
	}
	entry := &store.CreditsApplyParams{WorkspaceID: r.WorkspaceID, RunID: r.ID, Memo: r.TechniqueSlug, CreatedAt: at}
	if o.Status == store.RunCompleted {
		entry.Kind = store.LedgerCharge
	} else {
		entry.Kind, entry.Amount = store.LedgerRefund, r.Credits
	}
	if entry.Kind == store.LedgerRefund && r.KeyID != "" {
		// What the key was refunded it may spend again that day. Its row
		// is locked before the workspace's, in the order a create takes
		// them, so that a refund and a create never deadlock.
		if err := tx.KeySpendRefund(ctx, r.KeyID, store.SpendDay(r.CreatedAt), r.Credits); err != nil {
			return nil, err
		}
	}
	if _, err := tx.CreditsApply(ctx, entry); err != nil {
		return nil, fmt.Errorf("error settling credits of run %s: %w", r.ID, err)
	}
	return done, nil
}

// Finish ends a run outside any job (an operator, a test). A run that
// already ended is returned unchanged.
func (s *Service) Finish(ctx context.Context, runID string, o Outcome) (*store.Run, error) {
	return s.finish(ctx, runID, 0, o, nil)
}

// finish ends the run in a transaction of its own, with extra (completing
// the River job, say) in the same one; an ended run is returned unchanged
// and extra is not run.
func (s *Service) finish(ctx context.Context, runID string, jobID int64, o Outcome, extra func(tx store.Tx) error) (*store.Run, error) {
	var (
		out   *store.Run
		ended bool
	)
	err := s.Store.InTxGrouped(ctx, func(tx store.Tx) error {
		ended = false // a retried transaction starts over
		cur, err := tx.RunGetByID(ctx, runID)
		if err != nil {
			return err
		}
		if cur.Finished() {
			out = cur
			return nil
		}
		ended = true
		out, err = s.finishTx(ctx, tx, cur, jobID, o, extra)
		return err
	})
	if errors.Is(err, store.ErrRunFinished) {
		return s.Store.RunGetByID(ctx, runID)
	}
	if err != nil {
		return nil, err
	}
	if ended {
		s.Metrics.RunFinished(out.TechniqueSlug, out.Status, out.ErrorCode, out.Credits, out.Status == store.RunCompleted)
	}
	s.notify(runID)
	return out, nil
}
