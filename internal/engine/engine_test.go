package engine_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/blob"
	"github.com/florad/florad/internal/engine"
	"github.com/florad/florad/internal/ident"
	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/store/sqlstore"
	"github.com/florad/florad/internal/technique"
)

// signalTimeout bounds every wait on a signal from a step. It is a failure
// deadline, never a pause: passing tests do not wait for it.
const signalTimeout = 10 * time.Second

// fanOut is the graph under test: a feeds both b and c, which have no edge
// between them and so may run at once. a makes an image (stored as a blob),
// b turns it into text and c into another image, so values travel both
// through the run_steps record and through the blob store.
func fanOut() *technique.Technique {
	step := func(id, in string) technique.Step {
		return technique.Step{ID: id, Model: "fake", Inputs: map[string]string{"in": in}, Params: map[string]any{"step": id}}
	}
	return &technique.Technique{
		ID: "tech_fan-out", Slug: "fan-out", Name: "Fan out", Version: "v1",
		Inputs: []technique.IO{{ID: "prompt", Name: "Prompt", Type: technique.TypeText}},
		Outputs: []technique.IO{
			{ID: "caption", Name: "Caption", Type: technique.TypeText, From: "steps.b.out"},
			{ID: "picture", Name: "Picture", Type: technique.TypeImageURL, From: "steps.c.out"},
		},
		Steps: []technique.Step{step("a", "inputs.prompt"), step("b", "steps.a.out"), step("c", "steps.a.out")},
	}
}

// stepFunc is what one step of the fake model does.
type stepFunc func(ctx context.Context, call *processor.Call) (map[string]processor.Value, error)

// fakeModel is a processor whose behaviour each test sets per step (the
// step id arrives in params). It counts calls, so a test can tell whether a
// step ran again.
type fakeModel struct {
	mu    sync.Mutex
	steps map[string]stepFunc
	calls map[string]int
}

func (*fakeModel) InputPorts() []technique.Port {
	return []technique.Port{{Name: "in", Type: technique.TypeText}}
}
func (*fakeModel) OutputPorts() []technique.Port {
	return []technique.Port{{Name: "out", Type: technique.TypeText}}
}
func (*fakeModel) CheckParams(map[string]any) error { return nil }
func (*fakeModel) Unavailable() string              { return "" }

func (f *fakeModel) Run(ctx context.Context, call *processor.Call) (map[string]processor.Value, error) {
	id, _ := call.Params["step"].(string)
	f.mu.Lock()
	f.calls[id]++
	fn := f.steps[id]
	f.mu.Unlock()
	return fn(ctx, call)
}

func (f *fakeModel) set(id string, fn stepFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.steps[id] = fn
}

func (f *fakeModel) callCounts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.calls {
		out[k] = v
	}
	return out
}

// defaultSteps are the plain behaviours of the fan-out graph.
func defaultSteps() map[string]stepFunc {
	return map[string]stepFunc{
		"a": func(_ context.Context, call *processor.Call) (map[string]processor.Value, error) {
			return map[string]processor.Value{"out": {Type: technique.TypeImageURL, ContentType: "image/png",
				Data: []byte("IMG:" + call.Inputs["in"].Text)}}, nil
		},
		"b": func(_ context.Context, call *processor.Call) (map[string]processor.Value, error) {
			return map[string]processor.Value{"out": {Type: technique.TypeText, Text: "b saw " + string(call.Inputs["in"].Data)}}, nil
		},
		"c": func(_ context.Context, call *processor.Call) (map[string]processor.Value, error) {
			return map[string]processor.Value{"out": {Type: technique.TypeImageURL, ContentType: "image/jpeg",
				Data: []byte("C:" + string(call.Inputs["in"].Data))}}, nil
		},
	}
}

// spyStore is the real SQLite store with a window on progress: it records
// every value the engine writes and, after each commit, what a client
// polling the run would read.
type spyStore struct {
	store.Store
	runID string

	mu       sync.Mutex
	written  []int
	observed []int
}

