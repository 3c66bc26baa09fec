package run_test

import (
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/store"
)

func TestWorkerCompletesRun(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, pg bool) {
		b := setup(t, bundleOpts{postgres: pg})
		r := b.create(t, "a lighthouse")
		done := b.waitEnded(t, r.ID)
		require.Equal(t, store.RunCompleted, done.Status)
		require.Equal(t, int64(1), *done.ChargedCredits)
		require.Equal(t, map[string]int{store.LedgerReserve: 1, store.LedgerCharge: 1}, b.ledgerKinds(t, r.ID))

		// The job that owned it completed with it.
		job, err := b.river.JobGet(b.ctx, r.JobID)
		require.NoError(t, err)
		require.Equal(t, rivertype.JobStateCompleted, job.State)
		events, err := b.db.RunEventList(b.ctx, r.ID, 0, 100)
		require.NoError(t, err)
		var typs []string
		for i, e := range events {
			require.Equal(t, int64(i+1), e.Seq, "a run's events are numbered 1, 2, 3, ...")
			typs = append(typs, e.Type)
		}
		require.Equal(t, run.EventCreated, typs[0])
		require.Equal(t, run.EventStarted, typs[1])
		require.Contains(t, typs, run.EventOutput)
		require.Equal(t, run.EventCompleted, typs[len(typs)-1])
	})
}

// TestLastAttemptFailureEndsRunFailed: when the worker's own start-up code
// fails on the job's last attempt, River would discard the job and leave
// the run pending with its credits reserved. It must end failed, with
// internal_error, refunded, and the job done.
func TestLastAttemptFailureEndsRunFailed(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, pg bool) {
		b := setup(t, bundleOpts{postgres: pg, svc: func(s *run.Service) { s.MaxAttempts = 1 }})
		b.faulty.arm("RunStart")
		r := b.create(t, "never starts")
		done := b.waitEnded(t, r.ID)
		require.Equal(t, store.RunFailed, done.Status)
		require.Equal(t, processor.CodeInternalError, done.ErrorCode)
		require.Positive(t, b.faulty.count("RunStart"), "the start was tried")
		require.Equal(t, map[string]int{store.LedgerReserve: 1, store.LedgerRefund: 1}, b.ledgerKinds(t, r.ID))
		require.Equal(t, int64(credits), b.balance(t))
		require.Eventually(t, func() bool {
			job, err := b.river.JobGet(b.ctx, r.JobID)
			return err == nil && job.State == rivertype.JobStateCompleted
		}, patience, 10*time.Millisecond, "the job completed with the run's end")
	})
}

// TestLastAttemptFailureWhileFinishing: the steps ran, but recording the
// end fails on the last attempt; the fallback end fails too, so River
// discards the job. The periodic reconciler then settles the run: its job
// gave up, so it fails with internal_error and is refunded.
func TestLastAttemptFailureWhileFinishing(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, pg bool) {
		b := setup(t, bundleOpts{postgres: pg, noWorkers: true, reconcileEvery: 100 * time.Millisecond,
			svc: func(s *run.Service) { s.MaxAttempts, s.Lease = 1, 300*time.Millisecond }})
		b.faulty.arm("RunFinish")
		r := b.create(t, "never ends")
		b.start(t, b.river)
		require.Eventually(t, func() bool {
			job, err := b.river.JobGet(b.ctx, r.JobID)
			return err == nil && job.State == rivertype.JobStateDiscarded
		}, patience, 10*time.Millisecond, "River discards the job")
		open, err := b.db.RunGetByID(b.ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, store.RunRunning, open.Status, "left running, credits reserved")
		require.Equal(t, int64(credits-1), b.balance(t))

		// The periodic reconciler settles it once writes work again.
		b.faulty.disarm()
		done := b.waitEnded(t, r.ID)
		require.Equal(t, store.RunFailed, done.Status)
		require.Equal(t, processor.CodeInternalError, done.ErrorCode)
		require.Equal(t, map[string]int{store.LedgerReserve: 1, store.LedgerRefund: 1}, b.ledgerKinds(t, r.ID))
		require.Equal(t, int64(credits), b.balance(t))
	})
}

// TestFreshStartReadsNoSteps: a run started from pending has no steps to
// resume, so its execution does not read them; a job that resumes a run it
// had started does, and does not run a recorded step again.
func TestFreshStartReadsNoSteps(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{})
	r := b.create(t, "fresh")
	require.Equal(t, store.RunCompleted, b.waitEnded(t, r.ID).Status)
	require.Zero(t, b.faulty.count("RunStepList"))

	// The end fails once after the step was recorded: the retried job
	// finds the run running, reads its steps and only finishes it.
	b.faulty.arm("RunFinish")
	r = b.create(t, "resumed")
	require.Eventually(t, func() bool {
		job, err := b.river.JobGet(b.ctx, r.JobID)
		return err == nil && len(job.Errors) > 0
	}, patience, time.Millisecond, "the first attempt failed")
	b.faulty.disarm()
	done := b.waitEnded(t, r.ID)
	require.Equal(t, store.RunCompleted, done.Status)
	require.Positive(t, b.faulty.count("RunStepList"), "the resumed execution read what was recorded")
	steps, err := b.db.RunStepList(b.ctx, r.ID)
	require.NoError(t, err)
	require.Len(t, steps, 1)
}
