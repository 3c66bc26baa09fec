package storetest

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
)

func exerciseCredits(t *testing.T, setup setupFunc) {
	t.Helper()

	apply := func(b *testBundle, p *store.CreditsApplyParams) (*store.LedgerEntry, error) {
		var e *store.LedgerEntry
		err := b.store.InTx(b.ctx, func(tx store.Tx) (err error) {
			e, err = tx.CreditsApply(b.ctx, p)
			return err
		})
		return e, err
	}
	balance := func(t *testing.T, b *testBundle, workspaceID string) int64 {
		t.Helper()
		w, err := b.store.WorkspaceGet(b.ctx, workspaceID)
		require.NoError(t, err)
		return w.Balance
	}

	t.Run("Grant", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()

		p := b.fix.GrantParams(ws.ID, 100)
		e, err := apply(b, p)
		require.NoError(t, err)
		require.Positive(t, e.ID)
		require.Equal(t, &store.LedgerEntry{
			ID: e.ID, WorkspaceID: ws.ID, RunID: "", Kind: store.LedgerGrant, Amount: 100,
			BalanceAfter: 100, Memo: p.Memo, CreatedAt: p.CreatedAt,
		}, e)
		require.Equal(t, int64(100), balance(t, b, ws.ID))

		entries, err := b.store.LedgerList(b.ctx, ws.ID)
		require.NoError(t, err)
		require.Equal(t, []*store.LedgerEntry{e}, entries)

		e2, err := apply(b, b.fix.GrantParams(ws.ID, 25))
		require.NoError(t, err)
		require.Equal(t, int64(125), e2.BalanceAfter)
		require.Greater(t, e2.ID, e.ID)
		require.Equal(t, int64(125), balance(t, b, ws.ID))
	})

	t.Run("Reserve", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		b.fix.Grant(ws.ID, 100)
		run := b.fix.Run(ws.ID)

		p := b.fix.ReserveParams(ws.ID, run.ID, 30)
		e, err := apply(b, p)
		require.NoError(t, err)
		require.Equal(t, &store.LedgerEntry{
			ID: e.ID, WorkspaceID: ws.ID, RunID: run.ID, Kind: store.LedgerReserve, Amount: -30,
			BalanceAfter: 70, Memo: p.Memo, CreatedAt: p.CreatedAt,
		}, e)
		require.Equal(t, int64(70), balance(t, b, ws.ID))

		entries := requireLedgerExplainsBalance(t, b.ctx, b.store, ws.ID)
		require.Len(t, entries, 2)
		require.Equal(t, e, entries[1])
	})

	t.Run("Overdraw", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		b.fix.Grant(ws.ID, 50)
		run := b.fix.Run(ws.ID)
		before, err := b.store.LedgerList(b.ctx, ws.ID)
		require.NoError(t, err)

		var inner error
		err = b.store.InTx(b.ctx, func(tx store.Tx) error {
			_, inner = tx.CreditsApply(b.ctx, b.fix.ReserveParams(ws.ID, run.ID, 80))
			return inner
		})
		for _, err := range []error{inner, err} {
			require.ErrorIs(t, err, store.ErrInsufficientCredits)
			var ice *store.InsufficientCreditsError
			require.ErrorAs(t, err, &ice)
			require.Equal(t, int64(80), ice.Required)
			require.Equal(t, int64(50), ice.Available)
		}

		require.Equal(t, int64(50), balance(t, b, ws.ID))
		after, err := b.store.LedgerList(b.ctx, ws.ID)
		require.NoError(t, err)
		require.Equal(t, before, after, "a refused debit writes no ledger row")

		// An empty workspace reports zero available.
		empty := b.fix.Workspace()
		_, err = apply(b, b.fix.ReserveParams(empty.ID, run.ID, 1))
		var ice *store.InsufficientCreditsError
		require.ErrorAs(t, err, &ice)
		require.Equal(t, store.InsufficientCreditsError{Required: 1, Available: 0}, *ice)
	})

	t.Run("UnknownWorkspace", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		_, err := apply(b, b.fix.GrantParams(b.fix.ID("ws"), 10))
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("SameRunKindTwice", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		b.fix.Grant(ws.ID, 100)
		run := b.fix.Run(ws.ID)

		_, err := apply(b, b.fix.ReserveParams(ws.ID, run.ID, 10))
		require.NoError(t, err)
		_, err = apply(b, b.fix.ReserveParams(ws.ID, run.ID, 10))
		require.ErrorIs(t, err, store.ErrAlreadyExists)
		require.Equal(t, int64(90), balance(t, b, ws.ID))

		// Another kind for the same run is a different entry.
		_, err = apply(b, &store.CreditsApplyParams{
			WorkspaceID: ws.ID, RunID: run.ID, Kind: store.LedgerRefund, Amount: 10, CreatedAt: b.fix.Now(),
		})
		require.NoError(t, err)
		_, err = apply(b, &store.CreditsApplyParams{
			WorkspaceID: ws.ID, RunID: run.ID, Kind: store.LedgerRefund, Amount: 10, CreatedAt: b.fix.Now(),
		})
		require.ErrorIs(t, err, store.ErrAlreadyExists)

		require.Equal(t, int64(100), balance(t, b, ws.ID))
		require.Len(t, requireLedgerExplainsBalance(t, b.ctx, b.store, ws.ID), 3)
	})

	// A caller that meets ErrAlreadyExists inside a transaction ("already
	// reserved, carry on") and commits must not be left with a balance the
	// ledger does not explain. Whether the commit then succeeds is up to the
	// backend (PostgreSQL aborts the transaction); the invariant is not.
	t.Run("RefusedEntryInTxLeavesNoBalanceChange", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		b.fix.Grant(ws.ID, 100)
		run := b.fix.Run(ws.ID)
		_, err := apply(b, b.fix.ReserveParams(ws.ID, run.ID, 10))
		require.NoError(t, err)

		var dupErr error
		_ = b.store.InTx(b.ctx, func(tx store.Tx) error {
			_, dupErr = tx.CreditsApply(b.ctx, b.fix.ReserveParams(ws.ID, run.ID, 10))
			return nil
		})
		require.ErrorIs(t, dupErr, store.ErrAlreadyExists)

		requireLedgerExplainsBalance(t, b.ctx, b.store, ws.ID)
		require.Equal(t, int64(90), balance(t, b, ws.ID))
	})

	t.Run("LedgerSumsToBalance", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		requireLedgerExplainsBalance(t, b.ctx, b.store, ws.ID)

		b.fix.Grant(ws.ID, 40)
		requireLedgerExplainsBalance(t, b.ctx, b.store, ws.ID)

		r1, r2 := b.fix.Run(ws.ID), b.fix.Run(ws.ID)
		steps := []struct {
			p       *store.CreditsApplyParams
			refused bool
		}{
			{p: b.fix.ReserveParams(ws.ID, r1.ID, 25)},
			{p: b.fix.ReserveParams(ws.ID, r2.ID, 25), refused: true},
			{p: &store.CreditsApplyParams{WorkspaceID: ws.ID, RunID: r1.ID, Kind: store.LedgerCharge, CreatedAt: b.fix.Now()}},
			{p: b.fix.GrantParams(ws.ID, 60)},
			{p: b.fix.ReserveParams(ws.ID, r2.ID, 25)},
			{p: &store.CreditsApplyParams{WorkspaceID: ws.ID, RunID: r2.ID, Kind: store.LedgerRefund, Amount: 25, CreatedAt: b.fix.Now()}},
			{p: b.fix.ReserveParams(ws.ID, b.fix.ID("run"), 76), refused: true},
			{p: b.fix.ReserveParams(ws.ID, b.fix.ID("run"), 75)},
		}
		for i, s := range steps {
			_, err := apply(b, s.p)
			if s.refused {
				require.ErrorIs(t, err, store.ErrInsufficientCredits, "step %d", i)
			} else {
				require.NoError(t, err, "step %d", i)
			}
			requireLedgerExplainsBalance(t, b.ctx, b.store, ws.ID)
		}
		require.Equal(t, int64(0), balance(t, b, ws.ID))
	})

	t.Run("ConcurrentReserves", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		b.fix.Grant(ws.ID, 100)

		const workers = 20
		params := make([]*store.CreditsApplyParams, workers)
		for i := range params {
			params[i] = b.fix.ReserveParams(ws.ID, b.fix.Run(ws.ID).ID, 10)
		}

		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			errs    = make([]error, workers)
			entries = make([]*store.LedgerEntry, workers)
		)
		for i := range workers {
			wg.Go(func() {
				<-start
				errs[i] = b.store.InTx(b.ctx, func(tx store.Tx) (err error) {
					entries[i], err = tx.CreditsApply(b.ctx, params[i])
					return err
				})
			})
		}
		close(start)
		wg.Wait()

		var ok int
		for i, err := range errs {
			if err == nil {
				ok++
				require.GreaterOrEqual(t, entries[i].BalanceAfter, int64(0))
				continue
			}
			require.ErrorIs(t, err, store.ErrInsufficientCredits, "worker %d", i)
		}
		require.Equal(t, 10, ok, "exactly ten reservations of 10 fit in 100")
		require.Equal(t, int64(0), balance(t, b, ws.ID))
		require.Len(t, requireLedgerExplainsBalance(t, b.ctx, b.store, ws.ID), 11)
	})
}
