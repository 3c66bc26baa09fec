package storetest

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
)

// exerciseCreditsReserve: a create's payment takes the key's spend and the
// workspace's balance together, or neither once the transaction is given
// up, and says which guard refused; made alone or with its run.
func exerciseCreditsReserve(t *testing.T, setup setupFunc) {
	t.Helper()
	t.Run("Alone", func(t *testing.T) {
		t.Parallel()
		exercisePayment(t, setup, func(b *testBundle, tx store.Tx, pay *store.Payment) (*store.LedgerEntry, error) {
			return tx.CreditsReserve(b.ctx, pay)
		})
	})
	t.Run("WithRun", func(t *testing.T) {
		t.Parallel()
		exercisePayment(t, setup, func(b *testBundle, tx store.Tx, pay *store.Payment) (*store.LedgerEntry, error) {
			p := b.fix.RunParams(pay.Entry.WorkspaceID, func(p *store.RunInsertParams) {
				p.ID = pay.Entry.RunID
				p.FirstEvent = b.fix.EventParams(p.ID, "run.created")
				p.Payment = pay
			})
			if _, err := tx.RunInsert(b.ctx, p); err != nil {
				return nil, err
			}
			return lastEntry(b, tx, pay.Entry.WorkspaceID)
		})
	})
}

// lastEntry is the workspace's newest ledger entry as tx sees it.
func lastEntry(b *testBundle, tx store.Tx, workspaceID string) (*store.LedgerEntry, error) {
	entries, err := tx.LedgerList(b.ctx, workspaceID)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	return entries[len(entries)-1], nil
}

