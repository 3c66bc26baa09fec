package webhook_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/webhook"
)

// errInjected is the database failure the faulty store makes up.
var errInjected = errors.New("injected: the database refused the write")

// faults says which writes of the Deliverer fail, and counts the failures
// it made, so a test can prove the path it meant to take was taken.
type faults struct {
	attemptInsert  atomic.Bool
	deliveryUpdate atomic.Bool

	attemptInserts  atomic.Int64
	deliveryUpdates atomic.Int64
}

// faultyStore is a real store whose transactions fail the writes that
// faults names, as a database that went away between two statements would.
type faultyStore struct {
	store.Store
	f *faults
}

func (s *faultyStore) InTx(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.Store.InTx(ctx, func(tx store.Tx) error { return fn(&faultyTx{Tx: tx, f: s.f}) })
}

func (s *faultyStore) InTxGrouped(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.Store.InTxGrouped(ctx, func(tx store.Tx) error { return fn(&faultyTx{Tx: tx, f: s.f}) })
}

type faultyTx struct {
	store.Tx
	f *faults
}

func (tx *faultyTx) WebhookAttemptInsert(ctx context.Context, p *store.WebhookAttemptInsertParams) (*store.WebhookAttempt, error) {
	if tx.f.attemptInsert.Load() {
		tx.f.attemptInserts.Add(1)
		return nil, errInjected
	}
	return tx.Tx.WebhookAttemptInsert(ctx, p)
}

func (tx *faultyTx) WebhookDeliveryUpdate(ctx context.Context, p *store.WebhookDeliveryUpdateParams) (*store.WebhookDelivery, error) {
	if tx.f.deliveryUpdate.Load() {
		tx.f.deliveryUpdates.Add(1)
		return nil, errInjected
	}
	return tx.Tx.WebhookDeliveryUpdate(ctx, p)
}

// parkedJobs inserts webhook jobs through River scheduled an hour ahead, so
// a test decides what becomes of them (deleted, cancelled, left queued)
// before any worker sees them.
type parkedJobs struct{ river *river.Client[*sql.Tx] }

func (p parkedJobs) InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, _ *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return p.river.InsertTx(ctx, tx, args, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
}

// eachBackend runs test on SQLite and on PostgreSQL, in parallel.
func eachBackend(t *testing.T, test func(t *testing.T, postgres bool)) {
	t.Helper()
	for _, backend := range []struct {
		name     string
		postgres bool
	}{{"SQLite", false}, {"PostgreSQL", true}} {
		t.Run(backend.name, func(t *testing.T) {
			t.Parallel()
			test(t, backend.postgres)
		})
	}
}

// fixedClock is a Service clock stopped at at.
func fixedClock(at time.Time) func() time.Time { return func() time.Time { return at } }

func unixMilli(at time.Time) *int64 {
	ms := at.UnixMilli()
	return &ms
}

// pastGrace is a moment at which every delivery created so far is overdue.
func pastGrace() time.Time { return time.Now().Add(webhook.OverdueGraceDefault + time.Minute) }

// recordAttempts records n failed attempts of the delivery, as earlier
// jobs would have.
func (b *testBundle) recordAttempts(t *testing.T, deliveryID string, n int) {
	t.Helper()
	require.NoError(t, b.store.InTx(b.ctx, func(tx store.Tx) error {
		for range n {
			if _, err := tx.WebhookAttemptInsert(b.ctx, &store.WebhookAttemptInsertParams{DeliveryID: deliveryID,
				AttemptedAt: time.Now().UnixMilli(), StatusCode: http.StatusServiceUnavailable, Error: "the receiver answered 503"}); err != nil {
				return err
			}
		}
		return nil
	}))
}

func (b *testBundle) delivery(t *testing.T, id string) *store.WebhookDelivery {
	t.Helper()
	d, err := b.store.WebhookDeliveryGetByID(b.ctx, id)
	require.NoError(t, err)
	return d
}

