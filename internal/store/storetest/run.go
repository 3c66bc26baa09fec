package storetest

import (
	"cmp"
	"slices"
	"strings"
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
	start := func(b *testBundle, p *store.RunStartParams) (*store.Run, bool, error) {
		var (
			r       *store.Run
			changed bool
		)
		err := b.store.InTx(b.ctx, func(tx store.Tx) (err error) {
			r, changed, err = tx.RunStart(b.ctx, p)
			return err
		})
		return r, changed, err
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
		require.Equal(t, p.JobID, r.JobID, "the job inserted with the run owns it")
		require.Equal(t, ptr(p.LeaseUntil), r.LeaseUntil)
		require.Zero(t, r.EventSeq, "RunInsert writes no event")

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

		// Another job may not start it.
		stranger := b.fix.RunStartParams(r)
		stranger.JobID = b.fix.JobID()
		_, changed, err := start(b, stranger)
		require.ErrorIs(t, err, store.ErrNotOwner)
		require.False(t, changed)
		require.Equal(t, r, getByID(t, b, r.ID), "a refused start changes nothing")

		p := b.fix.RunStartParams(r)
		started, changed, err := start(b, p)
		require.NoError(t, err)
		require.True(t, changed)
		require.Equal(t, store.RunRunning, started.Status)
		require.Equal(t, ptr(p.At), started.StartedAt)
		require.Equal(t, ptr(p.LeaseUntil), started.LeaseUntil, "starting renews the lease")
		require.Equal(t, r.JobID, started.JobID)
		require.Equal(t, r.Inputs, started.Inputs)
		require.Equal(t, started, getByID(t, b, r.ID))

		// The owner's retry resumes: the lease is renewed, nothing else.
		retry := b.fix.RunStartParams(r)
		again, changed, err := start(b, retry)
		require.NoError(t, err, "the owner starting its running run again is not an error")
		require.False(t, changed)
		want := *started
		want.LeaseUntil = ptr(retry.LeaseUntil)
		require.Equal(t, &want, again, "a running run keeps its start time and gets the new lease")
		require.Equal(t, &want, getByID(t, b, r.ID))

		stranger = b.fix.RunStartParams(r)
		stranger.JobID = b.fix.JobID()
		_, _, err = start(b, stranger)
		require.ErrorIs(t, err, store.ErrNotOwner, "nor may another job take a running run")
		require.Equal(t, &want, getByID(t, b, r.ID))

		finished := b.fix.RunFinish(&store.RunFinishParams{RunID: r.ID, Status: store.RunCompleted, At: b.fix.Now()})
		_, _, err = start(b, b.fix.RunStartParams(r))
		require.ErrorIs(t, err, store.ErrRunFinished)
		require.Equal(t, finished, getByID(t, b, r.ID))

		_, _, err = start(b, &store.RunStartParams{RunID: b.fix.ID("run"), JobID: r.JobID, At: b.fix.Now(), LeaseUntil: b.fix.Now()})
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("SetProgress", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		r := b.fix.Run(ws.ID)
		require.True(t, b.fix.RunSetProgress(r.ID, 10), "a pending run takes progress")
		b.fix.RunStart(r)

		require.True(t, b.fix.RunSetProgress(r.ID, 50))
		require.Equal(t, 50, getByID(t, b, r.ID).Progress)
		require.False(t, b.fix.RunSetProgress(r.ID, 30))
		require.Equal(t, 50, getByID(t, b, r.ID).Progress, "progress never goes down")
		require.False(t, b.fix.RunSetProgress(r.ID, 50), "the same progress is no change")
		require.True(t, b.fix.RunSetProgress(r.ID, 70))
		require.Equal(t, 70, getByID(t, b, r.ID).Progress)
		require.False(t, b.fix.RunSetProgress(b.fix.ID("run"), 80), "an unknown run changes nothing")

		failed := b.fix.RunFinish(&store.RunFinishParams{
			RunID: r.ID, Status: store.RunFailed, ErrorCode: "boom", ErrorMessage: "it broke", At: b.fix.Now(),
		})
		require.False(t, b.fix.RunSetProgress(r.ID, 90))
		require.Equal(t, failed, getByID(t, b, r.ID), "a finished run is not touched")

		done := b.fix.Run(ws.ID)
		at := b.fix.Now()
		completed := b.fix.RunFinish(&store.RunFinishParams{RunID: done.ID, Status: store.RunCompleted, At: at})
		require.Equal(t, 100, completed.Progress)
		require.Equal(t, ptr(at), completed.StartedAt, "a run finished while pending starts when it ends")
		require.False(t, b.fix.RunSetProgress(done.ID, 99))
		require.Equal(t, completed, getByID(t, b, done.ID))
	})

	t.Run("FinishCompleted", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		r := b.fix.Run(ws.ID)
		started := b.fix.RunStart(r)
		b.fix.RunSetProgress(r.ID, 40)

		outputs := []store.RunOutput{
			{ID: "image", Type: "image", BlobKey: "blob/out/" + r.ID, ContentType: "image/png", Size: 12345},
			{ID: "caption", Type: "text", Text: "a cat"},
		}
		at := b.fix.Now()
		done, err := finish(b, &store.RunFinishParams{
			RunID: r.ID, JobID: r.JobID, Status: store.RunCompleted, Outputs: outputs, ChargedCredits: ptr(7), At: at,
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
		require.Nil(t, done.LeaseUntil, "an ended run has no lease")
		require.Equal(t, r.JobID, done.JobID)
		require.Equal(t, done, getByID(t, b, r.ID))
	})

	t.Run("FinishFailed", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		r := b.fix.Run(ws.ID)
		b.fix.RunStart(r)
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
		require.Nil(t, failed.LeaseUntil)
		require.Equal(t, failed, getByID(t, b, r.ID))

		_, err = finish(b, &store.RunFinishParams{RunID: r.ID, Status: "cancelled", At: b.fix.Now()})
		require.Error(t, err, "only completed and failed are final statuses")
		open := b.fix.Run(ws.ID)
		_, err = finish(b, &store.RunFinishParams{RunID: open.ID, Status: store.RunRunning, At: b.fix.Now()})
		require.Error(t, err)
		require.Equal(t, open, getByID(t, b, open.ID))
	})

	// A job may end only a run it owns; an end decided elsewhere (a cancel,
	// the reconciler) passes no job.
	t.Run("FinishOwner", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()

		r := b.fix.Run(ws.ID)
		started := b.fix.RunStart(r)
		_, err := finish(b, &store.RunFinishParams{RunID: r.ID, JobID: b.fix.JobID(), Status: store.RunCompleted, At: b.fix.Now()})
		require.ErrorIs(t, err, store.ErrNotOwner)
		require.Equal(t, started, getByID(t, b, r.ID), "a refused finish changes nothing")
		done, err := finish(b, &store.RunFinishParams{RunID: r.ID, JobID: r.JobID, Status: store.RunCompleted, At: b.fix.Now()})
		require.NoError(t, err)
		require.Equal(t, store.RunCompleted, done.Status)
		_, err = finish(b, &store.RunFinishParams{RunID: r.ID, JobID: r.JobID, Status: store.RunFailed, At: b.fix.Now()})
		require.ErrorIs(t, err, store.ErrRunFinished, "the owner cannot end it twice")
		_, err = finish(b, &store.RunFinishParams{RunID: r.ID, JobID: b.fix.JobID(), Status: store.RunFailed, At: b.fix.Now()})
		require.ErrorIs(t, err, store.ErrRunFinished, "an ended run says so to anyone")

		pending := b.fix.Run(ws.ID)
		_, err = finish(b, &store.RunFinishParams{RunID: pending.ID, JobID: b.fix.JobID(), Status: store.RunFailed, At: b.fix.Now()})
		require.ErrorIs(t, err, store.ErrNotOwner)
		cancelled, err := finish(b, &store.RunFinishParams{RunID: pending.ID, Status: store.RunFailed,
			ErrorCode: "cancelled", ErrorMessage: "cancelled by the workspace", At: b.fix.Now()})
		require.NoError(t, err, "no job: whoever owns it")
		require.Equal(t, store.RunFailed, cancelled.Status)
		require.Equal(t, pending.JobID, cancelled.JobID, "the owner is kept")

		_, err = finish(b, &store.RunFinishParams{RunID: b.fix.ID("run"), JobID: r.JobID, Status: store.RunFailed, At: b.fix.Now()})
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("FinishFinished", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		r := b.fix.Run(ws.ID)
		b.fix.RunStart(r)
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

	t.Run("List", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws, other := b.fix.Workspace(), b.fix.Workspace()

		// Six runs of two techniques; three share a created_at so that the
		// id breaks the tie.
		var (
			tie  int64
			runs []*store.Run
		)
		for i := range 6 {
			runs = append(runs, b.fix.Run(ws.ID, func(p *store.RunInsertParams) {
				if i%2 == 1 {
					p.TechniqueID, p.TechniqueSlug = "tech_caption", "caption"
				}
				switch i {
				case 2:
					tie = p.CreatedAt
				case 3, 4:
					p.CreatedAt = tie
				}
			}))
		}
		b.fix.Run(other.ID)
		b.fix.RunStart(runs[0])
		b.fix.RunFinish(&store.RunFinishParams{RunID: runs[1].ID, Status: store.RunCompleted, At: b.fix.Now()})
		b.fix.RunFinish(&store.RunFinishParams{RunID: runs[2].ID, Status: store.RunFailed, At: b.fix.Now()})

		// want is the API's view of the runs, newest first by (created_at,
		// id), computed independently of the store.
		want := func(t *testing.T, keep func(r *store.Run) bool) []*store.Run {
			t.Helper()
			var out []*store.Run
			for _, r := range runs {
				cur := apiView(getByID(t, b, r.ID))
				if keep(cur) {
					out = append(out, cur)
				}
			}
			slices.SortFunc(out, func(a, c *store.Run) int {
				if n := cmp.Compare(c.CreatedAt, a.CreatedAt); n != 0 {
					return n
				}
				return strings.Compare(c.ID, a.ID)
			})
			return out
		}
		all := func(*store.Run) bool { return true }
		listRuns := func(t *testing.T, p *store.RunListParams) []*store.Run {
			t.Helper()
			got, err := b.store.RunList(b.ctx, p)
			require.NoError(t, err)
			return got
		}

		require.Equal(t, want(t, all), listRuns(t, &store.RunListParams{WorkspaceID: ws.ID, Limit: 10}),
			"newest first, this workspace only, without inputs")
		require.Len(t, listRuns(t, &store.RunListParams{WorkspaceID: ws.ID, Limit: 4}), 4)

		var paged []*store.Run
		p := &store.RunListParams{WorkspaceID: ws.ID, Limit: 2}
		for range 5 {
			page := listRuns(t, p)
			if len(page) == 0 {
				break
			}
			paged = append(paged, page...)
			last := page[len(page)-1]
			p.AfterCreatedAt, p.AfterID = last.CreatedAt, last.ID
		}
		require.Equal(t, want(t, all), paged, "pages follow the keyset cursor through the tie")

		require.Equal(t, want(t, func(r *store.Run) bool { return r.TechniqueID == "tech_caption" }),
			listRuns(t, &store.RunListParams{WorkspaceID: ws.ID, TechniqueID: "tech_caption", Limit: 10}))
		require.Equal(t, want(t, func(r *store.Run) bool { return r.Status == store.RunPending }),
			listRuns(t, &store.RunListParams{WorkspaceID: ws.ID, Status: store.RunPending, Limit: 10}))
		require.Equal(t, want(t, func(r *store.Run) bool { return r.Status == store.RunFailed }),
			listRuns(t, &store.RunListParams{WorkspaceID: ws.ID, Status: store.RunFailed, TechniqueID: "tech_upscale", Limit: 10}))
		require.Empty(t, listRuns(t, &store.RunListParams{WorkspaceID: ws.ID, Status: store.RunFailed, TechniqueID: "tech_caption", Limit: 10}))

		after, before := runs[1].CreatedAt, runs[5].CreatedAt
		require.Equal(t, want(t, func(r *store.Run) bool { return r.CreatedAt > after && r.CreatedAt < before }),
			listRuns(t, &store.RunListParams{WorkspaceID: ws.ID, CreatedAfter: &after, CreatedBefore: &before, Limit: 10}),
			"both bounds are exclusive")
		require.Len(t, want(t, func(r *store.Run) bool { return r.CreatedAt > after && r.CreatedAt < before }), 3)

		require.Len(t, listRuns(t, &store.RunListParams{WorkspaceID: other.ID, Limit: 10}), 1)
		require.Empty(t, listRuns(t, &store.RunListParams{WorkspaceID: b.fix.ID("ws"), Limit: 10}))
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
