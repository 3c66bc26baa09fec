package storetest

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
)

func exerciseAsset(t *testing.T, setup setupFunc) {
	t.Helper()

	params := func(b *testBundle, workspaceID string, size, quota int64) *store.AssetInsertParams {
		id := b.fix.ID("asset")
		return &store.AssetInsertParams{QuotaBytes: quota, Asset: store.Asset{
			ID: id, WorkspaceID: workspaceID, Type: "imageUrl", ContentType: "image/png", SizeBytes: size,
			BlobKey: "assets/" + workspaceID + "/" + id + ".png", Fingerprint: "fp-" + id, CreatedAt: b.fix.Now(),
		}}
	}
	insert := func(b *testBundle, p *store.AssetInsertParams) (a *store.Asset, err error) {
		err = b.store.InTx(b.ctx, func(tx store.Tx) error {
			a, err = tx.AssetInsert(b.ctx, p)
			return err
		})
		return a, err
	}
	used := func(t *testing.T, b *testBundle, ws string) int64 {
		n, err := b.store.WorkspaceStorageUsed(b.ctx, ws)
		require.NoError(t, err)
		return n
	}

	t.Run("InsertGetScoped", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws, other := b.fix.Workspace(), b.fix.Workspace()
		p := params(b, ws.ID, 1234, 0)
		p.Source = "https://example.com/a.png"
		p.IdempotencyKey = "k1"
		a, err := insert(b, p)
		require.NoError(t, err)
		require.Equal(t, p.Asset, *a)

		got, err := b.store.AssetGet(b.ctx, ws.ID, a.ID)
		require.NoError(t, err)
		require.Equal(t, a, got)
		got, err = b.store.AssetGetByIdempotencyKey(b.ctx, ws.ID, "k1")
		require.NoError(t, err)
		require.Equal(t, a, got)

		_, err = b.store.AssetGet(b.ctx, other.ID, a.ID)
		require.ErrorIs(t, err, store.ErrNotFound, "another workspace's asset is not found")
		_, err = b.store.AssetGetByIdempotencyKey(b.ctx, other.ID, "k1")
		require.ErrorIs(t, err, store.ErrNotFound)
		require.Equal(t, int64(1234), used(t, b, ws.ID))
		require.Zero(t, used(t, b, other.ID))
	})

	t.Run("IdempotencyKeyUnique", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws, other := b.fix.Workspace(), b.fix.Workspace()
		p := params(b, ws.ID, 10, 0)
		p.IdempotencyKey = "same"
		_, err := insert(b, p)
		require.NoError(t, err)
		q := params(b, ws.ID, 20, 0)
		q.IdempotencyKey = "same"
		_, err = insert(b, q)
		require.ErrorIs(t, err, store.ErrAlreadyExists)
		require.Equal(t, int64(10), used(t, b, ws.ID), "the refused asset's bytes are not counted")
		o := params(b, other.ID, 5, 0)
		o.IdempotencyKey = "same"
		_, err = insert(b, o)
		require.NoError(t, err, "keys are per workspace")
	})

	t.Run("Quota", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		_, err := insert(b, params(b, ws.ID, 60, 100))
		require.NoError(t, err)
		_, err = insert(b, params(b, ws.ID, 41, 100))
		var qe *store.StorageQuotaError
		require.ErrorAs(t, err, &qe)
		require.ErrorIs(t, err, store.ErrStorageQuota)
		require.Equal(t, store.StorageQuotaError{Used: 60, Limit: 100, Size: 41}, *qe)
		_, err = insert(b, params(b, ws.ID, 40, 100))
		require.NoError(t, err, "exactly the quota fits")
		require.Equal(t, int64(100), used(t, b, ws.ID))
		_, err = insert(b, params(b, ws.ID, 1000, 0))
		require.NoError(t, err, "no quota: no limit")
	})

	t.Run("QuotaConcurrent", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		const n = 10
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			p := params(b, ws.ID, 30, 100)
			wg.Go(func() { _, errs[i] = insert(b, p) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				require.ErrorIs(t, err, store.ErrStorageQuota)
			}
		}
		require.Equal(t, 3, ok, "only as many 30-byte assets as fit in 100 bytes")
		require.Equal(t, int64(90), used(t, b, ws.ID))
	})

	t.Run("ListDelete", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws, other := b.fix.Workspace(), b.fix.Workspace()
		var ids []string
		for range 5 {
			a, err := insert(b, params(b, ws.ID, 7, 0))
			require.NoError(t, err)
			ids = append(ids, a.ID)
		}
		_, err := insert(b, params(b, other.ID, 7, 0))
		require.NoError(t, err)

		page, err := b.store.AssetList(b.ctx, &store.AssetListParams{WorkspaceID: ws.ID, Limit: 3})
		require.NoError(t, err)
		require.Len(t, page, 3)
		require.Equal(t, []string{ids[4], ids[3], ids[2]}, []string{page[0].ID, page[1].ID, page[2].ID}, "newest first")
		last := page[2]
		page, err = b.store.AssetList(b.ctx, &store.AssetListParams{WorkspaceID: ws.ID, Limit: 3,
			AfterCreatedAt: last.CreatedAt, AfterID: last.ID})
		require.NoError(t, err)
		require.Len(t, page, 2)
		require.Equal(t, []string{ids[1], ids[0]}, []string{page[0].ID, page[1].ID})

		old, err := b.store.AssetListCreatedBefore(b.ctx, last.CreatedAt, 1000)
		require.NoError(t, err)
		var mine []string
		for _, a := range old {
			if a.WorkspaceID == ws.ID {
				mine = append(mine, a.ID)
			}
		}
		require.Equal(t, []string{ids[0], ids[1]}, mine, "oldest first, only those created before")

		require.NoError(t, b.store.InTx(b.ctx, func(tx store.Tx) error { return tx.AssetDelete(b.ctx, ids[0]) }))
		require.Equal(t, int64(28), used(t, b, ws.ID), "a deleted asset's bytes are uncounted")
		_, err = b.store.AssetGet(b.ctx, ws.ID, ids[0])
		require.ErrorIs(t, err, store.ErrNotFound)
		err = b.store.InTx(b.ctx, func(tx store.Tx) error { return tx.AssetDelete(b.ctx, ids[0]) })
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("RunPurge", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		done := b.fix.RunStart(b.fix.Run(ws.ID))
		open := b.fix.RunStart(b.fix.Run(ws.ID))
		step := &store.RunStep{RunID: done.ID, StepID: "s1", FinishedAt: b.fix.Now(), Outputs: []store.RunOutput{
			{ID: "mid", Type: "imageUrl", BlobKey: "runs/" + done.ID + "/s1/mid.png"},
			{ID: "out", Type: "imageUrl", BlobKey: "runs/" + done.ID + "/s1/out.png"}}}
		b.fix.inTx(func(tx store.Tx) error { return tx.RunStepInsert(b.ctx, step) })
		finished := b.fix.RunFinish(&store.RunFinishParams{RunID: done.ID, Status: store.RunCompleted, At: b.fix.Now(),
			Outputs: []store.RunOutput{{ID: "out", Type: "imageUrl", BlobKey: "runs/" + done.ID + "/s1/out.png"},
				{ID: "caption", Type: "text", Text: "hi"}}})

		purgeable := func(before int64) *store.RunPurge {
			list, err := b.store.RunListPurgeable(b.ctx, before, 10_000)
			require.NoError(t, err)
			var found *store.RunPurge
			for _, p := range list {
				require.NotEqual(t, open.ID, p.RunID, "an open run is never purged")
				if p.RunID == done.ID {
					found = p
				}
			}
			return found
		}
		require.Nil(t, purgeable(*finished.CompletedAt), "not before it completed")
		p := purgeable(*finished.CompletedAt + 1)
		require.NotNil(t, p)
		require.Equal(t, *finished.CompletedAt, p.CompletedAt)
		require.ElementsMatch(t, []string{"runs/" + done.ID + "/s1/out.png", "runs/" + done.ID + "/s1/mid.png"}, p.BlobKeys)

		require.NoError(t, b.store.InTx(b.ctx, func(tx store.Tx) error { return tx.RunPurgeOutputs(b.ctx, done.ID, b.fix.Now()) }))
		require.Nil(t, purgeable(*finished.CompletedAt+1), "purged once")
		r, err := b.store.RunGet(b.ctx, ws.ID, done.ID)
		require.NoError(t, err)
		require.Empty(t, r.Outputs)
		require.Equal(t, store.RunCompleted, r.Status)
		steps, err := b.store.RunStepList(b.ctx, done.ID)
		require.NoError(t, err)
		require.Empty(t, steps)
		err = b.store.InTx(b.ctx, func(tx store.Tx) error { return tx.RunPurgeOutputs(b.ctx, done.ID, b.fix.Now()) })
		require.True(t, errors.Is(err, store.ErrNotFound))
		err = b.store.InTx(b.ctx, func(tx store.Tx) error { return tx.RunPurgeOutputs(b.ctx, open.ID, b.fix.Now()) })
		require.ErrorIs(t, err, store.ErrNotFound, "an open run is not purged")
	})
}