func (s *spyStore) InTx(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.spy(ctx, s.Store.InTx(ctx, func(tx store.Tx) error { return fn(&spyTx{Tx: tx, s: s}) }))
}

// InTxGrouped is spied on too: the run service writes progress in shared
// commits.
func (s *spyStore) InTxGrouped(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.spy(ctx, s.Store.InTxGrouped(ctx, func(tx store.Tx) error { return fn(&spyTx{Tx: tx, s: s}) }))
}

// spy records what a poll reads after a commit.
func (s *spyStore) spy(ctx context.Context, err error) error {
	if err != nil || s.runID == "" {
		return err
	}
	// Read under the lock, so the list is in read order and a later read
	// can never be appended before an earlier one.
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, gerr := s.RunGetByID(context.WithoutCancel(ctx), s.runID); gerr == nil {
		s.observed = append(s.observed, r.Progress)
	}
	return nil
}

func (s *spyStore) progress() (written, observed []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.written), slices.Clone(s.observed)
}

type spyTx struct {
	store.Tx
	s *spyStore
}

func (t *spyTx) RunSetProgress(ctx context.Context, runID string, progress int) (bool, error) {
	t.s.mu.Lock()
	t.s.written = append(t.s.written, progress)
	t.s.mu.Unlock()
	return t.Tx.RunSetProgress(ctx, runID, progress)
}

type testBundle struct {
	store  *spyStore
	rec    engine.Recorder
	blobs  *blob.Local
	model  *fakeModel
	tech   *technique.Technique
	run    *store.Run
	engine *engine.Engine
}

func setup(t *testing.T, mutate ...func(cfg *engine.Config)) *testBundle {
	t.Helper()
	ctx := t.Context()

	db, err := sqlstore.OpenSQLite(ctx, sqlstore.SQLiteConfig{Path: filepath.Join(t.TempDir(), "florad.db"), Synchronous: "OFF"})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })

	blobs, err := blob.NewLocal(t.TempDir(), "http://127.0.0.1:1", []byte("0123456789abcdef0123456789abcdef"), nil)
	require.NoError(t, err)

	now := time.UnixMilli(1_760_000_000_000)
	tech := fanOut()
	var r *store.Run
	require.NoError(t, db.InTx(ctx, func(tx store.Tx) error {
		w, err := tx.WorkspaceInsert(ctx, &store.WorkspaceInsertParams{ID: ident.New("ws_", now), Name: "Test",
			WebhookSecret: "whsec_test", CreatedAt: now.UnixMilli()})
		if err != nil {
			return err
		}
		r, err = tx.RunInsert(ctx, &store.RunInsertParams{ID: ident.New("run_", now), WorkspaceID: w.ID,
			TechniqueID: tech.ID, TechniqueSlug: tech.Slug, TechniqueVersion: tech.Version,
			Inputs: []store.RunInput{{ID: "prompt", Type: technique.TypeText, Value: "hello"}},
			Mode:   "async", Fingerprint: "fp", CreatedAt: now.UnixMilli(), JobID: 1})
		if err != nil {
			return err
		}
		r, _, err = tx.RunStart(ctx, &store.RunStartParams{RunID: r.ID, JobID: 1, At: now.UnixMilli(),
			LeaseUntil: now.Add(time.Hour).UnixMilli()})
		return err
	}))

	model := &fakeModel{steps: defaultSteps(), calls: map[string]int{}}
	spy := &spyStore{Store: db, runID: r.ID}
	// Each reading of the clock is a second later, so every progress report
	// is past the save interval and is written.
	var tick atomic.Int64
	// The engine records through the run service, the way a worker has it.
	runs := &run.Service{Store: spy, Lease: time.Hour}
	cfg := engine.Config{
		Blobs:            blobs,
		Processors:       processor.Registry{"fake": model},
		ProgressInterval: time.Millisecond,
		Now:              func() time.Time { return now.Add(time.Duration(tick.Add(1)) * time.Second) },
	}
	for _, m := range mutate {
		m(&cfg)
	}
	return &testBundle{store: spy, rec: runs.Recorder(r.ID, r.JobID), blobs: blobs, model: model, tech: tech, run: r,
		engine: engine.New(cfg)}
}

