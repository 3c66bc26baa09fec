package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
)

func exerciseInTxGrouped(t *testing.T, setup setupFunc) {
	t.Helper()

	// Many concurrent callers: each one's writes stand or fall alone,
	// whatever the others sharing its commit do.
	t.Run("CallersAreIsolated", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		b.fix.Grant(ws.ID, 1000)
		const n = 60
		errBoom := errors.New("boom")
		var wg sync.WaitGroup
		errs := make([]error, n)
		runIDs := make([]string, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = b.store.InTxGrouped(b.ctx, func(tx store.Tx) error {
					r, err := tx.RunInsert(b.ctx, b.fix.RunParams(ws.ID))
					if err != nil {
						return err
					}
					runIDs[i] = r.ID
					if _, err := tx.CreditsApply(b.ctx, b.fix.ReserveParams(ws.ID, r.ID, 10)); err != nil {
						return err
					}
					switch i % 3 {
					case 1:
						return errBoom // after writing: must be undone
					case 2:
						if i%2 == 0 {
							panic(fmt.Sprintf("caller %d panics", i))
						}
					}
					return nil
				})
			}()
		}
		wg.Wait()
		kept := 0
		for i := range n {
			_, err := b.store.RunGetByID(b.ctx, runIDs[i])
			switch {
			case i%3 == 1:
				require.ErrorIs(t, errs[i], errBoom)
				require.ErrorIs(t, err, store.ErrNotFound, "caller %d's writes were undone", i)
			case i%3 == 2 && i%2 == 0:
				require.Error(t, errs[i])
				require.ErrorIs(t, err, store.ErrNotFound, "caller %d's writes were undone", i)
			default:
				require.NoError(t, errs[i])
				require.NoError(t, err, "caller %d's run was committed", i)
				kept++
			}
		}
		w, err := b.store.WorkspaceGet(b.ctx, ws.ID)
		require.NoError(t, err)
		require.Equal(t, int64(1000-10*kept), w.Balance)
		requireLedgerExplainsBalance(t, b.ctx, b.store, ws.ID)
	})

	// A unique-key loser in a group does not disturb the winner, even when
	// both share one commit.
	t.Run("ConstraintLoserAlone", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		key := b.fix.ID("idem")
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- b.store.InTxGrouped(b.ctx, func(tx store.Tx) error {
					p := b.fix.RunParams(ws.ID)
					p.IdempotencyKey = key
					_, err := tx.RunInsert(b.ctx, p)
					return err
				})
			}()
		}
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			if err == nil {
				won++
			} else {
				require.ErrorIs(t, err, store.ErrAlreadyExists)
			}
		}
		require.Equal(t, 1, won)
		_, err := b.store.RunGetByIdempotencyKey(b.ctx, ws.ID, key)
		require.NoError(t, err)
	})

	// A caller whose statement failed commits nothing, even if it returns
	// nil, and takes nobody else's work down: on SQLite its savepoint is
	// undone and the shared commit goes on.
	t.Run("FailedStatementUndoesOnlyItsCaller", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		b.fix.Grant(ws.ID, 1000)
		reserved := b.fix.Run(ws.ID)
		b.fix.inTx(func(tx store.Tx) error {
			_, err := tx.CreditsApply(b.ctx, b.fix.ReserveParams(ws.ID, reserved.ID, 10))
			return err
		})
		const n = 48
		var wg sync.WaitGroup
		errs := make([]error, n)
		dupErrs := make([]error, n)
		runIDs := make([]string, n)
		for i := range n {
			p := b.fix.RunParams(ws.ID)
			runIDs[i] = p.ID
			reserve := b.fix.ReserveParams(ws.ID, p.ID, 10)
			dup := b.fix.ReserveParams(ws.ID, reserved.ID, 10)
			wg.Go(func() {
				errs[i] = b.store.InTxGrouped(b.ctx, func(tx store.Tx) error {
					if _, err := tx.RunInsert(b.ctx, p); err != nil {
						return err
					}
					if _, err := tx.CreditsApply(b.ctx, reserve); err != nil {
						return err
					}
					if i%3 == 1 {
						// Already reserved: carry on, wrongly.
						_, dupErrs[i] = tx.CreditsApply(b.ctx, dup)
					}
					return nil
				})
			})
		}
		wg.Wait()
		kept := 0
		for i := range n {
			_, err := b.store.RunGetByID(b.ctx, runIDs[i])
			if i%3 == 1 {
				require.ErrorIs(t, dupErrs[i], store.ErrAlreadyExists, "caller %d", i)
				require.ErrorIs(t, errs[i], store.ErrAlreadyExists, "caller %d learns its work was not committed", i)
				require.ErrorIs(t, err, store.ErrNotFound, "caller %d's writes were undone", i)
				continue
			}
			require.NoError(t, errs[i], "caller %d", i)
			require.NoError(t, err, "caller %d's run was committed", i)
			kept++
		}
		w, err := b.store.WorkspaceGet(b.ctx, ws.ID)
		require.NoError(t, err)
		require.Equal(t, int64(1000-10-10*kept), w.Balance)
		entries := requireLedgerExplainsBalance(t, b.ctx, b.store, ws.ID)
		require.Len(t, entries, 2+kept)
		for i, e := range entries {
			require.Equal(t, int64(i+1), e.Seq, "an undone entry left a gap in the numbers")
		}
	})

	t.Run("LoneFailedStatement", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		b.fix.Grant(ws.ID, 100)
		r := b.fix.Run(ws.ID)
		b.fix.inTx(func(tx store.Tx) error {
			return tx.RunStepInsert(b.ctx, &store.RunStep{RunID: r.ID, StepID: "s1", FinishedAt: b.fix.Now()})
		})

		setting := b.fix.ID("setting")
		var dupErr error
		err := b.store.InTxGrouped(b.ctx, func(tx store.Tx) error {
			if _, err := tx.SettingInsertIfAbsent(b.ctx, setting, "v"); err != nil {
				return err
			}
			dupErr = tx.RunStepInsert(b.ctx, &store.RunStep{RunID: r.ID, StepID: "s1", FinishedAt: b.fix.Now()})
			return nil
		})
		require.ErrorIs(t, dupErr, store.ErrAlreadyExists)
		require.ErrorIs(t, err, store.ErrAlreadyExists)
		_, err = b.store.SettingGet(b.ctx, setting)
		require.ErrorIs(t, err, store.ErrNotFound, "nothing of the transaction was committed")

		// Refusals are answers: they do not spoil a grouped transaction.
		var overdraw error
		require.NoError(t, b.store.InTxGrouped(b.ctx, func(tx store.Tx) error {
			_, overdraw = tx.CreditsApply(b.ctx, b.fix.ReserveParams(ws.ID, r.ID, 101))
			_, err := tx.SettingInsertIfAbsent(b.ctx, setting, "v")
			return err
		}))
		require.ErrorIs(t, overdraw, store.ErrInsufficientCredits)
		v, err := b.store.SettingGet(b.ctx, setting)
		require.NoError(t, err)
		require.Equal(t, "v", v)
	})
}
