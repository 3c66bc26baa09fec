package run_test

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/engine"
	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/technique"
)

// frozenExecutor plays a worker process that froze mid-step: it renews
// nothing and returns only when its context ends, which it reports.
type frozenExecutor struct {
	started chan struct{}
	ended   chan error
}

func (e *frozenExecutor) Execute(ctx context.Context, _ *store.Run, _ *technique.Technique, _ engine.Recorder) ([]store.RunOutput, error) {
	close(e.started)
	<-ctx.Done()
	e.ended <- context.Cause(ctx)
	return nil, ctx.Err()
}

// TestReconcilerRescuesRunOfDeadWorker: a worker takes a run and freezes
// (no heartbeat). Once the run's lease has run out, the reconciler hands
// the run to a fresh job, inserted through River and recorded as the run's
// owner; a live worker completes it, charged once; the frozen worker, when
// it looks again, finds its job is not the owner and stops.
func TestReconcilerRescuesRunOfDeadWorker(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, pg bool) {
		b := setup(t, bundleOpts{postgres: pg, noWorkers: true, svc: func(s *run.Service) { s.Lease = time.Second }})
		r := b.create(t, "taken by a worker that froze")

		// Every process runs the periodic reconciler (River's leader
		// schedules it), the frozen one too.
		frozen := &frozenExecutor{started: make(chan struct{}), ended: make(chan error, 1)}
		dead := b.newClient(t, frozen, time.Hour, 100*time.Millisecond)
		b.start(t, dead)
		select {
		case <-frozen.started:
		case <-time.After(patience):
			require.FailNow(t, "the frozen worker never took the run")
		}
		running, err := b.db.RunGetByID(b.ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, store.RunRunning, running.Status)
		require.Equal(t, r.JobID, running.JobID)

		// A live process, whose reconciler runs every 100 ms.
		live := b.newClient(t, b.engine, 0, 100*time.Millisecond)
		b.start(t, live)
		done := b.waitEnded(t, r.ID)
		require.Equal(t, store.RunCompleted, done.Status)
		require.NotEqual(t, r.JobID, done.JobID, "a fresh job owns the rescued run")
		job, err := b.river.JobGet(b.ctx, done.JobID)
		require.NoError(t, err)
		require.Equal(t, (run.ExecuteArgs{}).Kind(), job.Kind)
		require.Equal(t, map[string]int{store.LedgerReserve: 1, store.LedgerCharge: 1}, b.ledgerKinds(t, r.ID),
			"charged once")

		select {
		case cause := <-frozen.ended:
			require.Error(t, cause, "the frozen worker was stopped")
		case <-time.After(patience):
			require.FailNow(t, "the frozen worker never noticed it lost the run")
		}
		// Its job ends without touching the run.
		require.Eventually(t, func() bool {
			j, err := b.river.JobGet(b.ctx, r.JobID)
			return err == nil && j.State == rivertype.JobStateCompleted
		}, patience, 10*time.Millisecond)
		after, err := b.db.RunGetByID(b.ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, done, after)
	})
}