func (b *testBundle) recordedSteps(t *testing.T) []string {
	t.Helper()
	steps, err := b.store.RunStepList(t.Context(), b.run.ID)
	require.NoError(t, err)
	ids := make([]string, 0, len(steps))
	for _, s := range steps {
		ids = append(ids, s.StepID)
	}
	slices.Sort(ids)
	return ids
}

func (b *testBundle) readBlob(t *testing.T, key string) string {
	t.Helper()
	rc, err := b.blobs.Get(t.Context(), key)
	require.NoError(t, err)
	defer rc.Close()
	data, err := io.ReadAll(rc)
	require.NoError(t, err)
	return string(data)
}

// wait receives one signal or fails the test.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(signalTimeout):
		require.FailNow(t, "timed out waiting for "+what)
	}
	var zero T
	return zero
}

func TestExecuteRunsTheGraph(t *testing.T) {
	t.Parallel()
	b := setup(t)

	outs, err := b.engine.Execute(t.Context(), b.run, b.tech, b.rec)
	require.NoError(t, err)

	require.Len(t, outs, 2)
	require.Equal(t, store.RunOutput{ID: "caption", Type: technique.TypeText, Text: "b saw IMG:hello"}, outs[0])
	require.Equal(t, "picture", outs[1].ID)
	require.Equal(t, technique.TypeImageURL, outs[1].Type)
	require.Equal(t, "image/jpeg", outs[1].ContentType)
	require.Equal(t, "runs/"+b.run.ID+"/c/out.jpg", outs[1].BlobKey)
	require.Equal(t, int64(len("C:IMG:hello")), outs[1].Size)
	require.Equal(t, "C:IMG:hello", b.readBlob(t, outs[1].BlobKey))

	require.Equal(t, []string{"a", "b", "c"}, b.recordedSteps(t))
	require.Equal(t, map[string]int{"a": 1, "b": 1, "c": 1}, b.model.callCounts())
}

