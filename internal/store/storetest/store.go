package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
)

// exerciseStore covers the Store's own methods: the health check, the
// backend's name, and the SQL handles River works through.
func exerciseStore(t *testing.T, setup setupFunc) {
	t.Helper()

	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		require.NoError(t, b.store.Ping(b.ctx))
		ctx, cancel := context.WithCancel(b.ctx)
		cancel()
		require.ErrorIs(t, b.store.Ping(ctx), context.Canceled, "a health check gives up with its caller")
	})

	t.Run("Dialect", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		require.Contains(t, []string{"sqlite", "postgres"}, b.store.Dialect())
	})

	// River inserts and completes jobs through tx.SQLTx(): what it writes
	// there must commit and roll back with our own writes. The statements
	// carry their values inline, as placeholders differ between backends.
	t.Run("SQLTx", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		insertSetting := func(tx store.Tx, name string) error {
			_, err := tx.SQLTx().ExecContext(b.ctx, `INSERT INTO settings (name, value) VALUES ('`+name+`', 'raw')`)
			return err
		}

		errBoom := errors.New("boom")
		rolledBack, ws := b.fix.ID("setting"), b.fix.WorkspaceParams()
		err := b.store.InTx(b.ctx, func(tx store.Tx) error {
			if _, err := tx.WorkspaceInsert(b.ctx, ws); err != nil {
				return err
			}
			if err := insertSetting(tx, rolledBack); err != nil {
				return err
			}
			return errBoom
		})
		require.ErrorIs(t, err, errBoom)
		_, err = b.store.SettingGet(b.ctx, rolledBack)
		require.ErrorIs(t, err, store.ErrNotFound, "the raw statement rolled back with the transaction")
		_, err = b.store.WorkspaceGet(b.ctx, ws.ID)
		require.ErrorIs(t, err, store.ErrNotFound)

		committed := b.fix.ID("setting")
		var (
			inTx  string
			txErr error
		)
		b.fix.inTx(func(tx store.Tx) error {
			if err := insertSetting(tx, committed); err != nil {
				return err
			}
			inTx, txErr = tx.SettingGet(b.ctx, committed)
			return nil
		})
		require.NoError(t, txErr)
		require.Equal(t, "raw", inTx, "the store's reads in the transaction see the raw write")
		v, err := b.store.SettingGet(b.ctx, committed)
		require.NoError(t, err)
		require.Equal(t, "raw", v)
	})

	t.Run("WriterDB", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		name := b.fix.ID("setting")
		b.fix.inTx(func(tx store.Tx) error {
			_, err := tx.SettingInsertIfAbsent(b.ctx, name, "v")
			return err
		})

		db := b.store.WriterDB()
		require.NotNil(t, db)
		require.NoError(t, db.PingContext(b.ctx))
		var v string
		require.NoError(t, db.QueryRowContext(b.ctx, `SELECT value FROM settings WHERE name = '`+name+`'`).Scan(&v))
		require.Equal(t, "v", v, "the writer pool is the database the store writes")

		// The pool is free for our transactions after River's use of it.
		b.fix.Workspace()
	})
}