// The job's only attempt reaches the receiver but its record cannot be
// written: the delivery fails, and its job is cancelled, rather than stay
// pending behind a dead job.
func TestLastAttemptUnrecordedFailsDelivery(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, postgres bool) {
		f := &faults{}
		f.attemptInsert.Store(true)
		b := setup(t, setupOpts{postgres: postgres, wrapStore: func(s store.Store) store.Store { return &faultyStore{Store: s, f: f} }})
		rc := statusReceiver(t, http.StatusInternalServerError)

		d := b.endRun(t, b.ws, rc.hookURL(), store.RunCompleted)
		failed := b.waitState(t, d.ID, store.WebhookFailed)
		b.waitJobState(t, d.JobID, rivertype.JobStateCancelled)

		require.Equal(t, int64(1), f.attemptInserts.Load(), "the one attempt's record was refused")
		require.Zero(t, f.deliveryUpdates.Load())
		require.Equal(t, d.JobID, failed.JobID)
		require.Zero(t, failed.AttemptCount, "no attempt could be recorded")
		require.Empty(t, b.attempts(t, d.ID))
		require.NotNil(t, failed.CompletedAt)
		require.Nil(t, failed.NextAttemptAt)
		reqs := rc.requests()
		require.Len(t, reqs, 1, "a schedule of zero retries: one request, no retry")
		requireSigned(t, reqs[0], d, b.ws.WebhookSecret)

		// The reconciler has nothing to do with a delivery that ended.
		b.svc.Now = fixedClock(pastGrace())
		n, err := b.svc.Reconcile(b.ctx)
		require.NoError(t, err)
		require.Zero(t, n)
		require.Equal(t, failed, b.delivery(t, d.ID))
	})
}