// TestExecuteRunsIndependentStepsTogether proves b and c overlap: each
// waits, inside its Run, until the other has started. Run one after the
// other, the first would wait forever and the test would fail on its
// deadline. Each also checks that a is already recorded when it starts.
func TestExecuteRunsIndependentStepsTogether(t *testing.T) {
	t.Parallel()
	b := setup(t)

	started := make(chan string, 2)
	release := make(chan struct{})
	var missingA atomic.Int32
	for _, id := range []string{"b", "c"} {
		plain := defaultSteps()[id]
		b.model.set(id, func(ctx context.Context, call *processor.Call) (map[string]processor.Value, error) {
			steps, err := b.store.RunStepList(ctx, b.run.ID)
			if err != nil || len(steps) != 1 || steps[0].StepID != "a" {
				missingA.Add(1)
			}
			started <- id
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return plain(ctx, call)
		})
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	type result struct {
		outs []store.RunOutput
		err  error
	}
	done := make(chan result, 1)
	go func() {
		outs, err := b.engine.Execute(ctx, b.run, b.tech, b.rec)
		done <- result{outs, err}
	}()

	first := wait(t, started, "the first of b and c to start")
	second := wait(t, started, "the second of b and c to start while the first still runs")
	require.ElementsMatch(t, []string{"b", "c"}, []string{first, second})
	close(release)

	res := wait(t, done, "Execute to return")
	require.NoError(t, res.err)
	require.Len(t, res.outs, 2)
	require.Zero(t, missingA.Load(), "a dependent started before step a was recorded in run_steps")
}

func TestExecuteBoundsParallelSteps(t *testing.T) {
	t.Parallel()
	b := setup(t, func(cfg *engine.Config) { cfg.MaxParallelSteps = 1 })

	var running, most atomic.Int32
	for _, id := range []string{"a", "b", "c"} {
		plain := defaultSteps()[id]
		b.model.set(id, func(ctx context.Context, call *processor.Call) (map[string]processor.Value, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			return plain(ctx, call)
		})
	}
	_, err := b.engine.Execute(t.Context(), b.run, b.tech, b.rec)
	require.NoError(t, err)
	require.Equal(t, int32(1), most.Load())
}

// TestExecuteResumes: steps already in run_steps are not run again, and
// their recorded outputs (here a blob) feed the steps that remain.
func TestExecuteResumes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()

	key := "runs/" + b.run.ID + "/a/out.png"
	n, err := b.blobs.Put(ctx, key, strings.NewReader("IMG:from an earlier attempt"), "image/png")
	require.NoError(t, err)
	require.NoError(t, b.store.Store.InTx(ctx, func(tx store.Tx) error {
		return tx.RunStepInsert(ctx, &store.RunStep{RunID: b.run.ID, StepID: "a", FinishedAt: 1,
			Outputs: []store.RunOutput{{ID: "out", Type: technique.TypeImageURL, BlobKey: key, ContentType: "image/png", Size: n}}})
	}))

	outs, err := b.engine.Execute(ctx, b.run, b.tech, b.rec)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"b": 1, "c": 1}, b.model.callCounts())
	require.Equal(t, "b saw IMG:from an earlier attempt", outs[0].Text)
	require.Equal(t, "C:IMG:from an earlier attempt", b.readBlob(t, outs[1].BlobKey))

	// A second attempt after every step finished runs nothing and answers
	// the same outputs.
	again, err := b.engine.Execute(ctx, b.run, b.tech, b.rec)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"b": 1, "c": 1}, b.model.callCounts())
	require.Equal(t, outs, again)
}

// TestExecuteFirstFailureCancelsSiblings: b fails while c runs; c sees its
// context end, nothing after a is recorded, and b's error is the one
// returned.
func TestExecuteFirstFailureCancelsSiblings(t *testing.T) {
	t.Parallel()
	b := setup(t)

	bErr := processor.Permanent(processor.CodeInputInvalid, "b cannot use this image.", nil)
	cStarted := make(chan struct{})
	var cCanceled atomic.Bool
	b.model.set("b", func(ctx context.Context, _ *processor.Call) (map[string]processor.Value, error) {
		select {
		case <-cStarted:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(signalTimeout):
			return nil, errors.New("c never started next to b")
		}
		return nil, bErr
	})
	b.model.set("c", func(ctx context.Context, _ *processor.Call) (map[string]processor.Value, error) {
		close(cStarted)
		select {
		case <-ctx.Done():
			cCanceled.Store(true)
			return nil, ctx.Err()
		case <-time.After(signalTimeout):
			return nil, errors.New("c was never canceled")
		}
	})

	_, err := b.engine.Execute(t.Context(), b.run, b.tech, b.rec)
	require.ErrorIs(t, err, bErr)
	var pe *processor.Error
	require.ErrorAs(t, err, &pe)
	require.Same(t, bErr, pe)
	require.True(t, cCanceled.Load(), "c still ran after b failed")
	require.Equal(t, []string{"a"}, b.recordedSteps(t))
	require.Equal(t, map[string]int{"a": 1, "b": 1, "c": 1}, b.model.callCounts())
}

func TestExecuteFailureOfTheFirstStepRunsNothingElse(t *testing.T) {
	t.Parallel()
	b := setup(t)

	aErr := processor.Transient(processor.CodeProviderTimeout, "slow", nil)
	b.model.set("a", func(context.Context, *processor.Call) (map[string]processor.Value, error) { return nil, aErr })

	_, err := b.engine.Execute(t.Context(), b.run, b.tech, b.rec)
	require.ErrorIs(t, err, aErr)
	require.Equal(t, map[string]int{"a": 1}, b.model.callCounts())
	require.Empty(t, b.recordedSteps(t))
}

