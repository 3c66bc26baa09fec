package storetest

import (
	"errors"
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
		require.Positive(t, e.Seq)
		require.Equal(t, &store.LedgerEntry{
			Seq: e.Seq, WorkspaceID: ws.ID, RunID: "", Kind: store.LedgerGrant, Amount: 100,
			BalanceAfter: 100, Memo: p.Memo, CreatedAt: p.CreatedAt,
		}, e)
		require.Equal(t, int64(100), balance(t, b, ws.ID))

		entries, err := b.store.LedgerList(b.ctx, ws.ID)
		require.NoError(t, err)
		require.Equal(t, []*store.LedgerEntry{e}, entries)

		e2, err := apply(b, b.fix.GrantParams(ws.ID, 25))
		require.NoError(t, err)
		require.Equal(t, int64(125), e2.BalanceAfter)
		require.Greater(t, e2.Seq, e.Seq)
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
			Seq: e.Seq, WorkspaceID: ws.ID, RunID: run.ID, Kind: store.LedgerReserve, Amount: -30,
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
	// reserved, carry on") and returns nil still commits nothing: the
	// failed statement gave the transaction up, on both backends, so the
	// balance never moves without its ledger row.
	t.Run("RefusedEntryInTxCommitsNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		b.fix.Grant(ws.ID, 100)
		run := b.fix.Run(ws.ID)
		_, err := apply(b, b.fix.ReserveParams(ws.ID, run.ID, 10))
		require.NoError(t, err)

		var grantErr, dupErr error
		err = b.store.InTx(b.ctx, func(tx store.Tx) error {
			_, grantErr = tx.CreditsApply(b.ctx, b.fix.GrantParams(ws.ID, 5))
			_, dupErr = tx.CreditsApply(b.ctx, b.fix.ReserveParams(ws.ID, run.ID, 10))
			return nil
		})
		require.NoError(t, grantErr)
		require.ErrorIs(t, dupErr, store.ErrAlreadyExists)
		require.ErrorIs(t, err, store.ErrAlreadyExists, "the transaction did not commit")

		require.Equal(t, int64(90), balance(t, b, ws.ID), "neither the grant nor the refused debit stands")
		entries := requireLedgerExplainsBalance(t, b.ctx, b.store, ws.ID)
		require.Len(t, entries, 2)
		e, err := apply(b, b.fix.GrantParams(ws.ID, 1))
		require.NoError(t, err)
		require.Equal(t, int64(3), e.Seq, "the undone entries took no number")
	})

	// Ledger numbers count a workspace's own entries only: they say
	// nothing about other workspaces' activity.
	t.Run("SeqPerWorkspace", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		a, c := b.fix.Workspace(), b.fix.Workspace()
		b.fix.Grant(a.ID, 50)
		run := b.fix.Run(a.ID)

		var got []int64
		for _, p := range []*store.CreditsApplyParams{
			b.fix.GrantParams(c.ID, 1),
			b.fix.ReserveParams(a.ID, run.ID, 20),
			b.fix.ReserveParams(a.ID, b.fix.ID("run"), 31), // refused: takes no number
			b.fix.GrantParams(c.ID, 1),
			{WorkspaceID: a.ID, RunID: run.ID, Kind: store.LedgerRefund, Amount: 20, CreatedAt: b.fix.Now()},
			b.fix.GrantParams(c.ID, 1),
		} {
			e, err := apply(b, p)
			if errors.Is(err, store.ErrInsufficientCredits) {
				continue
			}
			require.NoError(t, err)
			got = append(got, e.Seq)
		}
		require.Equal(t, []int64{1, 2, 2, 3, 3}, got)
		require.Equal(t, []int64{1, 2, 3}, seqsOf(requireLedgerExplainsBalance(t, b.ctx, b.store, a.ID)))
		require.Equal(t, []int64{1, 2, 3}, seqsOf(requireLedgerExplainsBalance(t, b.ctx, b.store, c.ID)))
	})

	t.Run("Page", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws, other := b.fix.Workspace(), b.fix.Workspace()
		for i := range 7 {
			b.fix.Grant(ws.ID, int64(i+1))
			b.fix.Grant(other.ID, 100) // interleaved: never in ws's pages
		}
		run := b.fix.Run(ws.ID)
		_, err := apply(b, b.fix.ReserveParams(ws.ID, run.ID, 3))
		require.NoError(t, err)
		all := requireLedgerExplainsBalance(t, b.ctx, b.store, ws.ID)
		require.Len(t, all, 8)

		page := func(t *testing.T, workspaceID string, afterSeq int64, limit int) []*store.LedgerEntry {
			t.Helper()
			got, err := b.store.LedgerPage(b.ctx, workspaceID, afterSeq, limit)
			require.NoError(t, err)
			return got
		}
		var paged []*store.LedgerEntry
		var after int64
		for range 5 {
			p := page(t, ws.ID, after, 3)
			require.LessOrEqual(t, len(p), 3)
			if len(p) == 0 {
				break
			}
			for _, e := range p {
				require.Equal(t, ws.ID, e.WorkspaceID, "another workspace's entry in the page")
			}
			paged = append(paged, p...)
			after = p[len(p)-1].Seq
		}
		require.Equal(t, all, paged, "pages of three cover the ledger in order")
		require.Equal(t, all[5:], page(t, ws.ID, 5, 100))
		require.Equal(t, all[:1], page(t, ws.ID, 0, 1))
		require.Empty(t, page(t, ws.ID, 8, 100))
		require.Equal(t, "reserve for "+run.ID, page(t, ws.ID, 7, 1)[0].Memo)
		require.Empty(t, page(t, b.fix.ID("ws"), 0, 100))

		var (
			inTx  []*store.LedgerEntry
			txErr error
		)
		b.fix.inTx(func(tx store.Tx) error {
			if _, err := tx.CreditsApply(b.ctx, b.fix.GrantParams(ws.ID, 1)); err != nil {
				return err
			}
			inTx, txErr = tx.LedgerPage(b.ctx, ws.ID, 8, 100)
			return nil
		})
		require.NoError(t, txErr)
		require.Len(t, inTx, 1, "a transaction pages its own entries")
		require.Equal(t, int64(9), inTx[0].Seq)
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
		require.Equal(t, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, seqsOf(requireLedgerExplainsBalance(t, b.ctx, b.store, ws.ID)),
			"concurrent entries are numbered without gaps, in the order their balances chained")
	})

	// Grants to two workspaces at once: each counts its own, with no gaps,
	// and the numbers follow the order in which the balance moved.
	t.Run("ConcurrentSeq", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		a, c := b.fix.Workspace(), b.fix.Workspace()
		const perWorkspace = 15

		var wg sync.WaitGroup
		errs := make([]error, 2*perWorkspace)
		for i := range errs {
			wsID := a.ID
			if i%2 == 1 {
				wsID = c.ID
			}
			p := b.fix.GrantParams(wsID, int64(i+1))
			inTx := b.store.InTx
			if i%4 < 2 {
				inTx = b.store.InTxGrouped
			}
			wg.Go(func() {
				errs[i] = inTx(b.ctx, func(tx store.Tx) error {
					_, err := tx.CreditsApply(b.ctx, p)
					return err
				})
			})
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "grant %d", i)
		}
		want := make([]int64, perWorkspace)
		for i := range want {
			want[i] = int64(i + 1)
		}
		require.Equal(t, want, seqsOf(requireLedgerExplainsBalance(t, b.ctx, b.store, a.ID)))
		require.Equal(t, want, seqsOf(requireLedgerExplainsBalance(t, b.ctx, b.store, c.ID)))
	})
}

// seqsOf lists the entries' numbers in order.
func seqsOf(entries []*store.LedgerEntry) []int64 {
	out := make([]int64, len(entries))
	for i, e := range entries {
		out[i] = e.Seq
	}
	return out
}