// Not even the final failure can be written: the job is discarded and the
// delivery stays pending until the reconciler, once it is overdue, hands it
// a fresh job, which delivers it.
func TestReconcileRevivesDiscardedJob(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, postgres bool) {
		f := &faults{}
		f.attemptInsert.Store(true)
		f.deliveryUpdate.Store(true)
		// As in production, the Deliverer's last attempt is River's.
		schedule := make([]time.Duration, webhook.MaxAttemptsDefault-1)
		for i := range schedule {
			schedule[i] = time.Millisecond
		}
		b := setup(t, setupOpts{postgres: postgres, schedule: schedule,
			wrapStore: func(s store.Store) store.Store { return &faultyStore{Store: s, f: f} }})
		rc := statusReceiver(t, http.StatusOK)

		d := b.endRun(t, b.ws, rc.hookURL(), store.RunCompleted)
		b.waitJobState(t, d.JobID, rivertype.JobStateDiscarded)
		require.Equal(t, int64(webhook.MaxAttemptsDefault), f.attemptInserts.Load(), "every attempt's record was refused")
		require.Equal(t, int64(1), f.deliveryUpdates.Load(), "the last attempt tried to fail the delivery")
		stuck := b.delivery(t, d.ID)
		require.Equal(t, d, stuck, "nothing about the delivery could be written")
		require.Len(t, rc.requests(), webhook.MaxAttemptsDefault)

		f.attemptInsert.Store(false)
		f.deliveryUpdate.Store(false)

		// Within the grace the reconciler waits.
		n, err := b.svc.Reconcile(b.ctx)
		require.NoError(t, err)
		require.Zero(t, n)
		require.Equal(t, stuck, b.delivery(t, d.ID))

		at := pastGrace()
		b.svc.Now = fixedClock(at)
		n, err = b.svc.Reconcile(b.ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		revived := b.delivery(t, d.ID)
		require.NotEqual(t, d.JobID, revived.JobID, "a fresh job")
		require.Equal(t, store.WebhookPending, revived.State)
		require.Equal(t, unixMilli(at), revived.NextAttemptAt)
		job, err := b.river.JobGet(b.ctx, revived.JobID)
		require.NoError(t, err)
		require.Equal(t, (webhook.DeliverArgs{}).Kind(), job.Kind)
		require.Equal(t, webhook.QueueWebhooks, job.Queue)

		done := b.waitState(t, d.ID, store.WebhookSucceeded)
		b.waitJobState(t, revived.JobID, rivertype.JobStateCompleted)
		require.Equal(t, revived.JobID, done.JobID)
		require.Equal(t, 1, done.AttemptCount)
		as := b.attempts(t, d.ID)
		require.Len(t, as, 1)
		require.Equal(t, http.StatusOK, as[0].StatusCode)
		require.Empty(t, as[0].Error)
		reqs := rc.requests()
		require.Len(t, reqs, webhook.MaxAttemptsDefault+1, "the fresh job sent exactly one request")
		requireSigned(t, reqs[len(reqs)-1], d, b.ws.WebhookSecret)

		n, err = b.svc.Reconcile(b.ctx)
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

// Reconcile settles what is overdue and whose job is gone or finished, and
// leaves alone what River still holds or what is not due yet.
func TestReconcileSettles(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, postgres bool) {
		b := setup(t, setupOpts{postgres: postgres})
		rc := statusReceiver(t, http.StatusOK)
		parked := parkedJobs{river: b.river}

		// Out of attempts, job gone: fails.
		exhausted := b.endRunWith(t, b.ws, rc.hookURL(), store.RunCompleted, parked)
		b.recordAttempts(t, exhausted.ID, webhook.MaxAttemptsDefault)
		_, err := b.river.JobDelete(b.ctx, exhausted.JobID)
		require.NoError(t, err)

		// Attempts left, job cancelled: a fresh job.
		retried := b.endRunWith(t, b.ws, rc.hookURL(), store.RunFailed, parked)
		b.recordAttempts(t, retried.ID, 3)
		_, err = b.river.JobCancel(b.ctx, retried.JobID)
		require.NoError(t, err)
		b.waitJobState(t, retried.JobID, rivertype.JobStateCancelled)

		// Overdue, but its job is still queued: River's.
		queued := b.endRunWith(t, b.ws, rc.hookURL(), store.RunCompleted, parked)

		// Job gone, but its next attempt is not due yet.
		notDue := b.endRunWith(t, b.ws, rc.hookURL(), store.RunCompleted, parked)
		_, err = b.river.JobDelete(b.ctx, notDue.JobID)
		require.NoError(t, err)
		require.NoError(t, b.store.InTx(b.ctx, func(tx store.Tx) error {
			next := time.Now().Add(10 * time.Minute).UnixMilli()
			_, err := tx.WebhookDeliveryUpdate(b.ctx, &store.WebhookDeliveryUpdateParams{ID: notDue.ID,
				State: store.WebhookPending, JobID: notDue.JobID, NextAttemptAt: &next})
			return err
		}))

		before := map[string]*store.WebhookDelivery{}
		for _, d := range []*store.WebhookDelivery{exhausted, retried, queued, notDue} {
			before[d.ID] = b.delivery(t, d.ID)
		}

		at := pastGrace()
		b.svc.Now = fixedClock(at)
		n, err := b.svc.Reconcile(b.ctx)
		require.NoError(t, err)
		require.Equal(t, 2, n)

		gotFailed := b.delivery(t, exhausted.ID)
		want := *before[exhausted.ID]
		want.State, want.CompletedAt, want.NextAttemptAt = store.WebhookFailed, unixMilli(at), nil
		require.Equal(t, &want, gotFailed)
		require.Len(t, b.attempts(t, exhausted.ID), webhook.MaxAttemptsDefault)

		gotRetried := b.delivery(t, retried.ID)
		require.Equal(t, store.WebhookPending, gotRetried.State)
		require.NotEqual(t, retried.JobID, gotRetried.JobID)
		require.Equal(t, 3, gotRetried.AttemptCount)

		require.Equal(t, before[queued.ID], b.delivery(t, queued.ID))
		require.Equal(t, before[notDue.ID], b.delivery(t, notDue.ID))
		job, err := b.river.JobGet(b.ctx, queued.JobID)
		require.NoError(t, err)
		require.Equal(t, rivertype.JobStateScheduled, job.State, "the queued job is left as it was")

		// Again, at once and after the fresh job ran: nothing more.
		n, err = b.svc.Reconcile(b.ctx)
		require.NoError(t, err)
		require.Zero(t, n)

		done := b.waitState(t, retried.ID, store.WebhookSucceeded)
		b.waitJobState(t, gotRetried.JobID, rivertype.JobStateCompleted)
		require.Equal(t, 4, done.AttemptCount)
		reqs := rc.requests()
		require.Len(t, reqs, 1, "only the fresh job reached the receiver")
		requireSigned(t, reqs[0], retried, b.ws.WebhookSecret)

		n, err = b.svc.Reconcile(b.ctx)
		require.NoError(t, err)
		require.Zero(t, n)
		require.Equal(t, gotFailed, b.delivery(t, exhausted.ID))
		require.Equal(t, before[queued.ID], b.delivery(t, queued.ID))
		require.Equal(t, before[notDue.ID], b.delivery(t, notDue.ID))
		res, err := b.river.JobList(b.ctx, river.NewJobListParams().Kinds((webhook.DeliverArgs{}).Kind()).First(100))
		require.NoError(t, err)
		require.Len(t, res.Jobs, 3, "the queued job, the cancelled one and the one fresh job")
	})
}

