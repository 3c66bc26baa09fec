package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
)

func exerciseRunEvent(t *testing.T, setup setupFunc) {
	t.Helper()

	insert := func(b *testBundle, p *store.RunEventInsertParams) (*store.RunEvent, error) {
		var e *store.RunEvent
		err := b.store.InTx(b.ctx, func(tx store.Tx) (err error) {
			e, err = tx.RunEventInsert(b.ctx, p)
			return err
		})
		return e, err
	}
	list := func(t *testing.T, b *testBundle, runID string, afterSeq int64, limit int) []*store.RunEvent {
		t.Helper()
		events, err := b.store.RunEventList(b.ctx, runID, afterSeq, limit)
		require.NoError(t, err)
		return events
	}
	eventSeq := func(t *testing.T, b *testBundle, r *store.Run) int64 {
		t.Helper()
		byID, err := b.store.RunGetByID(b.ctx, r.ID)
		require.NoError(t, err)
		got, err := b.store.RunGet(b.ctx, r.WorkspaceID, r.ID)
		require.NoError(t, err)
		require.Equal(t, byID.EventSeq, got.EventSeq)
		st, err := b.store.RunStateGet(b.ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, byID.EventSeq, st.EventSeq, "the run and its state agree on the newest event")
		return st.EventSeq
	}

	// A run inserted with its first event has it as event 1, and the next
	// event is 2.
	t.Run("FirstEventWithRun", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		var first *store.RunEventInsertParams
		r := b.fix.Run(ws.ID, func(p *store.RunInsertParams) {
			first = b.fix.EventParams(p.ID, "run.created")
			p.FirstEvent = first
		})
		require.Equal(t, int64(1), r.EventSeq)
		require.Equal(t, int64(1), eventSeq(t, b, r))
		next, err := insert(b, b.fix.EventParams(r.ID, "run.started"))
		require.NoError(t, err)
		require.Equal(t, int64(2), next.Seq)
		require.Equal(t, []*store.RunEvent{
			{RunID: r.ID, Seq: 1, Type: "run.created", Data: first.Data, CreatedAt: first.CreatedAt}, next,
		}, list(t, b, r.ID, 0, 100))

		// A refused run (its idempotency key taken) leaves no event either.
		dup := b.fix.RunParams(ws.ID, func(p *store.RunInsertParams) {
			p.IdempotencyKey = "k"
			p.FirstEvent = b.fix.EventParams(p.ID, "run.created")
		})
		b.fix.inTx(func(tx store.Tx) error { _, err := tx.RunInsert(b.ctx, dup); return err })
		again := b.fix.RunParams(ws.ID, func(p *store.RunInsertParams) {
			p.IdempotencyKey = "k"
			p.FirstEvent = b.fix.EventParams(p.ID, "run.created")
		})
		err = b.store.InTx(b.ctx, func(tx store.Tx) error { _, err := tx.RunInsert(b.ctx, again); return err })
		require.ErrorIs(t, err, store.ErrAlreadyExists)
		require.Empty(t, list(t, b, again.ID, 0, 100))
	})

	t.Run("InsertList", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		r := b.fix.Run(ws.ID)
		require.Empty(t, list(t, b, r.ID, 0, 100))
		require.Zero(t, eventSeq(t, b, r))

		var want []*store.RunEvent
		for i, typ := range []string{"run.created", "run.started", "run.progress", "run.output"} {
			p := b.fix.EventParams(r.ID, typ)
			e, err := insert(b, p)
			require.NoError(t, err)
			require.Equal(t, &store.RunEvent{RunID: r.ID, Seq: int64(i + 1), Type: typ, Data: p.Data, CreatedAt: p.CreatedAt}, e,
				"a run's events are numbered 1, 2, 3, ...")
			want = append(want, e)
			require.Equal(t, e.Seq, eventSeq(t, b, r))
		}

		require.Equal(t, want, list(t, b, r.ID, 0, 100), "in order, data byte for byte")
		require.Equal(t, want[2:], list(t, b, r.ID, 2, 100), "after a seq")
		require.Equal(t, want[1:3], list(t, b, r.ID, 1, 2), "up to limit")
		require.Empty(t, list(t, b, r.ID, 4, 100))
		require.Empty(t, list(t, b, b.fix.ID("run"), 0, 100))

		listed, err := b.store.RunList(b.ctx, &store.RunListParams{WorkspaceID: ws.ID, Limit: 10})
		require.NoError(t, err)
		require.Len(t, listed, 1)
		require.Equal(t, int64(4), listed[0].EventSeq)
		kp := b.fix.APIKeyParams(ws.ID)
		b.fix.inTx(func(tx store.Tx) error { _, err := tx.APIKeyInsert(b.ctx, kp); return err })
		_, withKey, err := b.store.RunGetWithKey(b.ctx, kp.Hash, r.ID)
		require.NoError(t, err)
		require.Equal(t, int64(4), withKey.EventSeq)
	})

	// Event numbers say nothing about other runs, which may belong to
	// other workspaces.
	t.Run("NumberedPerRun", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		a := b.fix.Run(b.fix.Workspace().ID)
		c := b.fix.Run(b.fix.Workspace().ID)

		var seqs []int64
		for _, runID := range []string{a.ID, c.ID, a.ID, a.ID, c.ID, a.ID} {
			seqs = append(seqs, b.fix.Event(runID, "run.progress").Seq)
		}
		require.Equal(t, []int64{1, 1, 2, 3, 2, 4}, seqs)
		for _, e := range list(t, b, a.ID, 0, 100) {
			require.Equal(t, a.ID, e.RunID)
		}
		require.Len(t, list(t, b, a.ID, 0, 100), 4)
		require.Len(t, list(t, b, c.ID, 0, 100), 2)
		require.Equal(t, int64(4), eventSeq(t, b, a))
		require.Equal(t, int64(2), eventSeq(t, b, c))
	})

	// A rolled-back event takes no number: the history has no holes.
	t.Run("RollbackLeavesNoGap", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		r := b.fix.Run(b.fix.Workspace().ID)
		b.fix.Event(r.ID, "run.created")

		errBoom := errors.New("boom")
		err := b.store.InTx(b.ctx, func(tx store.Tx) error {
			if _, err := tx.RunEventInsert(b.ctx, b.fix.EventParams(r.ID, "run.started")); err != nil {
				return err
			}
			return errBoom
		})
		require.ErrorIs(t, err, errBoom)
		require.Equal(t, int64(1), eventSeq(t, b, r))
		require.Equal(t, int64(2), b.fix.Event(r.ID, "run.started").Seq)
		require.Len(t, list(t, b, r.ID, 0, 100), 2)
	})

	// Nothing follows a run's final event: once it ended, only the event
	// written with its end is accepted.
	t.Run("Final", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		r := b.fix.Run(ws.ID)
		b.fix.Event(r.ID, "run.created")
		b.fix.Event(r.ID, "run.started")

		var (
			lateErr error
			final   *store.RunEvent
		)
		b.fix.inTx(func(tx store.Tx) error {
			if _, err := tx.RunFinish(b.ctx, &store.RunFinishParams{RunID: r.ID, Status: store.RunCompleted, At: b.fix.Now()}); err != nil {
				return err
			}
			// A refusal the transaction survives.
			_, lateErr = tx.RunEventInsert(b.ctx, b.fix.EventParams(r.ID, "run.progress"))
			p := b.fix.EventParams(r.ID, "run.completed")
			p.Final = true
			var err error
			final, err = tx.RunEventInsert(b.ctx, p)
			return err
		})
		require.ErrorIs(t, lateErr, store.ErrRunFinished)
		require.Equal(t, int64(3), final.Seq, "the refused event took no number")
		events := list(t, b, r.ID, 0, 100)
		require.Len(t, events, 3)
		require.Equal(t, final, events[2])
		require.Equal(t, int64(3), eventSeq(t, b, r))

		_, err := insert(b, b.fix.EventParams(r.ID, "run.progress"))
		require.ErrorIs(t, err, store.ErrRunFinished, "nor in a later transaction")
		require.Equal(t, int64(3), eventSeq(t, b, r))
		require.Len(t, list(t, b, r.ID, 0, 100), 3)

		// A final event is an ordinary one on an open run (written just
		// before RunFinish in the same transaction).
		open := b.fix.Run(ws.ID)
		p := b.fix.EventParams(open.ID, "run.failed")
		p.Final = true
		e, err := insert(b, p)
		require.NoError(t, err)
		require.Equal(t, int64(1), e.Seq)
	})

	t.Run("UnknownRun", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		_, err := insert(b, b.fix.EventParams(b.fix.ID("run"), "run.created"))
		require.ErrorIs(t, err, store.ErrNotFound)
		p := b.fix.EventParams(b.fix.ID("run"), "run.completed")
		p.Final = true
		_, err = insert(b, p)
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	// The numbers are taken under the run's row lock, so a run's events
	// commit in number order: a reader resuming after the last number it
	// saw never finds a smaller one appear later. Writers hold their
	// transaction open a little after taking their number, which would let
	// a later number commit first if the store did not serialise them.
	t.Run("CommitInSeqOrder", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		r := b.fix.Run(b.fix.Workspace().ID)
		const writers, perWriter = 8, 15
		const total = writers * perWriter

		var (
			wg         sync.WaitGroup
			begin      = make(chan struct{})
			writerErrs = make([]error, writers)
			seqs       = make(chan int64, total)
		)
		for w := range writers {
			wg.Go(func() {
				<-begin
				inTx := b.store.InTx
				if w%2 == 1 {
					inTx = b.store.InTxGrouped
				}
				for range perWriter {
					err := inTx(b.ctx, func(tx store.Tx) error {
						e, err := tx.RunEventInsert(b.ctx, b.fix.EventParams(r.ID, fmt.Sprintf("writer.%d", w)))
						if err != nil {
							return err
						}
						time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
						seqs <- e.Seq
						return nil
					})
					if err != nil {
						writerErrs[w] = err
						return
					}
				}
			})
		}

		// The reader pages after the last seq it saw, as a stream resumes.
		var (
			readerErr error
			seen      []*store.RunEvent
			reads     int
			done      = make(chan struct{})
		)
		readerDone := make(chan struct{})
		go func() {
			defer close(readerDone)
			var last int64
			for {
				finished := false
				select {
				case <-done:
					finished = true // one last read sees everything
				default:
				}
				page, err := b.store.RunEventList(b.ctx, r.ID, last, 1000)
				if err != nil {
					readerErr = err
					return
				}
				reads++
				for _, e := range page {
					if e.Seq != last+1 {
						readerErr = fmt.Errorf("read %d: after seq %d came %d: an event committed out of order", reads, last, e.Seq)
						return
					}
					last = e.Seq
					seen = append(seen, e)
				}
				if finished {
					return
				}
			}
		}()

		close(begin)
		wg.Wait()
		close(done)
		<-readerDone
		close(seqs)

		for w, err := range writerErrs {
			require.NoError(t, err, "writer %d", w)
		}
		require.NoError(t, readerErr)
		require.Len(t, seen, total, "the reader saw every event")
		got := map[int64]bool{}
		for s := range seqs {
			require.False(t, got[s], "seq %d given twice", s)
			got[s] = true
		}
		for s := int64(1); s <= total; s++ {
			require.True(t, got[s], "seq %d never given", s)
		}
		require.Equal(t, int64(total), eventSeq(t, b, r))
		require.Equal(t, seen, list(t, b, r.ID, 0, 1000))
	})
}
