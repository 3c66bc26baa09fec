package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
)

func exerciseSetting(t *testing.T, setup setupFunc) {
	t.Helper()

	insertIfAbsent := func(b *testBundle, name, value string) (string, error) {
		var got string
		err := b.store.InTx(b.ctx, func(tx store.Tx) (err error) {
			got, err = tx.SettingInsertIfAbsent(b.ctx, name, value)
			return err
		})
		return got, err
	}

	t.Run("InsertIfAbsentKeepsFirst", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		name := b.fix.ID("setting")

		got, err := insertIfAbsent(b, name, "first")
		require.NoError(t, err)
		require.Equal(t, "first", got)

		got, err = insertIfAbsent(b, name, "second")
		require.NoError(t, err)
		require.Equal(t, "first", got, "the value in force is returned")

		got, err = b.store.SettingGet(b.ctx, name)
		require.NoError(t, err)
		require.Equal(t, "first", got)
	})

	t.Run("GetUnknown", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		_, err := b.store.SettingGet(b.ctx, b.fix.ID("setting"))
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}
