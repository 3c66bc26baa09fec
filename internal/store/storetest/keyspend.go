package storetest

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
)

func exerciseKeyScopesAndCap(t *testing.T, setup setupFunc) {
	t.Helper()

	t.Run("InsertUpdate", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		p := b.fix.APIKeyParams(ws.ID)
		p.Scopes = []string{"runs:read", "techniques:read"}
		capped := int64(50)
		p.MaxCreditsPerDay = &capped
		var k *store.APIKey
		b.fix.inTx(func(tx store.Tx) (err error) { k, err = tx.APIKeyInsert(b.ctx, p); return err })
		require.Equal(t, []string{"runs:read", "techniques:read"}, k.Scopes)
		require.Equal(t, int64(50), *k.MaxCreditsPerDay)

		got, err := b.store.APIKeyGetByHash(b.ctx, p.Hash)
		require.NoError(t, err)
		require.Equal(t, k, got)
		got, err = b.store.APIKeyGet(b.ctx, p.ID)
		require.NoError(t, err)
		require.Equal(t, k, got)

		// Only the cap: the scopes stay.
		other := int64(7)
		b.fix.inTx(func(tx store.Tx) (err error) {
			k, err = tx.APIKeyUpdate(b.ctx, &store.APIKeyUpdateParams{ID: p.ID, MaxCreditsPerDay: &other})
			return err
		})
		require.Equal(t, int64(7), *k.MaxCreditsPerDay)
		require.Equal(t, []string{"runs:read", "techniques:read"}, k.Scopes)
		// Only the scopes, then the cap cleared.
		b.fix.inTx(func(tx store.Tx) (err error) {
			k, err = tx.APIKeyUpdate(b.ctx, &store.APIKeyUpdateParams{ID: p.ID, Scopes: []string{"runs:write"}, ClearCap: true})
			return err
		})
		require.Nil(t, k.MaxCreditsPerDay)
		require.Equal(t, []string{"runs:write"}, k.Scopes)
		got, err = b.store.APIKeyGet(b.ctx, p.ID)
		require.NoError(t, err)
		require.Equal(t, k, got)

		err = b.store.InTx(b.ctx, func(tx store.Tx) error {
			_, err := tx.APIKeyUpdate(b.ctx, &store.APIKeyUpdateParams{ID: "key_missing", ClearCap: true})
			return err
		})
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = b.store.APIKeyGet(b.ctx, "key_missing")
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("NoScopesRefused", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		p := b.fix.APIKeyParams(ws.ID)
		p.Scopes = nil
		err := b.store.InTx(b.ctx, func(tx store.Tx) error { _, err := tx.APIKeyInsert(b.ctx, p); return err })
		require.Error(t, err)
		_, err = b.store.APIKeyGetByHash(b.ctx, p.Hash)
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

func exerciseKeySpend(t *testing.T, setup setupFunc) {
	t.Helper()

	add := func(b *testBundle, p *store.KeySpendParams) (total int64, err error) {
		err = b.store.InTx(b.ctx, func(tx store.Tx) (err error) {
			total, err = tx.KeySpendAdd(b.ctx, p)
			return err
		})
		return total, err
	}
	ptr := func(n int64) *int64 { return &n }

	t.Run("AddsPerDayWithinCap", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		key := b.fix.ID("key")

		spent, err := b.store.KeySpendGet(b.ctx, key, 100)
		require.NoError(t, err)
		require.Zero(t, spent)

		total, err := add(b, &store.KeySpendParams{KeyID: key, Day: 100, Credits: 6, Cap: ptr(10)})
		require.NoError(t, err)
		require.Equal(t, int64(6), total)
		_, err = add(b, &store.KeySpendParams{KeyID: key, Day: 100, Credits: 5, Cap: ptr(10)})
		var capErr *store.KeyCapError
		require.ErrorAs(t, err, &capErr)
		require.Equal(t, store.KeyCapError{Required: 5, Available: 4, Cap: 10}, *capErr)
		total, err = add(b, &store.KeySpendParams{KeyID: key, Day: 100, Credits: 4, Cap: ptr(10)})
		require.NoError(t, err)
		require.Equal(t, int64(10), total, "exactly the cap fits")

		// Larger than the cap on a fresh day; then the next day starts at 0.
		_, err = add(b, &store.KeySpendParams{KeyID: key, Day: 101, Credits: 11, Cap: ptr(10)})
		require.ErrorAs(t, err, &capErr)
		require.Equal(t, int64(10), capErr.Available)
		total, err = add(b, &store.KeySpendParams{KeyID: key, Day: 101, Credits: 3, Cap: ptr(10)})
		require.NoError(t, err)
		require.Equal(t, int64(3), total)
		// Without a cap it only counts.
		total, err = add(b, &store.KeySpendParams{KeyID: key, Day: 101, Credits: 1000})
		require.NoError(t, err)
		require.Equal(t, int64(1003), total)

		spent, err = b.store.KeySpendGet(b.ctx, key, 100)
		require.NoError(t, err)
		require.Equal(t, int64(10), spent)
	})

	// A refusal leaves the transaction usable: the caller's other writes
	// still commit (the run service rolls back itself, but the store must
	// not force it).
	t.Run("RefusalKeepsTransaction", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		key := b.fix.ID("key")
		ws := b.fix.Workspace()
		err := b.store.InTx(b.ctx, func(tx store.Tx) error {
			_, err := tx.KeySpendAdd(b.ctx, &store.KeySpendParams{KeyID: key, Day: 5, Credits: 2, Cap: ptr(1)})
			var capErr *store.KeyCapError
			require.ErrorAs(t, err, &capErr)
			_, err = tx.CreditsApply(b.ctx, b.fix.GrantParams(ws.ID, 9))
			return err
		})
		require.NoError(t, err)
		w, err := b.store.WorkspaceGet(b.ctx, ws.ID)
		require.NoError(t, err)
		require.Equal(t, int64(9), w.Balance)
	})

	// A refund gives back what it is given, never below zero, and makes
	// no row for a day the key spent nothing.
	t.Run("Refund", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		key := b.fix.ID("key")
		b.fix.inTx(func(tx store.Tx) error {
			_, err := tx.KeySpendAdd(b.ctx, &store.KeySpendParams{KeyID: key, Day: 7, Credits: 10, Cap: ptr(10)})
			return err
		})
		b.fix.inTx(func(tx store.Tx) error { return tx.KeySpendRefund(b.ctx, key, 7, 4) })
		spent, err := b.store.KeySpendGet(b.ctx, key, 7)
		require.NoError(t, err)
		require.Equal(t, int64(6), spent)
		// The refunded credits fit under the cap again.
		b.fix.inTx(func(tx store.Tx) error {
			_, err := tx.KeySpendAdd(b.ctx, &store.KeySpendParams{KeyID: key, Day: 7, Credits: 4, Cap: ptr(10)})
			return err
		})
		b.fix.inTx(func(tx store.Tx) error { return tx.KeySpendRefund(b.ctx, key, 7, 50) })
		spent, err = b.store.KeySpendGet(b.ctx, key, 7)
		require.NoError(t, err)
		require.Zero(t, spent)
		b.fix.inTx(func(tx store.Tx) error { return tx.KeySpendRefund(b.ctx, key, 8, 3) })
		spent, err = b.store.KeySpendGet(b.ctx, key, 8)
		require.NoError(t, err)
		require.Zero(t, spent)
	})

	// Twenty creates of 3 credits race for a cap of 31: exactly ten fit,
	// and the total never passes the cap.
	t.Run("ConcurrentNeverExceedsCap", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		key := b.fix.ID("key")
		const workers = 20
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, workers)
		)
		for i := range workers {
			wg.Go(func() {
				<-start
				_, errs[i] = add(b, &store.KeySpendParams{KeyID: key, Day: 7, Credits: 3, Cap: ptr(31)})
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for i, err := range errs {
			if err == nil {
				ok++
				continue
			}
			var capErr *store.KeyCapError
			require.ErrorAs(t, err, &capErr, "worker %d", i)
		}
		require.Equal(t, 10, ok)
		spent, err := b.store.KeySpendGet(b.ctx, key, 7)
		require.NoError(t, err)
		require.Equal(t, int64(30), spent)
	})
}

func exerciseClerkSubject(t *testing.T, setup setupFunc) {
	t.Helper()
	b := setup(t)
	ws := b.fix.Workspace()
	subject := b.fix.ID("org")

	_, err := b.store.ClerkSubjectGet(b.ctx, subject)
	require.ErrorIs(t, err, store.ErrNotFound)
	b.fix.inTx(func(tx store.Tx) error {
		return tx.ClerkSubjectInsert(b.ctx, &store.ClerkSubject{Subject: subject, WorkspaceID: ws.ID, CreatedAt: 42})
	})
	got, err := b.store.ClerkSubjectGet(b.ctx, subject)
	require.NoError(t, err)
	require.Equal(t, &store.ClerkSubject{Subject: subject, WorkspaceID: ws.ID, CreatedAt: 42}, got)

	other := b.fix.Workspace()
	err = b.store.InTx(b.ctx, func(tx store.Tx) error {
		return tx.ClerkSubjectInsert(b.ctx, &store.ClerkSubject{Subject: subject, WorkspaceID: other.ID, CreatedAt: 43})
	})
	require.ErrorIs(t, err, store.ErrAlreadyExists, "a subject speaks for one workspace")
}