// TestReconcileDecisions: one reconciliation, called directly, over runs
// whose jobs are in every state, with a clock past their leases.
func TestReconcileDecisions(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, pg bool) {
		b := setup(t, bundleOpts{postgres: pg, noWorkers: true, svc: func(s *run.Service) { s.Lease = time.Minute }})
		queued := b.create(t, "queued")
		gaveUp := b.create(t, "its job was cancelled")
		gone := b.create(t, "its job is gone")
		fresh := b.create(t, "lease not over")

		_, err := b.river.JobCancel(b.ctx, gaveUp.JobID)
		require.NoError(t, err)
		_, err = b.river.JobDelete(b.ctx, gone.JobID)
		require.NoError(t, err)

		// Everything but fresh's lease has run out two minutes from now.
		later := time.Now().Add(2 * time.Minute)
		b.svc.Now = func() time.Time { return later }
		require.NoError(t, b.svc.Heartbeat(b.ctx, fresh.ID, fresh.JobID))
		res, err := b.svc.Reconcile(b.ctx, run.ReconcileParams{})
		require.NoError(t, err)
		require.Equal(t, &run.ReconcileResult{Rescued: 1, Settled: 1, Renewed: 1}, res)

		get := func(id string) *store.Run {
			r, err := b.db.RunGetByID(b.ctx, id)
			require.NoError(t, err)
			return r
		}
		q := get(queued.ID)
		require.Equal(t, store.RunPending, q.Status)
		require.Equal(t, queued.JobID, q.JobID, "a queued job keeps its run")
		require.Equal(t, later.Add(time.Minute).UnixMilli(), *q.LeaseUntil, "looked at again a lease later")

		g := get(gaveUp.ID)
		require.Equal(t, store.RunFailed, g.Status)
		require.Equal(t, processor.CodeInternalError, g.ErrorCode)
		require.Equal(t, map[string]int{store.LedgerReserve: 1, store.LedgerRefund: 1}, b.ledgerKinds(t, gaveUp.ID))

		n := get(gone.ID)
		require.Equal(t, store.RunPending, n.Status)
		require.NotEqual(t, gone.JobID, n.JobID, "a run whose job is gone gets a fresh one")
		job, err := b.river.JobGet(b.ctx, n.JobID)
		require.NoError(t, err)
		require.Equal(t, rivertype.JobStateAvailable, job.State)

		require.Equal(t, fresh.JobID, get(fresh.ID).JobID)

		// Again: nothing left to do but look at the queued run later.
		res, err = b.svc.Reconcile(b.ctx, run.ReconcileParams{})
		require.NoError(t, err)
		require.Equal(t, &run.ReconcileResult{}, res)

		// Past the deadline, a queued run is settled as timed out.
		b.svc.Now = func() time.Time { return later.Add(run.RunTimeoutDefault) }
		res, err = b.svc.Reconcile(b.ctx, run.ReconcileParams{})
		require.NoError(t, err)
		require.Equal(t, 3, res.Settled, "queued, gone (rescued, still queued) and fresh")
		for _, id := range []string{queued.ID, gone.ID, fresh.ID} {
			r := get(id)
			require.Equal(t, store.RunFailed, r.Status)
			require.Equal(t, processor.CodeRunTimeout, r.ErrorCode)
			require.Equal(t, map[string]int{store.LedgerReserve: 1, store.LedgerRefund: 1}, b.ledgerKinds(t, id))
		}
		require.Equal(t, int64(credits), b.balance(t), "every run refunded, none charged")
	})
}

// TestReconcileAtStartTakesOverEveryRunOfTheDeadProcess: the embedded
// shape's start, with DeadBefore: a run whose job River handed out before
// it is taken over at once, lease or not.
func TestReconcileAtStartTakesOverEveryRunOfTheDeadProcess(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{noWorkers: true, svc: func(s *run.Service) { s.Lease = time.Minute }})
	r := b.create(t, "fetched by a process that then died")
	frozen := &frozenExecutor{started: make(chan struct{}), ended: make(chan error, 1)}
	dead := b.newClient(t, frozen, time.Hour, 0)
	b.start(t, dead)
	<-frozen.started

	res, err := b.svc.Reconcile(b.ctx, run.ReconcileParams{})
	require.NoError(t, err)
	require.Equal(t, &run.ReconcileResult{}, res, "without DeadBefore, a fresh lease is left alone")
	res, err = b.svc.Reconcile(b.ctx, run.ReconcileParams{DeadBefore: time.Now(), Horizon: 2 * time.Minute})
	require.NoError(t, err)
	require.Equal(t, 1, res.Rescued)
	got, err := b.db.RunGetByID(b.ctx, r.ID)
	require.NoError(t, err)
	require.NotEqual(t, r.JobID, got.JobID)
}