// TestExecuteProgress: every step reports partial progress. What a client
// reads only grows and stays at most 99 (100 is for the completed run,
// which the worker sets), and the engine never writes more than 99.
func TestExecuteProgress(t *testing.T) {
	t.Parallel()
	b := setup(t)

	for _, id := range []string{"a", "b", "c"} {
		plain := defaultSteps()[id]
		b.model.set(id, func(ctx context.Context, call *processor.Call) (map[string]processor.Value, error) {
			for _, f := range []float64{0.25, 0.5, 0.75, 1, 1.5} {
				call.Progress(f)
			}
			return plain(ctx, call)
		})
	}

	_, err := b.engine.Execute(t.Context(), b.run, b.tech, b.rec)
	require.NoError(t, err)

	written, observed := b.store.progress()
	require.NotEmpty(t, written)
	for _, p := range written {
		require.GreaterOrEqual(t, p, 0)
		require.LessOrEqual(t, p, 99, "written: %v", written)
	}
	require.NotEmpty(t, observed)
	require.IsNonDecreasing(t, observed)
	require.LessOrEqual(t, observed[len(observed)-1], 99)

	r, err := b.store.RunGetByID(t.Context(), b.run.ID)
	require.NoError(t, err)
	require.Equal(t, 99, r.Progress)
	require.Equal(t, store.RunRunning, r.Status)
}

// TestExecuteParallelStepsBothCount: b and c end together, both reaching
// their record before either is written; each record counts the other, so
// the run reaches 99 before its end, whichever commits first.
func TestExecuteParallelStepsBothCount(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := &togetherRecorder{Recorder: b.rec}
	rec.arrived.Add(2)
	_, err := b.engine.Execute(t.Context(), b.run, b.tech, rec)
	require.NoError(t, err)
	r, err := b.store.RunGetByID(t.Context(), b.run.ID)
	require.NoError(t, err)
	require.Equal(t, 99, r.Progress)
}

// togetherRecorder holds the records of steps b and c until both arrived.
type togetherRecorder struct {
	engine.Recorder
	arrived sync.WaitGroup
}

func (r *togetherRecorder) StepDone(ctx context.Context, step *store.RunStep, progress int, outputs []store.RunOutput) error {
	if step.StepID == "b" || step.StepID == "c" {
		r.arrived.Done()
		r.arrived.Wait()
	}
	return r.Recorder.StepDone(ctx, step, progress, outputs)
}

// TestExecuteDoneReportWritesNothing: a step that reports itself done
// costs no write of its own; its record carries the progress.
func TestExecuteDoneReportWritesNothing(t *testing.T) {
	t.Parallel()
	writes := func(report bool) []int {
		b := setup(t)
		for _, id := range []string{"a", "b", "c"} {
			plain := defaultSteps()[id]
			b.model.set(id, func(ctx context.Context, call *processor.Call) (map[string]processor.Value, error) {
				if report {
					call.Progress(1)
				}
				return plain(ctx, call)
			})
		}
		_, err := b.engine.Execute(t.Context(), b.run, b.tech, b.rec)
		require.NoError(t, err)
		written, _ := b.store.progress()
		return written
	}
	silent := writes(false)
	require.NotEmpty(t, silent, "the step records write progress")
	require.Len(t, writes(true), len(silent))
}

func TestExecuteUnknownModelIsPermanent(t *testing.T) {
	t.Parallel()
	b := setup(t)

	tech := fanOut()
	tech.Steps[0].Model = "gone"
	_, err := b.engine.Execute(t.Context(), b.run, tech, b.rec)
	var pe *processor.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, processor.CodeInternalError, pe.Code)
	require.False(t, pe.Transient)
}