// listHook is a store whose overdue listing runs a function once, after
// listing: another reconciler settling the same deliveries in between.
type listHook struct {
	store.Store
	once  sync.Once
	after func()
}

func (s *listHook) WebhookDeliveryListOverdue(ctx context.Context, before int64, limit int) ([]*store.WebhookDelivery, error) {
	ds, err := s.Store.WebhookDeliveryListOverdue(ctx, before, limit)
	s.once.Do(s.after)
	return ds, err
}

// Two reconcilers (two processes) that list the same deliveries settle
// each once between them, and each counts only what it settled.
func TestReconcileRivalsCountOnce(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, postgres bool) {
		b := setup(t, setupOpts{postgres: postgres})
		rc := statusReceiver(t, http.StatusOK)
		parked := parkedJobs{river: b.river}

		exhausted := b.endRunWith(t, b.ws, rc.hookURL(), store.RunCompleted, parked)
		b.recordAttempts(t, exhausted.ID, webhook.MaxAttemptsDefault)
		retried := b.endRunWith(t, b.ws, rc.hookURL(), store.RunCompleted, parked)
		for _, d := range []*store.WebhookDelivery{exhausted, retried} {
			_, err := b.river.JobDelete(b.ctx, d.JobID)
			require.NoError(t, err)
		}

		at := pastGrace()
		b.svc.Now = fixedClock(at)
		var (
			rivalN   int
			rivalErr error
		)
		hook := &listHook{Store: b.store, after: func() { rivalN, rivalErr = b.svc.Reconcile(b.ctx) }}
		late := &webhook.Service{Store: hook, Jobs: b.river, Now: fixedClock(at)}
		n, err := late.Reconcile(b.ctx)
		require.NoError(t, err)
		require.NoError(t, rivalErr)
		require.Equal(t, 2, rivalN, "the first settles both")
		require.Zero(t, n, "the second finds them settled and counts nothing")

		require.Equal(t, store.WebhookFailed, b.delivery(t, exhausted.ID).State)
		b.waitState(t, retried.ID, store.WebhookSucceeded)
		require.Len(t, rc.requests(), 1)
		res, err := b.river.JobList(b.ctx, river.NewJobListParams().Kinds((webhook.DeliverArgs{}).Kind()).First(100))
		require.NoError(t, err)
		require.Len(t, res.Jobs, 1, "one fresh job, not one per reconciler")
	})
}