func exercisePayment(t *testing.T, setup setupFunc,
	pay func(b *testBundle, tx store.Tx, p *store.Payment) (*store.LedgerEntry, error)) {
	t.Helper()
	ptr := func(n int64) *int64 { return &n }
	reserve := func(b *testBundle, spend *store.KeySpendParams, entry *store.CreditsApplyParams) (e *store.LedgerEntry, err error) {
		err = b.store.InTx(b.ctx, func(tx store.Tx) (err error) {
			e, err = pay(b, tx, &store.Payment{Spend: spend, Entry: entry})
			return err
		})
		if err != nil {
			_, gerr := b.store.RunGetByID(b.ctx, entry.RunID)
			require.ErrorIs(t, gerr, store.ErrNotFound, "a refused payment leaves no run")
		}
		return e, err
	}
	state := func(b *testBundle, wsID, keyID string) (balance, spent int64, entries int) {
		t.Helper()
		w, err := b.store.WorkspaceGet(b.ctx, wsID)
		require.NoError(t, err)
		spent, err = b.store.KeySpendGet(b.ctx, keyID, 9)
		require.NoError(t, err)
		ledger, err := b.store.LedgerList(b.ctx, wsID)
		require.NoError(t, err)
		return w.Balance, spent, len(ledger)
	}

	t.Run("PaysBoth", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		b.fix.Grant(ws.ID, 50)
		key := b.fix.ID("key")
		run := b.fix.ID("run")
		e, err := reserve(b, &store.KeySpendParams{KeyID: key, Day: 9, Credits: 20, Cap: ptr(30)},
			b.fix.ReserveParams(ws.ID, run, 20))
		require.NoError(t, err)
		require.Equal(t, &store.LedgerEntry{Seq: 2, WorkspaceID: ws.ID, RunID: run, Kind: store.LedgerReserve,
			Amount: -20, BalanceAfter: 30, Memo: "reserve for " + run, CreatedAt: e.CreatedAt}, e)
		balance, spent, entries := state(b, ws.ID, key)
		require.Equal(t, []int64{30, 20}, []int64{balance, spent})
		require.Equal(t, 2, entries)

		// Without a key it is the reservation alone.
		e, err = reserve(b, nil, b.fix.ReserveParams(ws.ID, b.fix.ID("run"), 5))
		require.NoError(t, err)
		require.Equal(t, int64(25), e.BalanceAfter)
		require.Equal(t, int64(3), e.Seq)
	})

	t.Run("RefusalsChangeNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		b.fix.Grant(ws.ID, 10)
		key := b.fix.ID("key")

		// The key's cap refuses first, with what the key may still spend.
		_, err := reserve(b, &store.KeySpendParams{KeyID: key, Day: 9, Credits: 8, Cap: ptr(5)},
			b.fix.ReserveParams(ws.ID, b.fix.ID("run"), 8))
		var capErr *store.KeyCapError
		require.ErrorAs(t, err, &capErr)
		require.Equal(t, store.KeyCapError{Required: 8, Available: 5, Cap: 5}, *capErr)
		_, err = reserve(b, &store.KeySpendParams{KeyID: key, Day: 9, Credits: 4, Cap: ptr(5)},
			b.fix.ReserveParams(ws.ID, b.fix.ID("run"), 4))
		require.NoError(t, err)
		_, err = reserve(b, &store.KeySpendParams{KeyID: key, Day: 9, Credits: 2, Cap: ptr(5)},
			b.fix.ReserveParams(ws.ID, b.fix.ID("run"), 2))
		require.ErrorAs(t, err, &capErr)
		require.Equal(t, store.KeyCapError{Required: 2, Available: 1, Cap: 5}, *capErr)

		// Within the key's cap but past the balance: the balance refuses,
		// and the key's spend is not taken either.
		_, err = reserve(b, &store.KeySpendParams{KeyID: key, Day: 9, Credits: 7},
			b.fix.ReserveParams(ws.ID, b.fix.ID("run"), 7))
		var insufficient *store.InsufficientCreditsError
		require.ErrorAs(t, err, &insufficient)
		require.Equal(t, store.InsufficientCreditsError{Required: 7, Available: 6}, *insufficient)
		balance, spent, entries := state(b, ws.ID, key)
		require.Equal(t, []int64{6, 4}, []int64{balance, spent})
		require.Equal(t, 2, entries, "the grant and the one reservation that passed")
	})

	// Thirty creates of 3 credits race, the key capped at 31 and the
	// balance at 24 in one workspace, 45 in another: each guard holds.
	t.Run("ConcurrentNeverExceedsEither", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		short, rich := b.fix.Workspace(), b.fix.Workspace()
		b.fix.Grant(short.ID, 24)
		b.fix.Grant(rich.ID, 45)
		keyShort, keyRich := b.fix.ID("key"), b.fix.ID("key")
		const workers = 30
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, 2*workers)
		)
		for i := range workers {
			for j, ws := range []string{short.ID, rich.ID} {
				key := []string{keyShort, keyRich}[j]
				wg.Go(func() {
					<-start
					_, errs[2*i+j] = reserve(b, &store.KeySpendParams{KeyID: key, Day: 9, Credits: 3, Cap: ptr(31)},
						b.fix.ReserveParams(ws, b.fix.ID("run"), 3))
				})
			}
		}
		close(start)
		wg.Wait()
		var ok [2]int
		for i, err := range errs {
			if err == nil {
				ok[i%2]++
				continue
			}
			var capErr *store.KeyCapError
			var insufficient *store.InsufficientCreditsError
			require.True(t, errors.As(err, &capErr) || errors.As(err, &insufficient), "worker %d: %v", i, err)
		}
		require.Equal(t, [2]int{8, 10}, ok, "the balance bounds one workspace, the key's cap the other")
		balance, spent, _ := state(b, short.ID, keyShort)
		require.Equal(t, []int64{0, 24}, []int64{balance, spent})
		balance, spent, _ = state(b, rich.ID, keyRich)
		require.Equal(t, []int64{15, 30}, []int64{balance, spent})
	})
}

// exerciseWorkspaceReferences: rows that name a workspace need it to
// exist, whenever the database checks (PostgreSQL checks these keys at
// commit, to keep the workspace row's locks cheap).
func exerciseWorkspaceReferences(t *testing.T, setup setupFunc) {
	t.Helper()
	b := setup(t)
	missing := b.fix.ID("ws")
	p := b.fix.RunParams(missing)
	err := b.store.InTx(b.ctx, func(tx store.Tx) error {
		_, err := tx.RunInsert(b.ctx, p)
		return err
	})
	require.Error(t, err, "a run of no workspace is refused")
	_, err = b.store.RunGetByID(b.ctx, p.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "and nothing of it stays")
}
