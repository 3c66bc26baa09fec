package storetest

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
)

func exerciseInTx(t *testing.T, setup setupFunc) {
	t.Helper()

	// writeEverything writes one row of each kind inside tx and returns the
	// ids it used.
	type written struct {
		workspaceID, runID, settingName string
		keyHash                         []byte
	}
	writeEverything := func(b *testBundle, tx store.Tx) (written, error) {
		w := written{settingName: b.fix.ID("setting")}
		ws, err := tx.WorkspaceInsert(b.ctx, b.fix.WorkspaceParams())
		if err != nil {
			return w, err
		}
		w.workspaceID = ws.ID
		if _, err := tx.CreditsApply(b.ctx, b.fix.GrantParams(ws.ID, 100)); err != nil {
			return w, err
		}
		kp := b.fix.APIKeyParams(ws.ID)
		w.keyHash = kp.Hash
		if _, err := tx.APIKeyInsert(b.ctx, kp); err != nil {
			return w, err
		}
		r, err := tx.RunInsert(b.ctx, b.fix.RunParams(ws.ID))
		if err != nil {
			return w, err
		}
		w.runID = r.ID
		if _, err := tx.CreditsApply(b.ctx, b.fix.ReserveParams(ws.ID, r.ID, 10)); err != nil {
			return w, err
		}
		if err := tx.RunStepInsert(b.ctx, &store.RunStep{RunID: r.ID, StepID: "s1", FinishedAt: b.fix.Now()}); err != nil {
			return w, err
		}
		if _, err := tx.SettingInsertIfAbsent(b.ctx, w.settingName, "v"); err != nil {
			return w, err
		}
		return w, nil
	}
	requireNothingWritten := func(t *testing.T, b *testBundle, w written) {
		t.Helper()
		_, err := b.store.WorkspaceGet(b.ctx, w.workspaceID)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = b.store.APIKeyGetByHash(b.ctx, w.keyHash)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = b.store.RunGetByID(b.ctx, w.runID)
		require.ErrorIs(t, err, store.ErrNotFound)
		steps, err := b.store.RunStepList(b.ctx, w.runID)
		require.NoError(t, err)
		require.Empty(t, steps)
		entries, err := b.store.LedgerList(b.ctx, w.workspaceID)
		require.NoError(t, err)
		require.Empty(t, entries)
		_, err = b.store.SettingGet(b.ctx, w.settingName)
		require.ErrorIs(t, err, store.ErrNotFound)
	}

	t.Run("ErrorRollsBack", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		errBoom := errors.New("boom")

		var (
			w        written
			writeErr error
		)
		err := b.store.InTx(b.ctx, func(tx store.Tx) error {
			w, writeErr = writeEverything(b, tx)
			return errBoom
		})
		require.NoError(t, writeErr)
		require.ErrorIs(t, err, errBoom)
		requireNothingWritten(t, b, w)

		// The writer is free again.
		b.fix.Workspace()
	})

	t.Run("PanicRollsBack", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		var (
			w        written
			writeErr error
		)
		require.PanicsWithValue(t, "boom", func() {
			_ = b.store.InTx(b.ctx, func(tx store.Tx) error {
				w, writeErr = writeEverything(b, tx)
				panic("boom")
			})
		})
		require.NoError(t, writeErr)
		requireNothingWritten(t, b, w)

		// The writer is free again.
		b.fix.Workspace()
	})

	t.Run("CommitPersists", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		var w written
		b.fix.inTx(func(tx store.Tx) (err error) {
			w, err = writeEverything(b, tx)
			return err
		})
		ws, err := b.store.WorkspaceGet(b.ctx, w.workspaceID)
		require.NoError(t, err)
		require.Equal(t, int64(90), ws.Balance)
		_, err = b.store.RunGetByID(b.ctx, w.runID)
		require.NoError(t, err)
		v, err := b.store.SettingGet(b.ctx, w.settingName)
		require.NoError(t, err)
		require.Equal(t, "v", v)
	})

	t.Run("ReadsSeeOwnWrites", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		// Collect inside the transaction, assert after it: a failed require
		// inside fn would stop the goroutine with the transaction open.
		type seen struct {
			ws          *store.Workspace
			wsErr       error
			outsideErr  error
			run         *store.Run
			runErr      error
			byKey       *store.Run
			byKeyErr    error
			key         *store.APIKey
			keyErr      error
			entries     []*store.LedgerEntry
			entriesErr  error
			steps       []*store.RunStep
			stepsErr    error
			setting     string
			settingErr  error
			listed      []*store.Workspace
			listedErr   error
			writtenErr  error
			written     written
			insertedRun *store.Run
		}
		var s seen
		b.fix.inTx(func(tx store.Tx) error {
			s.written, s.writtenErr = writeEverything(b, tx)
			if s.writtenErr != nil {
				return s.writtenErr
			}
			w := s.written
			s.ws, s.wsErr = tx.WorkspaceGet(b.ctx, w.workspaceID)
			_, s.outsideErr = b.store.WorkspaceGet(b.ctx, w.workspaceID)
			s.listed, s.listedErr = tx.WorkspaceList(b.ctx)
			s.key, s.keyErr = tx.APIKeyGetByHash(b.ctx, w.keyHash)
			s.run, s.runErr = tx.RunGet(b.ctx, w.workspaceID, w.runID)
			p := b.fix.RunParams(w.workspaceID)
			p.IdempotencyKey = "idem-1"
			s.insertedRun, _ = tx.RunInsert(b.ctx, p)
			s.byKey, s.byKeyErr = tx.RunGetByIdempotencyKey(b.ctx, w.workspaceID, "idem-1")
			s.entries, s.entriesErr = tx.LedgerList(b.ctx, w.workspaceID)
			s.steps, s.stepsErr = tx.RunStepList(b.ctx, w.runID)
			s.setting, s.settingErr = tx.SettingGet(b.ctx, w.settingName)
			return nil
		})

		require.NoError(t, s.writtenErr)
		require.NoError(t, s.wsErr)
		require.Equal(t, int64(90), s.ws.Balance)
		require.ErrorIs(t, s.outsideErr, store.ErrNotFound, "uncommitted writes are invisible outside the transaction")
		require.NoError(t, s.listedErr)
		require.True(t, containsWorkspace(s.listed, s.written.workspaceID))
		require.NoError(t, s.keyErr)
		require.Equal(t, s.written.workspaceID, s.key.WorkspaceID)
		require.NoError(t, s.runErr)
		require.Equal(t, s.written.runID, s.run.ID)
		require.NotNil(t, s.insertedRun)
		require.NoError(t, s.byKeyErr)
		require.Equal(t, apiView(s.insertedRun), s.byKey)
		require.NoError(t, s.entriesErr)
		require.Len(t, s.entries, 2)
		require.NoError(t, s.stepsErr)
		require.Len(t, s.steps, 1)
		require.NoError(t, s.settingErr)
		require.Equal(t, "v", s.setting)

		_, err := b.store.WorkspaceGet(b.ctx, s.written.workspaceID)
		require.NoError(t, err, "visible once committed")
	})
}

func containsWorkspace(list []*store.Workspace, id string) bool {
	for _, w := range list {
		if w.ID == id {
			return true
		}
	}
	return false
}
