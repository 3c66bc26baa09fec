package storetest

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
)

func exerciseWorkspace(t *testing.T, setup setupFunc) {
	t.Helper()

	t.Run("InsertGetList", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		var want []*store.Workspace
		for range 3 {
			p := b.fix.WorkspaceParams()
			var w *store.Workspace
			b.fix.inTx(func(tx store.Tx) (err error) {
				w, err = tx.WorkspaceInsert(b.ctx, p)
				return err
			})
			require.Equal(t, &store.Workspace{
				ID: p.ID, Name: p.Name, Balance: 0, WebhookSecret: p.WebhookSecret, CreatedAt: p.CreatedAt,
			}, w)
			want = append(want, w)

			got, err := b.store.WorkspaceGet(b.ctx, p.ID)
			require.NoError(t, err)
			require.Equal(t, w, got)
		}

		all, err := b.store.WorkspaceList(b.ctx)
		require.NoError(t, err)
		ours := slices.DeleteFunc(all, func(w *store.Workspace) bool {
			return !slices.ContainsFunc(want, func(x *store.Workspace) bool { return x.ID == w.ID })
		})
		require.Equal(t, want, ours, "WorkspaceList lists by creation time")
	})

	t.Run("GetUnknown", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		_, err := b.store.WorkspaceGet(b.ctx, b.fix.ID("ws"))
		require.ErrorIs(t, err, store.ErrNotFound)

		var txErr error
		b.fix.inTx(func(tx store.Tx) error {
			_, txErr = tx.WorkspaceGet(b.ctx, b.fix.ID("ws"))
			return nil
		})
		require.ErrorIs(t, txErr, store.ErrNotFound)
	})

	t.Run("DuplicateID", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		first := b.fix.Workspace()

		p := b.fix.WorkspaceParams()
		p.ID = first.ID
		err := b.store.InTx(b.ctx, func(tx store.Tx) error {
			_, err := tx.WorkspaceInsert(b.ctx, p)
			return err
		})
		require.ErrorIs(t, err, store.ErrAlreadyExists)

		got, err := b.store.WorkspaceGet(b.ctx, first.ID)
		require.NoError(t, err)
		require.Equal(t, first, got, "the first workspace is untouched")
	})
}
