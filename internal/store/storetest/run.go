package storetest

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
)

// apiView is r as the API's reads (RunGet, RunGetByIdempotencyKey,
// RunList) return it: without inputs.
func apiView(r *store.Run) *store.Run {
	v := *r
	v.Inputs = nil
	return &v
}

func exerciseRun(t *testing.T, setup setupFunc) {
	t.Helper()

	insert := func(b *testBundle, p *store.RunInsertParams) (*store.Run, error) {
		var r *store.Run
		err := b.store.InTx(b.ctx, func(tx store.Tx) (err error) {
			r, err = tx.RunInsert(b.ctx, p)
			return err
		})
		return r, err
	}
	start := func(b *testBundle, runID string, at int64) (*store.Run, error) {
		var r *store.Run
		err := b.store.InTx(b.ctx, func(tx store.Tx) (err error) {
			r, err = tx.RunStart(b.ctx, runID, at)
			return err
		})
		return r, err
	}
	finish := func(b *testBundle, p *store.RunFinishParams) (*store.Run, error) {
		var r *store.Run
		err := b.store.InTx(b.ctx, func(tx store.Tx) (err error) {
			r, err = tx.RunFinish(b.ctx, p)
			return err
		})
		return r, err
	}
	getByID := func(t *testing.T, b *testBundle, runID string) *store.Run {
		t.Helper()
		r, err := b.store.RunGetByID(b.ctx, runID)
		require.NoError(t, err)
		return r
	}
	ptr := func(v int64) *int64 { return &v }

	t.Run("InsertGet", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws, other := b.fix.Workspace(), b.fix.Workspace()

		p := b.fix.RunParams(ws.ID)
		p.IdempotencyKey = "idem-" + p.ID
		r, err := insert(b, p)
		require.NoError(t, err)
		require.Equal(t, p.ID, r.ID)
		require.Equal(t, ws.ID, r.WorkspaceID)
		require.Equal(t, p.TechniqueID, r.TechniqueID)
		require.Equal(t, p.TechniqueSlug, r.TechniqueSlug)
		require.Equal(t, p.TechniqueVersion, r.TechniqueVersion)
		require.Equal(t, store.RunPending, r.Status)
		require.Equal(t, 0, r.Progress)
		require.Equal(t, p.Inputs, r.Inputs, "inputs round-trip")
		require.Equal(t, p.Mode, r.Mode)
		require.Equal(t, p.CallbackURL, r.CallbackURL)
		require.Equal(t, p.IdempotencyKey, r.IdempotencyKey)
		require.Equal(t, p.Fingerprint, r.Fingerprint)
		require.Equal(t, p.Credits, r.Credits)
		require.Equal(t, p.CreatedAt, r.CreatedAt)
		require.Nil(t, r.ChargedCredits)
		require.Empty(t, r.Outputs)
		require.Empty(t, r.ErrorCode)
		require.Empty(t, r.ErrorMessage)
		require.Nil(t, r.StartedAt)
		require.Nil(t, r.CompletedAt)
		require.False(t, r.Finished())

		got, err := b.store.RunGet(b.ctx, ws.ID, r.ID)
		require.NoError(t, err)
		require.Equal(t, apiView(r), got, "the API's read leaves the inputs out")
		require.Equal(t, r, getByID(t, b, r.ID))

		_, err = b.store.RunGet(b.ctx, other.ID, r.ID)
		require.ErrorIs(t, err, store.ErrNotFound, "RunGet is scoped to the workspace")
		_, err = b.store.RunGet(b.ctx, ws.ID, b.fix.ID("run"))
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = b.store.RunGetByID(b.ctx, b.fix.ID("run"))
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("IdempotencyKey", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws, other := b.fix.Workspace(), b.fix.Workspace()
		const key = "client-key-1"

		p := b.fix.RunParams(ws.ID)
		p.IdempotencyKey = key
		first, err := insert(b, p)
		require.NoError(t, err)

		p2 := b.fix.RunParams(ws.ID)
		p2.IdempotencyKey = key
		_, err = insert(b, p2)
		require.ErrorIs(t, err, store.ErrAlreadyExists)
		_, err = b.store.RunGetByID(b.ctx, p2.ID)
		require.ErrorIs(t, err, store.ErrNotFound, "the refused run was not written")

		p3 := b.fix.RunParams(other.ID)
		p3.IdempotencyKey = key
		third, err := insert(b, p3)
		require.NoError(t, err, "the same key in another workspace is fine")

		got, err := b.store.RunGetByIdempotencyKey(b.ctx, ws.ID, key)
		require.NoError(t, err)
		require.Equal(t, apiView(first), got)
		got, err = b.store.RunGetByIdempotencyKey(b.ctx, other.ID, key)
		require.NoError(t, err)
		require.Equal(t, apiView(third), got)
		_, err = b.store.RunGetByIdempotencyKey(b.ctx, ws.ID, "unknown-key")
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("EmptyIdempotencyKeyNeverConflicts", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()

		for range 3 {
			r, err := insert(b, b.fix.RunParams(ws.ID))
			require.NoError(t, err)
			require.Empty(t, r.IdempotencyKey)
		}
		_, err := b.store.RunGetByIdempotencyKey(b.ctx, ws.ID, "")
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("ConcurrentIdempotencyKey", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		const workers = 50

		params := make([]*store.RunInsertParams, workers)
		for i := range params {
			params[i] = b.fix.RunParams(ws.ID)
			params[i].IdempotencyKey = "same-key"
		}
		var (
			wg    sync.WaitGroup
			begin = make(chan struct{})
			errs  = make([]error, workers)
		)
		for i := range workers {
			wg.Go(func() {
				<-begin
				errs[i] = b.store.InTx(b.ctx, func(tx store.Tx) error {
					_, err := tx.RunInsert(b.ctx, params[i])
					return err
				})
			})
		}
		close(begin)
		wg.Wait()

		winner := -1
		for i, err := range errs {
			if err == nil {
				require.Equal(t, -1, winner, "two inserts won: %d and %d", winner, i)
				winner = i
				continue
			}
			require.ErrorIs(t, err, store.ErrAlreadyExists, "worker %d", i)
		}
		require.NotEqual(t, -1, winner, "one insert must win")

		got, err := b.store.RunGetByIdempotencyKey(b.ctx, ws.ID, "same-key")
		require.NoError(t, err)
		require.Equal(t, params[winner].ID, got.ID)
	})

	t.Run("Start", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		r := b.fix.Run(ws.ID)

		at := b.fix.Now()
		started, err := start(b, r.ID, at)
		require.NoError(t, err)
		require.Equal(t, store.RunRunning, started.Status)
		require.NotNil(t, started.StartedAt)
		require.Equal(t, at, *started.StartedAt)
		require.Equal(t, started, getByID(t, b, r.ID))

		again, err := start(b, r.ID, b.fix.Now())
		require.NoError(t, err, "starting a running run is not an error")
		require.Equal(t, started, again, "a running run is returned unchanged")
		require.Equal(t, started, getByID(t, b, r.ID))

		finished := b.fix.RunFinish(&store.RunFinishParams{RunID: r.ID, Status: store.RunCompleted, At: b.fix.Now()})
		_, err = start(b, r.ID, b.fix.Now())
		require.ErrorIs(t, err, store.ErrRunFinished)
		require.Equal(t, finished, getByID(t, b, r.ID))

		_, err = start(b, b.fix.ID("run"), b.fix.Now())
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("SetProgress", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		r := b.fix.Run(ws.ID)
		b.fix.RunStart(r.ID)

		b.fix.RunSetProgress(r.ID, 50)
		require.Equal(t, 50, getByID(t, b, r.ID).Progress)
		b.fix.RunSetProgress(r.ID, 30)
		require.Equal(t, 50, getByID(t, b, r.ID).Progress, "progress never goes down")
		b.fix.RunSetProgress(r.ID, 70)
		require.Equal(t, 70, getByID(t, b, r.ID).Progress)

		failed := b.fix.RunFinish(&store.RunFinishParams{
			RunID: r.ID, Status: store.RunFailed, ErrorCode: "boom", ErrorMessage: "it broke", At: b.fix.Now(),
		})
		b.fix.RunSetProgress(r.ID, 90)
		require.Equal(t, failed, getByID(t, b, r.ID), "a finished run is not touched")

		done := b.fix.Run(ws.ID)
		completed := b.fix.RunFinish(&store.RunFinishParams{RunID: done.ID, Status: store.RunCompleted, At: b.fix.Now()})
		require.Equal(t, 100, completed.Progress)
		b.fix.RunSetProgress(done.ID, 99)
		require.Equal(t, completed, getByID(t, b, done.ID))
	})

	t.Run("FinishCompleted", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		r := b.fix.Run(ws.ID)
		started := b.fix.RunStart(r.ID)
		b.fix.RunSetProgress(r.ID, 40)

		outputs := []store.RunOutput{
			{ID: "image", Type: "image", BlobKey: "blob/out/" + r.ID, ContentType: "image/png", Size: 12345},
			{ID: "caption", Type: "text", Text: "a cat"},
		}
		at := b.fix.Now()
		done, err := finish(b, &store.RunFinishParams{
			RunID: r.ID, Status: store.RunCompleted, Outputs: outputs, ChargedCredits: ptr(7), At: at,
		})
		require.NoError(t, err)
		require.Equal(t, store.RunCompleted, done.Status)
		require.True(t, done.Finished())
		require.Equal(t, 100, done.Progress)
		require.Equal(t, outputs, done.Outputs)
		require.Equal(t, ptr(7), done.ChargedCredits)
		require.Equal(t, ptr(at), done.CompletedAt)
		require.Equal(t, started.StartedAt, done.StartedAt)
		require.Empty(t, done.ErrorCode)
		require.Empty(t, done.ErrorMessage)
		require.Equal(t, r.Inputs, done.Inputs)
		require.Equal(t, done, getByID(t, b, r.ID))
	})

	t.Run("FinishFailed", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		r := b.fix.Run(ws.ID)
		b.fix.RunStart(r.ID)
		b.fix.RunSetProgress(r.ID, 40)

		at := b.fix.Now()
		failed, err := finish(b, &store.RunFinishParams{
			RunID: r.ID, Status: store.RunFailed, ErrorCode: "technique_error", ErrorMessage: "model crashed", At: at,
		})
		require.NoError(t, err)
		require.Equal(t, store.RunFailed, failed.Status)
		require.True(t, failed.Finished())
		require.Equal(t, 40, failed.Progress, "a failed run keeps its progress")
		require.Equal(t, "technique_error", failed.ErrorCode)
		require.Equal(t, "model crashed", failed.ErrorMessage)
		require.Nil(t, failed.ChargedCredits)
		require.Empty(t, failed.Outputs)
		require.Equal(t, ptr(at), failed.CompletedAt)
		require.Equal(t, failed, getByID(t, b, r.ID))
	})

	t.Run("FinishFinished", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		r := b.fix.Run(ws.ID)
		b.fix.RunStart(r.ID)
		done := b.fix.RunFinish(&store.RunFinishParams{
			RunID: r.ID, Status: store.RunCompleted, ChargedCredits: ptr(3),
			Outputs: []store.RunOutput{{ID: "o", Type: "text", Text: "first"}}, At: b.fix.Now(),
		})

		for _, p := range []*store.RunFinishParams{
			{RunID: r.ID, Status: store.RunFailed, ErrorCode: "late", ErrorMessage: "too late", At: b.fix.Now()},
			{RunID: r.ID, Status: store.RunCompleted, ChargedCredits: ptr(9),
				Outputs: []store.RunOutput{{ID: "o", Type: "text", Text: "second"}}, At: b.fix.Now()},
		} {
			_, err := finish(b, p)
			require.ErrorIs(t, err, store.ErrRunFinished)
			require.Equal(t, done, getByID(t, b, r.ID), "the finished run is unchanged")
		}

		_, err := finish(b, &store.RunFinishParams{RunID: b.fix.ID("run"), Status: store.RunFailed, At: b.fix.Now()})
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

func exerciseRunStep(t *testing.T, setup setupFunc) {
	t.Helper()

	insert := func(b *testBundle, s *store.RunStep) error {
		return b.store.InTx(b.ctx, func(tx store.Tx) error { return tx.RunStepInsert(b.ctx, s) })
	}

	t.Run("InsertList", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		r := b.fix.Run(ws.ID)
		otherRun := b.fix.Run(ws.ID)

		s1 := &store.RunStep{RunID: r.ID, StepID: "decode", FinishedAt: b.fix.Now(), Outputs: []store.RunOutput{
			{ID: "frames", Type: "image", BlobKey: "blob/frames", ContentType: "image/png", Size: 99},
		}}
		s2 := &store.RunStep{RunID: r.ID, StepID: "caption", FinishedAt: b.fix.Now(), Outputs: []store.RunOutput{
			{ID: "caption", Type: "text", Text: "hello"},
		}}
		require.NoError(t, insert(b, s1))
		require.NoError(t, insert(b, s2))
		require.NoError(t, insert(b, &store.RunStep{RunID: otherRun.ID, StepID: "decode", FinishedAt: b.fix.Now()}),
			"step ids are per run")

		steps, err := b.store.RunStepList(b.ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, []*store.RunStep{s1, s2}, steps)

		steps, err = b.store.RunStepList(b.ctx, otherRun.ID)
		require.NoError(t, err)
		require.Len(t, steps, 1)
		require.Empty(t, steps[0].Outputs)

		steps, err = b.store.RunStepList(b.ctx, b.fix.ID("run"))
		require.NoError(t, err)
		require.Empty(t, steps)
	})

	t.Run("Duplicate", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		r := b.fix.Run(ws.ID)

		first := &store.RunStep{RunID: r.ID, StepID: "decode", FinishedAt: b.fix.Now(),
			Outputs: []store.RunOutput{{ID: "o", Type: "text", Text: "first"}}}
		require.NoError(t, insert(b, first))
		err := insert(b, &store.RunStep{RunID: r.ID, StepID: "decode", FinishedAt: b.fix.Now(),
			Outputs: []store.RunOutput{{ID: "o", Type: "text", Text: "second"}}})
		require.ErrorIs(t, err, store.ErrAlreadyExists)

		steps, err := b.store.RunStepList(b.ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, []*store.RunStep{first}, steps)
	})
}
