package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/florad/florad/internal/store"
)

// OverdueGraceDefault is how long past its next attempt a pending delivery
// may wait before the reconciler looks at its job: River runs a retry close
// to the time it was scheduled, unless the queue is busy.
const OverdueGraceDefault = time.Minute

// reconcileBatch bounds the deliveries one reconciliation looks at.
const reconcileBatch = 500

// Reconcile finds pending deliveries whose River job is gone, discarded or
// cancelled (an attempt's record failed on the job's last try, say), and
// settles each: one with attempts left gets a fresh job, inserted through
// River in the transaction that records it as the delivery's; one whose
// attempts ran out fails. Deliveries whose job is queued or running are
// River's. It returns how many it settled.
func (s *Service) Reconcile(ctx context.Context) (int, error) {
	now := s.now()
	ds, err := s.Store.WebhookDeliveryListOverdue(ctx, now.Add(-OverdueGraceDefault).UnixMilli(), reconcileBatch)
	if err != nil || len(ds) == 0 {
		return 0, err
	}
	ids := make([]int64, 0, len(ds))
	for _, d := range ds {
		if d.JobID != 0 {
			ids = append(ids, d.JobID)
		}
	}
	alive := map[int64]bool{}
	if len(ids) > 0 {
		res, err := s.Jobs.JobList(ctx, river.NewJobListParams().IDs(ids...).First(len(ids)))
		if err != nil {
			return 0, fmt.Errorf("error reading webhook jobs: %w", err)
		}
		for _, j := range res.Jobs {
			switch j.State {
			case rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRetryable,
				rivertype.JobStatePending, rivertype.JobStateRunning:
				alive[j.ID] = true
			}
		}
	}
	settled := 0
	var errs []error
	for _, d := range ds {
		if alive[d.JobID] {
			continue
		}
		ok, err := s.settle(ctx, d, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("error reconciling webhook delivery %s: %w", d.ID, err))
			continue
		}
		if ok {
			settled++
		}
	}
	return settled, errors.Join(errs...)
}

// settle fails the delivery or gives it a fresh job, unless it changed since
// it was listed, and says whether it did: a delivery settled meanwhile (by
// a redelivery, an attempt, another process's reconciler) is not counted.
func (s *Service) settle(ctx context.Context, seen *store.WebhookDelivery, now time.Time) (bool, error) {
	settled := false
	err := s.Store.InTx(ctx, func(tx store.Tx) error {
		settled = false
		d, err := tx.WebhookDeliveryGetByID(ctx, seen.ID)
		if err != nil {
			return err
		}
		if d.State != store.WebhookPending || d.JobID != seen.JobID {
			return nil
		}
		at := now.UnixMilli()
		up := &store.WebhookDeliveryUpdateParams{ID: d.ID, State: store.WebhookFailed, JobID: d.JobID, CompletedAt: &at}
		if d.AttemptCount < MaxAttemptsDefault {
			// The fresh job has what is left of the delivery's attempts.
			res, err := s.Jobs.InsertTx(ctx, tx.SQLTx(), DeliverArgs{DeliveryID: d.ID},
				&river.InsertOpts{MaxAttempts: MaxAttemptsDefault - d.AttemptCount})
			if err != nil {
				return fmt.Errorf("error enqueueing webhook job: %w", err)
			}
			up = &store.WebhookDeliveryUpdateParams{ID: d.ID, State: store.WebhookPending, JobID: res.Job.ID, NextAttemptAt: &at}
		}
		if _, err = tx.WebhookDeliveryUpdate(ctx, up); err != nil {
			return err
		}
		settled = true
		return nil
	})
	return settled && err == nil, err
}
