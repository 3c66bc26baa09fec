package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
)

func exerciseAPIKey(t *testing.T, setup setupFunc) {
	t.Helper()

	insert := func(b *testBundle, p *store.APIKeyInsertParams) (*store.APIKey, error) {
		var k *store.APIKey
		err := b.store.InTx(b.ctx, func(tx store.Tx) (err error) {
			k, err = tx.APIKeyInsert(b.ctx, p)
			return err
		})
		return k, err
	}
	revoke := func(b *testBundle, id string, at int64) error {
		return b.store.InTx(b.ctx, func(tx store.Tx) error { return tx.APIKeyRevoke(b.ctx, id, at) })
	}

	t.Run("InsertGetByHash", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()

		p := b.fix.APIKeyParams(ws.ID)
		k, err := insert(b, p)
		require.NoError(t, err)
		require.Equal(t, &store.APIKey{
			ID: p.ID, WorkspaceID: ws.ID, Hash: p.Hash, Prefix: p.Prefix, CreatedAt: p.CreatedAt, Scopes: p.Scopes,
		}, k)

		got, err := b.store.APIKeyGetByHash(b.ctx, p.Hash)
		require.NoError(t, err)
		require.Equal(t, k, got)
		require.Nil(t, got.RevokedAt)

		other := b.fix.APIKeyParams(ws.ID)
		_, err = b.store.APIKeyGetByHash(b.ctx, other.Hash)
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("DuplicateHash", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()

		first := b.fix.APIKeyParams(ws.ID)
		_, err := insert(b, first)
		require.NoError(t, err)

		dup := b.fix.APIKeyParams(ws.ID)
		dup.Hash = first.Hash
		_, err = insert(b, dup)
		require.ErrorIs(t, err, store.ErrAlreadyExists)

		got, err := b.store.APIKeyGetByHash(b.ctx, first.Hash)
		require.NoError(t, err)
		require.Equal(t, first.ID, got.ID)
	})

	t.Run("Revoke", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		p := b.fix.APIKeyParams(ws.ID)
		_, err := insert(b, p)
		require.NoError(t, err)

		firstAt := b.fix.Now()
		require.NoError(t, revoke(b, p.ID, firstAt))
		got, err := b.store.APIKeyGetByHash(b.ctx, p.Hash)
		require.NoError(t, err)
		require.NotNil(t, got.RevokedAt)
		require.Equal(t, firstAt, *got.RevokedAt)

		require.NoError(t, revoke(b, p.ID, b.fix.Now()), "revoking twice is not an error")
		got, err = b.store.APIKeyGetByHash(b.ctx, p.Hash)
		require.NoError(t, err)
		require.NotNil(t, got.RevokedAt)
		require.Equal(t, firstAt, *got.RevokedAt, "a second revoke keeps the first time")
	})

	t.Run("RunGetWithKey", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws, other := b.fix.Workspace(), b.fix.Workspace()
		p := b.fix.APIKeyParams(ws.ID)
		k, err := insert(b, p)
		require.NoError(t, err)
		mine, theirs := b.fix.Run(ws.ID), b.fix.Run(other.ID)

		gotKey, gotRun, err := b.store.RunGetWithKey(b.ctx, p.Hash, mine.ID)
		require.NoError(t, err)
		require.Equal(t, k, gotKey)
		want, err := b.store.RunGet(b.ctx, ws.ID, mine.ID)
		require.NoError(t, err)
		require.Equal(t, want, gotRun, "the run as RunGet returns it")

		_, _, err = b.store.RunGetWithKey(b.ctx, p.Hash, theirs.ID)
		require.ErrorIs(t, err, store.ErrNotFound, "another workspace's run is not found")
		_, _, err = b.store.RunGetWithKey(b.ctx, p.Hash, b.fix.ID("run"))
		require.ErrorIs(t, err, store.ErrNotFound)
		_, _, err = b.store.RunGetWithKey(b.ctx, b.fix.APIKeyParams(ws.ID).Hash, mine.ID)
		require.ErrorIs(t, err, store.ErrNotFound, "an unknown key finds nothing")

		require.NoError(t, revoke(b, p.ID, b.fix.Now()))
		gotKey, _, err = b.store.RunGetWithKey(b.ctx, p.Hash, mine.ID)
		require.NoError(t, err)
		require.NotNil(t, gotKey.RevokedAt, "a revoked key is returned as it is, for the caller to refuse")
	})

	t.Run("RevokeUnknown", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		err := revoke(b, b.fix.ID("key"), b.fix.Now())
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}
