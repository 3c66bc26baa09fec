package storetest

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
)

// exerciseRunOwner holds the store to the ownership rule: a run is changed
// on a job's behalf only while that job owns it, and the owner changes
// hands once, however many rescuers try at the same time.
func exerciseRunOwner(t *testing.T, setup setupFunc) {
	t.Helper()

	renew := func(b *testBundle, p *store.RunLeaseParams) error {
		return b.store.InTx(b.ctx, func(tx store.Tx) error { return tx.RunRenewLease(b.ctx, p) })
	}
	setOwner := func(b *testBundle, p *store.RunOwnerParams) error {
		return b.store.InTx(b.ctx, func(tx store.Tx) error { return tx.RunSetOwner(b.ctx, p) })
	}
	start := func(b *testBundle, p *store.RunStartParams) (bool, error) {
		var changed bool
		err := b.store.InTx(b.ctx, func(tx store.Tx) (err error) {
			_, changed, err = tx.RunStart(b.ctx, p)
			return err
		})
		return changed, err
	}
	finish := func(b *testBundle, runID string, jobID int64) error {
		return b.store.InTx(b.ctx, func(tx store.Tx) error {
			_, err := tx.RunFinish(b.ctx, &store.RunFinishParams{RunID: runID, JobID: jobID, Status: store.RunCompleted, At: b.fix.Now()})
			return err
		})
	}
	getByID := func(t *testing.T, b *testBundle, runID string) *store.Run {
		t.Helper()
		r, err := b.store.RunGetByID(b.ctx, runID)
		require.NoError(t, err)
		return r
	}
	ptr := func(v int64) *int64 { return &v }

	t.Run("RenewLease", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		r := b.fix.Run(ws.ID)

		// A queued run's lease is renewed by its owner (the reconciler
		// finding the job still waiting), ...
		lease := b.fix.Now() + 5*leaseTerm
		require.NoError(t, renew(b, &store.RunLeaseParams{RunID: r.ID, JobID: r.JobID, LeaseUntil: lease}))
		want := *r
		want.LeaseUntil = ptr(lease)
		require.Equal(t, &want, getByID(t, b, r.ID), "only the lease changed")

		// ... and a running one's by its heartbeats.
		started := b.fix.RunStart(r)
		lease = b.fix.Now() + leaseTerm
		require.NoError(t, renew(b, &store.RunLeaseParams{RunID: r.ID, JobID: r.JobID, LeaseUntil: lease}))
		want = *started
		want.LeaseUntil = ptr(lease)
		require.Equal(t, &want, getByID(t, b, r.ID))

		err := renew(b, &store.RunLeaseParams{RunID: r.ID, JobID: b.fix.JobID(), LeaseUntil: lease + 1})
		require.ErrorIs(t, err, store.ErrNotOwner)
		require.Equal(t, &want, getByID(t, b, r.ID), "another job's renewal changes nothing")

		require.NoError(t, finish(b, r.ID, r.JobID))
		ended := getByID(t, b, r.ID)
		err = renew(b, &store.RunLeaseParams{RunID: r.ID, JobID: r.JobID, LeaseUntil: lease + 2})
		require.ErrorIs(t, err, store.ErrRunFinished)
		err = renew(b, &store.RunLeaseParams{RunID: r.ID, JobID: b.fix.JobID(), LeaseUntil: lease + 2})
		require.ErrorIs(t, err, store.ErrRunFinished, "an ended run says so whoever asks")
		require.Equal(t, ended, getByID(t, b, r.ID))
		require.Nil(t, ended.LeaseUntil, "an ended run has no lease to renew")

		err = renew(b, &store.RunLeaseParams{RunID: b.fix.ID("run"), JobID: r.JobID, LeaseUntil: lease})
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("SetOwner", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		r := b.fix.Run(ws.ID)
		first := r.JobID

		err := setOwner(b, &store.RunOwnerParams{RunID: r.ID, FromJobID: b.fix.JobID(), ToJobID: b.fix.JobID(), LeaseUntil: b.fix.Now()})
		require.ErrorIs(t, err, store.ErrNotOwner, "only the current owner can be replaced")
		require.Equal(t, r, getByID(t, b, r.ID))

		// The reconciler hands the queued run to a fresh job.
		second, lease := b.fix.JobID(), b.fix.Now()+leaseTerm
		require.NoError(t, setOwner(b, &store.RunOwnerParams{RunID: r.ID, FromJobID: first, ToJobID: second, LeaseUntil: lease}))
		want := *r
		want.JobID, want.LeaseUntil = second, ptr(lease)
		require.Equal(t, &want, getByID(t, b, r.ID), "only the owner and the lease changed")

		// The old job can do nothing more with it.
		_, err = start(b, &store.RunStartParams{RunID: r.ID, JobID: first, At: b.fix.Now(), LeaseUntil: b.fix.Now()})
		require.ErrorIs(t, err, store.ErrNotOwner)
		require.ErrorIs(t, renew(b, &store.RunLeaseParams{RunID: r.ID, JobID: first, LeaseUntil: b.fix.Now()}), store.ErrNotOwner)
		require.ErrorIs(t, finish(b, r.ID, first), store.ErrNotOwner)
		err = setOwner(b, &store.RunOwnerParams{RunID: r.ID, FromJobID: first, ToJobID: b.fix.JobID(), LeaseUntil: b.fix.Now()})
		require.ErrorIs(t, err, store.ErrNotOwner)
		require.Equal(t, &want, getByID(t, b, r.ID))

		// The new one starts it.
		changed, err := start(b, &store.RunStartParams{RunID: r.ID, JobID: second, At: b.fix.Now(), LeaseUntil: b.fix.Now() + leaseTerm})
		require.NoError(t, err)
		require.True(t, changed)
		running := getByID(t, b, r.ID)

		// A running run changes hands too, and stays running: the next
		// owner resumes it rather than starting it again.
		third, lease := b.fix.JobID(), b.fix.Now()+leaseTerm
		require.NoError(t, setOwner(b, &store.RunOwnerParams{RunID: r.ID, FromJobID: second, ToJobID: third, LeaseUntil: lease}))
		want = *running
		want.JobID, want.LeaseUntil = third, ptr(lease)
		require.Equal(t, &want, getByID(t, b, r.ID))
		changed, err = start(b, &store.RunStartParams{RunID: r.ID, JobID: third, At: b.fix.Now(), LeaseUntil: lease + 1})
		require.NoError(t, err)
		require.False(t, changed, "the new owner resumes the running run")
		require.Equal(t, running.StartedAt, getByID(t, b, r.ID).StartedAt)
		require.NoError(t, renew(b, &store.RunLeaseParams{RunID: r.ID, JobID: third, LeaseUntil: lease + 2}))
		require.ErrorIs(t, renew(b, &store.RunLeaseParams{RunID: r.ID, JobID: second, LeaseUntil: lease + 3}), store.ErrNotOwner)

		require.NoError(t, finish(b, r.ID, third))
		err = setOwner(b, &store.RunOwnerParams{RunID: r.ID, FromJobID: third, ToJobID: b.fix.JobID(), LeaseUntil: b.fix.Now()})
		require.ErrorIs(t, err, store.ErrRunFinished, "an ended run has no owner to replace")
		require.Equal(t, third, getByID(t, b, r.ID).JobID)

		err = setOwner(b, &store.RunOwnerParams{RunID: b.fix.ID("run"), FromJobID: first, ToJobID: second, LeaseUntil: b.fix.Now()})
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	// Several rescuers that saw the same dead owner try at once: exactly
	// one hands the run over, the others learn they lost.
	t.Run("SetOwnerRace", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		r := b.fix.Run(ws.ID)
		const rescuers = 12

		owner := r.JobID
		for round := range 4 {
			if round == 2 {
				b.fix.RunStart(&store.Run{ID: r.ID, JobID: owner}) // running runs too
			}
			to := make([]int64, rescuers)
			for i := range to {
				to[i] = b.fix.JobID()
			}
			var (
				wg    sync.WaitGroup
				begin = make(chan struct{})
				errs  = make([]error, rescuers)
			)
			for i := range rescuers {
				wg.Go(func() {
					<-begin
					errs[i] = setOwner(b, &store.RunOwnerParams{RunID: r.ID, FromJobID: owner, ToJobID: to[i], LeaseUntil: b.fix.Now() + leaseTerm})
				})
			}
			close(begin)
			wg.Wait()

			winner := -1
			for i, err := range errs {
				if err == nil {
					require.Equal(t, -1, winner, "round %d: rescuers %d and %d both won", round, winner, i)
					winner = i
					continue
				}
				require.ErrorIs(t, err, store.ErrNotOwner, "round %d, rescuer %d", round, i)
			}
			require.NotEqual(t, -1, winner, "round %d: one rescuer must win", round)
			got := getByID(t, b, r.ID)
			require.Equal(t, to[winner], got.JobID, "round %d: the winner owns the run", round)
			owner = got.JobID
		}
	})

	t.Run("State", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		r := b.fix.Run(ws.ID)

		state := func(t *testing.T, runID string) *store.RunState {
			t.Helper()
			st, err := b.store.RunStateGet(b.ctx, runID)
			require.NoError(t, err)
			return st
		}
		st := state(t, r.ID)
		require.Equal(t, &store.RunState{RunID: r.ID, Status: store.RunPending, JobID: r.JobID, LeaseUntil: r.LeaseUntil}, st)
		require.False(t, st.Finished())

		started := b.fix.RunStart(r)
		b.fix.Event(r.ID, "run.started")
		b.fix.Event(r.ID, "run.progress")
		require.Equal(t, &store.RunState{RunID: r.ID, Status: store.RunRunning, JobID: r.JobID, LeaseUntil: started.LeaseUntil,
			EventSeq: 2}, state(t, r.ID))

		b.fix.RunFinish(&store.RunFinishParams{RunID: r.ID, Status: store.RunFailed, ErrorCode: "x", At: b.fix.Now()})
		st = state(t, r.ID)
		require.Equal(t, &store.RunState{RunID: r.ID, Status: store.RunFailed, JobID: r.JobID, EventSeq: 2}, st)
		require.True(t, st.Finished())

		completed := b.fix.Run(ws.ID)
		b.fix.RunFinish(&store.RunFinishParams{RunID: completed.ID, Status: store.RunCompleted, At: b.fix.Now()})
		require.True(t, state(t, completed.ID).Finished())

		// Inside a transaction the state reflects its writes.
		other := b.fix.Run(ws.ID)
		var (
			inTx  *store.RunState
			txErr error
		)
		b.fix.inTx(func(tx store.Tx) error {
			if _, err := tx.RunEventInsert(b.ctx, b.fix.EventParams(other.ID, "run.created")); err != nil {
				return err
			}
			inTx, txErr = tx.RunStateGet(b.ctx, other.ID)
			return nil
		})
		require.NoError(t, txErr)
		require.Equal(t, int64(1), inTx.EventSeq)

		_, err := b.store.RunStateGet(b.ctx, b.fix.ID("run"))
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("StateList", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws, other := b.fix.Workspace(), b.fix.Workspace()

		// More runs than one statement's chunk of ids, in two workspaces.
		const n = 1203
		runs := make([]*store.Run, n)
		b.fix.inTx(func(tx store.Tx) error {
			for i := range runs {
				wsID := ws.ID
				if i%3 == 0 {
					wsID = other.ID
				}
				r, err := tx.RunInsert(b.ctx, b.fix.RunParams(wsID))
				if err != nil {
					return err
				}
				runs[i] = r
			}
			return nil
		})
		want := map[string]*store.RunState{}
		for _, r := range runs {
			want[r.ID] = &store.RunState{RunID: r.ID, Status: store.RunPending, JobID: r.JobID, LeaseUntil: r.LeaseUntil}
		}
		// Some in other states, with events.
		for _, i := range []int{0, 499, 500, 1000, n - 1} {
			r := runs[i]
			started := b.fix.RunStart(r)
			b.fix.Event(r.ID, "run.started")
			want[r.ID] = &store.RunState{RunID: r.ID, Status: store.RunRunning, JobID: r.JobID, LeaseUntil: started.LeaseUntil, EventSeq: 1}
		}
		for _, i := range []int{1, 501, n - 2} {
			r := runs[i]
			b.fix.RunFinish(&store.RunFinishParams{RunID: r.ID, Status: store.RunCompleted, At: b.fix.Now()})
			want[r.ID] = &store.RunState{RunID: r.ID, Status: store.RunCompleted, JobID: r.JobID}
		}

		// Unknown ids are skipped wherever they fall.
		var ids []string
		for i, r := range runs {
			ids = append(ids, r.ID)
			if i%400 == 7 {
				ids = append(ids, b.fix.ID("run"))
			}
		}
		ids = append(ids, b.fix.ID("run"))
		list, err := b.store.RunStateList(b.ctx, ids)
		require.NoError(t, err)
		got := map[string]*store.RunState{}
		for _, st := range list {
			require.NotContains(t, got, st.RunID, "run %s listed twice", st.RunID)
			got[st.RunID] = st
		}
		require.Equal(t, want, got)

		list, err = b.store.RunStateList(b.ctx, []string{runs[1].ID, b.fix.ID("run"), runs[2].ID})
		require.NoError(t, err)
		require.ElementsMatch(t, []*store.RunState{want[runs[1].ID], want[runs[2].ID]}, list)

		list, err = b.store.RunStateList(b.ctx, []string{b.fix.ID("run")})
		require.NoError(t, err)
		require.Empty(t, list)
		list, err = b.store.RunStateList(b.ctx, nil)
		require.NoError(t, err)
		require.Empty(t, list)
	})

	t.Run("ListLeaseExpired", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()

		// Leases long before the factory's clock, so that no other run
		// (ours or, on a shared database, anyone's) is older.
		withLease := func(lease int64) func(p *store.RunInsertParams) {
			return func(p *store.RunInsertParams) { p.LeaseUntil = lease }
		}
		l10 := b.fix.Run(ws.ID, withLease(10))
		l20 := b.fix.Run(ws.ID, withLease(20))
		l30 := b.fix.Run(ws.ID, withLease(30))
		ended := b.fix.Run(ws.ID, withLease(1))
		b.fix.RunFinish(&store.RunFinishParams{RunID: ended.ID, Status: store.RunFailed, At: b.fix.Now()})
		running := b.fix.Run(ws.ID)
		b.fix.inTx(func(tx store.Tx) error {
			_, _, err := tx.RunStart(b.ctx, &store.RunStartParams{RunID: running.ID, JobID: running.JobID, At: b.fix.Now(), LeaseUntil: 5})
			return err
		})

		expired := func(t *testing.T, before int64, limit int) []string {
			t.Helper()
			list, err := b.store.RunListLeaseExpired(b.ctx, before, limit)
			require.NoError(t, err)
			require.LessOrEqual(t, len(list), limit)
			var ids []string
			for _, r := range list {
				require.False(t, r.Finished(), "run %s has ended", r.ID)
				require.NotNil(t, r.LeaseUntil)
				require.Less(t, *r.LeaseUntil, before)
				ids = append(ids, r.ID)
			}
			return ids
		}
		require.Equal(t, []string{running.ID, l10.ID, l20.ID}, expired(t, 30, 100),
			"open runs whose lease ended before 30, longest expired first; an ended run never")
		require.Equal(t, []string{running.ID, l10.ID}, expired(t, 30, 2))
		require.Equal(t, []string{running.ID, l10.ID, l20.ID, l30.ID}, expired(t, 31, 100))
		require.Empty(t, expired(t, 5, 100), "a lease ending at `before` has not expired before it")

		list, err := b.store.RunListLeaseExpired(b.ctx, 30, 100)
		require.NoError(t, err)
		require.Equal(t, running.JobID, list[0].JobID, "the owner comes with the run, for the reconciler")
		require.Equal(t, store.RunRunning, list[0].Status)

		// A renewed lease and an ended run leave the list.
		require.NoError(t, renew(b, &store.RunLeaseParams{RunID: l10.ID, JobID: l10.JobID, LeaseUntil: b.fix.Now() + leaseTerm}))
		require.NoError(t, finish(b, l20.ID, 0))
		require.Equal(t, []string{running.ID, l30.ID}, expired(t, 31, 100))
	})
}
