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

	// A statement that failed gives the whole transaction up: it never
	// commits, even when fn carries on and returns nil. PostgreSQL aborts
	// such a transaction by itself; SQLite, which undoes only the failed
	// statement, is held to the same rule.
	t.Run("FailedStatementNeverCommits", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		b.fix.Grant(ws.ID, 100)
		r := b.fix.Run(ws.ID, func(p *store.RunInsertParams) { p.IdempotencyKey = "idem-taken" })
		_, err := b.store.WorkspaceGet(b.ctx, ws.ID)
		require.NoError(t, err)
		kp := b.fix.APIKeyParams(ws.ID)
		tech := &store.TechniqueRecord{Slug: b.fix.ID("tech"), Version: "1.0.0", Source: []byte("x"), CreatedAt: b.fix.Now()}
		delivery := &store.WebhookDeliveryInsertParams{ID: b.fix.ID("whd"), WorkspaceID: ws.ID, RunID: r.ID,
			EventType: "run.completed", URL: "https://example.com/h", CreatedAt: b.fix.Now()}
		step := &store.RunStep{RunID: r.ID, StepID: "s1", FinishedAt: b.fix.Now()}
		b.fix.inTx(func(tx store.Tx) error {
			if _, err := tx.CreditsApply(b.ctx, b.fix.ReserveParams(ws.ID, r.ID, 10)); err != nil {
				return err
			}
			if _, err := tx.APIKeyInsert(b.ctx, kp); err != nil {
				return err
			}
			if err := tx.TechniqueInsert(b.ctx, tech); err != nil {
				return err
			}
			if _, err := tx.WebhookDeliveryInsert(b.ctx, delivery); err != nil {
				return err
			}
			return tx.RunStepInsert(b.ctx, step)
		})

		for _, c := range []struct {
			name string
			fail func(tx store.Tx) error
		}{
			{"second reserve of a run", func(tx store.Tx) error {
				_, err := tx.CreditsApply(b.ctx, b.fix.ReserveParams(ws.ID, r.ID, 10))
				return err
			}},
			{"taken idempotency key", func(tx store.Tx) error {
				_, err := tx.RunInsert(b.ctx, b.fix.RunParams(ws.ID, func(p *store.RunInsertParams) { p.IdempotencyKey = "idem-taken" }))
				return err
			}},
			{"taken run id", func(tx store.Tx) error {
				_, err := tx.RunInsert(b.ctx, b.fix.RunParams(ws.ID, func(p *store.RunInsertParams) { p.ID = r.ID }))
				return err
			}},
			{"recorded step", func(tx store.Tx) error { return tx.RunStepInsert(b.ctx, step) }},
			{"taken workspace id", func(tx store.Tx) error {
				p := b.fix.WorkspaceParams()
				p.ID = ws.ID
				_, err := tx.WorkspaceInsert(b.ctx, p)
				return err
			}},
			{"taken key hash", func(tx store.Tx) error {
				p := b.fix.APIKeyParams(ws.ID)
				p.Hash = kp.Hash
				_, err := tx.APIKeyInsert(b.ctx, p)
				return err
			}},
			{"stored technique version", func(tx store.Tx) error { return tx.TechniqueInsert(b.ctx, tech) }},
			{"second delivery of an event", func(tx store.Tx) error {
				p := *delivery
				p.ID = b.fix.ID("whd")
				_, err := tx.WebhookDeliveryInsert(b.ctx, &p)
				return err
			}},
		} {
			setting, wsp := b.fix.ID("setting"), b.fix.WorkspaceParams()
			var before, failErr error
			err := b.store.InTx(b.ctx, func(tx store.Tx) error {
				if _, before = tx.SettingInsertIfAbsent(b.ctx, setting, "v"); before != nil {
					return before
				}
				if _, before = tx.WorkspaceInsert(b.ctx, wsp); before != nil {
					return before
				}
				failErr = c.fail(tx)
				// Carrying on regardless, as a careless caller would.
				_, _ = tx.SettingInsertIfAbsent(b.ctx, setting+"_after", "v")
				return nil
			})
			require.NoError(t, before, c.name)
			require.ErrorIs(t, failErr, store.ErrAlreadyExists, c.name)
			require.ErrorIs(t, err, store.ErrAlreadyExists, "%s: the transaction must not commit", c.name)
			_, err = b.store.SettingGet(b.ctx, setting)
			require.ErrorIs(t, err, store.ErrNotFound, "%s: a write before the failure was committed", c.name)
			_, err = b.store.SettingGet(b.ctx, setting+"_after")
			require.ErrorIs(t, err, store.ErrNotFound, "%s: a write after the failure was committed", c.name)
			_, err = b.store.WorkspaceGet(b.ctx, wsp.ID)
			require.ErrorIs(t, err, store.ErrNotFound, c.name)
		}

		w, err := b.store.WorkspaceGet(b.ctx, ws.ID)
		require.NoError(t, err)
		require.Equal(t, int64(90), w.Balance)
		require.Len(t, requireLedgerExplainsBalance(t, b.ctx, b.store, ws.ID), 2)
		// The writer is free again.
		b.fix.Workspace()
	})

	// The refusals documented on the Tx methods are answers, not failures:
	// the transaction carries on and commits.
	t.Run("RefusalsDoNotSpoilTheTransaction", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		b.fix.Grant(ws.ID, 10)
		open := b.fix.Run(ws.ID)
		ended := b.fix.Run(ws.ID)
		b.fix.RunFinish(&store.RunFinishParams{RunID: ended.ID, Status: store.RunCompleted, At: b.fix.Now()})
		endedBefore, err := b.store.RunGetByID(b.ctx, ended.ID)
		require.NoError(t, err)
		unknown, stranger := b.fix.ID("unknown"), b.fix.JobID()
		now := b.fix.Now()

		type refusal struct {
			name string
			want error
			do   func(tx store.Tx) error
		}
		refusals := []refusal{
			{"overdraw", store.ErrInsufficientCredits, func(tx store.Tx) error {
				_, err := tx.CreditsApply(b.ctx, b.fix.ReserveParams(ws.ID, b.fix.ID("run"), 11))
				return err
			}},
			{"credits of unknown workspace", store.ErrNotFound, func(tx store.Tx) error {
				_, err := tx.CreditsApply(b.ctx, b.fix.GrantParams(unknown, 1))
				return err
			}},
			{"start by stranger", store.ErrNotOwner, func(tx store.Tx) error {
				_, _, err := tx.RunStart(b.ctx, &store.RunStartParams{RunID: open.ID, JobID: stranger, At: now, LeaseUntil: now})
				return err
			}},
			{"start ended", store.ErrRunFinished, func(tx store.Tx) error {
				_, _, err := tx.RunStart(b.ctx, &store.RunStartParams{RunID: ended.ID, JobID: ended.JobID, At: now, LeaseUntil: now})
				return err
			}},
			{"start unknown", store.ErrNotFound, func(tx store.Tx) error {
				_, _, err := tx.RunStart(b.ctx, &store.RunStartParams{RunID: unknown, JobID: open.JobID, At: now, LeaseUntil: now})
				return err
			}},
			{"renew by stranger", store.ErrNotOwner, func(tx store.Tx) error {
				return tx.RunRenewLease(b.ctx, &store.RunLeaseParams{RunID: open.ID, JobID: stranger, LeaseUntil: now})
			}},
			{"renew ended", store.ErrRunFinished, func(tx store.Tx) error {
				return tx.RunRenewLease(b.ctx, &store.RunLeaseParams{RunID: ended.ID, JobID: ended.JobID, LeaseUntil: now})
			}},
			{"hand over by stranger", store.ErrNotOwner, func(tx store.Tx) error {
				return tx.RunSetOwner(b.ctx, &store.RunOwnerParams{RunID: open.ID, FromJobID: stranger, ToJobID: stranger, LeaseUntil: now})
			}},
			{"hand over ended", store.ErrRunFinished, func(tx store.Tx) error {
				return tx.RunSetOwner(b.ctx, &store.RunOwnerParams{RunID: ended.ID, FromJobID: ended.JobID, ToJobID: stranger, LeaseUntil: now})
			}},
			{"hand over unknown", store.ErrNotFound, func(tx store.Tx) error {
				return tx.RunSetOwner(b.ctx, &store.RunOwnerParams{RunID: unknown, FromJobID: 1, ToJobID: 2, LeaseUntil: now})
			}},
			{"finish by stranger", store.ErrNotOwner, func(tx store.Tx) error {
				_, err := tx.RunFinish(b.ctx, &store.RunFinishParams{RunID: open.ID, JobID: stranger, Status: store.RunFailed, At: now})
				return err
			}},
			{"finish ended", store.ErrRunFinished, func(tx store.Tx) error {
				_, err := tx.RunFinish(b.ctx, &store.RunFinishParams{RunID: ended.ID, Status: store.RunFailed, At: now})
				return err
			}},
			{"finish unknown", store.ErrNotFound, func(tx store.Tx) error {
				_, err := tx.RunFinish(b.ctx, &store.RunFinishParams{RunID: unknown, Status: store.RunFailed, At: now})
				return err
			}},
			{"event after the end", store.ErrRunFinished, func(tx store.Tx) error {
				_, err := tx.RunEventInsert(b.ctx, b.fix.EventParams(ended.ID, "run.progress"))
				return err
			}},
			{"event of unknown run", store.ErrNotFound, func(tx store.Tx) error {
				_, err := tx.RunEventInsert(b.ctx, b.fix.EventParams(unknown, "run.progress"))
				return err
			}},
			{"revoke unknown key", store.ErrNotFound, func(tx store.Tx) error { return tx.APIKeyRevoke(b.ctx, unknown, now) }},
			{"update unknown delivery", store.ErrNotFound, func(tx store.Tx) error {
				_, err := tx.WebhookDeliveryUpdate(b.ctx, &store.WebhookDeliveryUpdateParams{ID: unknown, State: store.WebhookFailed})
				return err
			}},
			{"attempt of unknown delivery", store.ErrNotFound, func(tx store.Tx) error {
				_, err := tx.WebhookAttemptInsert(b.ctx, &store.WebhookAttemptInsertParams{DeliveryID: unknown, AttemptedAt: now})
				return err
			}},
			{"rotate unknown workspace", store.ErrNotFound, func(tx store.Tx) error {
				_, err := tx.WorkspaceWebhookSecretRotate(b.ctx, &store.WebhookSecretRotateParams{WorkspaceID: unknown, Secret: "s"})
				return err
			}},
			{"read unknown workspace", store.ErrNotFound, func(tx store.Tx) error { _, err := tx.WorkspaceGet(b.ctx, unknown); return err }},
			{"read unknown run", store.ErrNotFound, func(tx store.Tx) error { _, err := tx.RunGet(b.ctx, ws.ID, unknown); return err }},
			{"read unknown run by id", store.ErrNotFound, func(tx store.Tx) error { _, err := tx.RunGetByID(b.ctx, unknown); return err }},
			{"read unknown idempotency key", store.ErrNotFound, func(tx store.Tx) error {
				_, err := tx.RunGetByIdempotencyKey(b.ctx, ws.ID, unknown)
				return err
			}},
			{"read run with unknown key", store.ErrNotFound, func(tx store.Tx) error {
				_, _, err := tx.RunGetWithKey(b.ctx, []byte(unknown), open.ID)
				return err
			}},
			{"read unknown run state", store.ErrNotFound, func(tx store.Tx) error { _, err := tx.RunStateGet(b.ctx, unknown); return err }},
			{"read unknown key", store.ErrNotFound, func(tx store.Tx) error { _, err := tx.APIKeyGetByHash(b.ctx, []byte(unknown)); return err }},
			{"read unknown setting", store.ErrNotFound, func(tx store.Tx) error { _, err := tx.SettingGet(b.ctx, unknown); return err }},
			{"read unknown technique", store.ErrNotFound, func(tx store.Tx) error {
				_, err := tx.TechniqueGetVersion(b.ctx, "", unknown, "1.0.0")
				return err
			}},
			{"read unknown delivery", store.ErrNotFound, func(tx store.Tx) error {
				_, err := tx.WebhookDeliveryGet(b.ctx, ws.ID, unknown)
				return err
			}},
			{"read unknown delivery by id", store.ErrNotFound, func(tx store.Tx) error {
				_, err := tx.WebhookDeliveryGetByID(b.ctx, unknown)
				return err
			}},
			{"read unknown secrets", store.ErrNotFound, func(tx store.Tx) error {
				_, err := tx.WorkspaceWebhookSecrets(b.ctx, unknown)
				return err
			}},
		}

		before, after := b.fix.ID("setting"), b.fix.ID("setting")
		errs := make([]error, len(refusals))
		var progressed bool
		var progressErr error
		b.fix.inTx(func(tx store.Tx) error {
			if _, err := tx.SettingInsertIfAbsent(b.ctx, before, "v"); err != nil {
				return err
			}
			for i, r := range refusals {
				errs[i] = r.do(tx)
			}
			progressed, progressErr = tx.RunSetProgress(b.ctx, ended.ID, 50)
			_, err := tx.SettingInsertIfAbsent(b.ctx, after, "v")
			return err
		})
		for i, r := range refusals {
			require.ErrorIs(t, errs[i], r.want, r.name)
		}
		require.NoError(t, progressErr)
		require.False(t, progressed)
		for _, name := range []string{before, after} {
			v, err := b.store.SettingGet(b.ctx, name)
			require.NoError(t, err, "the transaction committed")
			require.Equal(t, "v", v)
		}

		// And the refusals changed nothing.
		got, err := b.store.RunGetByID(b.ctx, open.ID)
		require.NoError(t, err)
		require.Equal(t, open, got)
		got, err = b.store.RunGetByID(b.ctx, ended.ID)
		require.NoError(t, err)
		require.Equal(t, endedBefore, got)
		w, err := b.store.WorkspaceGet(b.ctx, ws.ID)
		require.NoError(t, err)
		require.Equal(t, int64(10), w.Balance)
		requireLedgerExplainsBalance(t, b.ctx, b.store, ws.ID)
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
