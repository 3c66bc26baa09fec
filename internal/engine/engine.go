// Package engine executes technique runs: it walks a technique's step graph,
// runs the steps whose inputs are ready (in parallel, bounded), records each
// finished step before anything depends on it, and reports progress. It
// records through a Recorder and owns no run state: internal/run's worker
// drives it, and starts and ends the run.
package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/florad/florad/internal/blob"
	"github.com/florad/florad/internal/metrics"
	"github.com/florad/florad/internal/netguard"
	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/technique"
)

// Recorder is how an execution records what it did, on behalf of the job
// that owns the run. A refusal (store.ErrRunFinished, store.ErrNotOwner)
// means the run is no longer this execution's to carry on.
type Recorder interface {
	// StepsDone returns the steps recorded so far, by this execution or an
	// earlier one.
	StepsDone(ctx context.Context) ([]*store.RunStep, error)
	// StepDone records a finished step with the run's progress after it and
	// the technique outputs it produced, in one transaction, before any step
	// depending on it starts. store.ErrAlreadyExists means an earlier
	// execution recorded it.
	StepDone(ctx context.Context, step *store.RunStep, progress int, outputs []store.RunOutput) error
	// Progress raises the run's progress while a step runs.
	Progress(ctx context.Context, progress int) error

	// Calls returns the provider requests of the run's steps in flight.
	Calls(ctx context.Context) ([]*store.StepCall, error)
	// CallBegin records, before a step's request is sent, that it is
	// about to be, and takes a slot of the provider: store.ErrProviderBusy
	// when its cap is reached.
	CallBegin(ctx context.Context, stepID, provider string, limit int) error
	// CallSubmitted records the provider's handle on the request in the
	// transaction of the submission's outcome; a refusal means the run is
	// no longer this execution's, and nobody will poll the request.
	CallSubmitted(ctx context.Context, stepID string, sub *processor.Submission) error
	// CallStatus shows the provider's reported state in the run's progress
	// events, when it changed.
	CallStatus(ctx context.Context, stepID string, st CallStatus) error
	// CallEnd gives a request up and frees its slot.
	CallEnd(ctx context.Context, stepID string) error
}

// CallStatus is a provider's report on a step's request, as the run's
// progress events show it.
type CallStatus struct {
	// Progress is the run's progress with the step's share done counted.
	Progress int
	// Status is the provider's state (IN_QUEUE, IN_PROGRESS, ...).
	Status string
	// QueuePosition is the request's place in the provider's queue, or -1.
	QueuePosition int
}

// Waiting is what Execute returns when the steps it could run are waiting
// on providers: the run's job lets go of its worker and executes the run
// again After, picking up the recorded requests.
type Waiting struct {
	After time.Duration
}

func (w *Waiting) Error() string { return fmt.Sprintf("waiting on a provider for %s", w.After) }

// Config holds the engine's dependencies and limits.
type Config struct {
	Blobs      blob.Store
	Processors processor.Registry
	// HTTPClient fetches media inputs; it must be SSRF-guarded
	// (netguard.NewClient).
	HTTPClient *http.Client
	Logger     *slog.Logger
	// MaxParallelSteps bounds the steps of one run that execute at once.
	// Defaults to 4.
	MaxParallelSteps int
	// MaxImageBytes bounds a fetched image. Defaults to 50 MiB.
	MaxImageBytes int64
	// MaxVideoBytes bounds a fetched video. Defaults to 500 MiB.
	MaxVideoBytes int64
	// ProgressInterval is the least time between two progress writes made
	// from inside one step. Defaults to 500 ms.
	ProgressInterval time.Duration
	// PollMin and PollMax bound the wait between two polls of a provider
	// request, which grows with the request's age (a tenth of it) so that
	// quick models are seen quickly and long ones cost few polls. Defaults:
	// 500 ms and 10 s.
	PollMin, PollMax time.Duration
	// SubmitTimeout bounds sending one request to a provider. Submissions
	// are not cut short by a shutdown or a cancel, so that their outcome is
	// always recorded. Defaults to 60 s.
	SubmitTimeout time.Duration
	Now           func() time.Time
	// Metrics records step durations by model; nil records nothing.
	Metrics *metrics.Metrics
}

// Defaults of Config.
const (
	MaxParallelStepsDefault = 4
	MaxImageBytesDefault    = 50 << 20
	MaxVideoBytesDefault    = 500 << 20
	ProgressIntervalDefault = 500 * time.Millisecond
	PollMinDefault          = 500 * time.Millisecond
	PollMaxDefault          = 10 * time.Second
	SubmitTimeoutDefault    = 60 * time.Second
	// busyWait is how long a step waits for a provider slot before it
	// looks again.
	busyWait = time.Second
)

// Engine executes runs.
type Engine struct {
	cfg Config
}

// New returns an engine with defaults filled in.
func New(cfg Config) *Engine {
	if cfg.MaxParallelSteps <= 0 {
		cfg.MaxParallelSteps = MaxParallelStepsDefault
	}
	if cfg.MaxImageBytes <= 0 {
		cfg.MaxImageBytes = MaxImageBytesDefault
	}
	if cfg.MaxVideoBytes <= 0 {
		cfg.MaxVideoBytes = MaxVideoBytesDefault
	}
	if cfg.ProgressInterval <= 0 {
		cfg.ProgressInterval = ProgressIntervalDefault
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PollMin <= 0 {
		cfg.PollMin = PollMinDefault
	}
	if cfg.PollMax <= 0 {
		cfg.PollMax = PollMaxDefault
	}
	cfg.PollMax = max(cfg.PollMax, cfg.PollMin)
	if cfg.SubmitTimeout <= 0 {
		cfg.SubmitTimeout = SubmitTimeoutDefault
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{cfg: cfg}
}

// execution is the state of one run's graph while it executes.
type execution struct {
	e   *Engine
	run *store.Run
	t   *technique.Technique
	rec Recorder

	mu      sync.Mutex
	results map[string]map[string]store.RunOutput // step → port → output
	inputs  map[string]*inputValue                // technique input id → fetched value
	partial map[string]float64                    // running step → share done
	// finished counts the steps recorded or being recorded: steps that
	// end together must each count the other, which results, filled once
	// a record is written, does not yet.
	finished int
	calls    map[string]*store.StepCall // step → provider request in flight
	lastSave time.Time
	files    []string // downloaded video inputs, removed when Execute returns
}

type inputValue struct {
	once sync.Once
	v    processor.Value
	err  error
}

// Execute runs every step not yet recorded for the run and returns the
// technique's outputs. Steps already recorded (by an earlier attempt that
// crashed or was retried) are not run again.
func (e *Engine) Execute(ctx context.Context, r *store.Run, t *technique.Technique, rec Recorder) ([]store.RunOutput, error) {
	x := &execution{e: e, run: r, t: t, rec: rec,
		results: map[string]map[string]store.RunOutput{},
		inputs:  map[string]*inputValue{},
		partial: map[string]float64{},
		calls:   map[string]*store.StepCall{},
	}
	for _, in := range r.Inputs {
		x.inputs[in.ID] = &inputValue{}
	}
	defer x.removeFiles()
	done, err := rec.StepsDone(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range done {
		ports := map[string]store.RunOutput{}
		for _, o := range s.Outputs {
			ports[o.ID] = o
		}
		x.results[s.StepID] = ports
		x.finished++
	}
	if hasAsync(t, e.cfg.Processors) {
		calls, err := rec.Calls(ctx)
		if err != nil {
			return nil, err
		}
		for _, c := range calls {
			x.calls[c.StepID] = c
		}
	}
	if err := x.runGraph(ctx); err != nil {
		return nil, err
	}
	out := make([]store.RunOutput, 0, len(t.Outputs))
	for _, o := range t.Outputs {
		parts := strings.Split(o.From, ".") // steps.<step>.<port>, checked at load
		v, ok := x.results[parts[1]][parts[2]]
		if !ok {
			return nil, processor.Permanent(processor.CodeInternalError, "A step produced no value for an output.",
				fmt.Errorf("output %s: step %s has no port %s", o.ID, parts[1], parts[2]))
		}
		v.ID, v.Type = o.ID, o.Type
		out = append(out, v)
	}
	return out, nil
}

// runGraph starts every step whose dependencies are done, waits for one to
// finish, and repeats; the first failure cancels the steps still running.
func (x *execution) runGraph(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type result struct {
		step string
		err  error
	}
	finished := make(chan result)
	running := map[string]bool{}
	parked := map[string]time.Duration{} // step waiting on a provider → when to look again
	var firstErr error
	for {
		if firstErr == nil {
			x.mu.Lock()
			for _, s := range x.t.Steps {
				if len(running) >= x.e.cfg.MaxParallelSteps {
					break
				}
				if _, wait := parked[s.ID]; wait {
					continue
				}
				if _, done := x.results[s.ID]; done || running[s.ID] || !x.readyLocked(s) {
					continue
				}
				running[s.ID] = true
				go func(s technique.Step) {
					finished <- result{s.ID, x.runStep(ctx, s)}
				}(s)
			}
			x.mu.Unlock()
		}
		if len(running) == 0 {
			break
		}
		res := <-finished
		delete(running, res.step)
		var w *Waiting
		if errors.As(res.err, &w) && ctx.Err() == nil {
			parked[res.step] = w.After
			continue
		}
		if res.err != nil && firstErr == nil {
			firstErr = res.err
			cancel(res.err)
		}
	}
	if firstErr != nil {
		return firstErr
	}
	if len(parked) > 0 {
		// The soonest any parked step wants another look; a Retry-After
		// may ask for longer than PollMax.
		var w *Waiting
		for _, d := range parked {
			if w == nil || d < w.After {
				w = &Waiting{After: d}
			}
		}
		return w
	}
	x.mu.Lock()
	stalled := len(x.results) < len(x.t.Steps)
	x.mu.Unlock()
	if stalled {
		return processor.Permanent(processor.CodeInternalError, "The technique's steps could not all run.",
			errors.New("graph stalled with unfinished steps"))
	}
	return nil
}

// stepDone counts a step that ended, in success or failure, with its whole
// duration: a provider step's runs from its call record's creation, across
// the executions it waited between. An execution that left the step
// waiting on its provider counts nothing.
func (x *execution) stepDone(s technique.Step, start time.Time, err error) {
	var waiting *Waiting
	if errors.As(err, &waiting) {
		return
	}
	x.mu.Lock()
	if c := x.calls[s.ID]; c != nil {
		start = time.UnixMilli(c.CreatedAt)
	}
	x.mu.Unlock()
	x.e.cfg.Metrics.StepDone(s.Model, x.e.cfg.Now().Sub(start), err)
}

func (x *execution) readyLocked(s technique.Step) bool {
	for _, ref := range s.Inputs {
		if parts := strings.Split(ref, "."); parts[0] == "steps" {
			if _, ok := x.results[parts[1]]; !ok {
				return false
			}
		}
	}
	return true
}

func (x *execution) runStep(ctx context.Context, s technique.Step) error {
	p := x.e.cfg.Processors[s.Model]
	if p == nil {
		return processor.Permanent(processor.CodeInternalError, "The technique names a model this server does not have.",
			fmt.Errorf("unknown model %s", s.Model))
	}
	start := x.e.cfg.Now()
	var outs map[string]processor.Value
	var err error
	async, isAsync := p.(processor.Async)
	if isAsync {
		outs, err = x.runAsync(ctx, s, async)
	} else if lp, limited := p.(processor.Limited); limited {
		isAsync = true // the step's call record ends with it
		outs, err = x.runLimited(ctx, s, p, lp)
	} else {
		var inputs map[string]processor.Value
		if inputs, err = x.resolveInputs(ctx, s); err == nil {
			outs, err = p.Run(ctx, &processor.Call{Inputs: inputs, Params: s.Params,
				Progress: func(f float64) { x.stepProgress(ctx, s.ID, f) }})
		}
	}
	x.stepDone(s, start, err)
	if err != nil {
		if ctx.Err() != nil && context.Cause(ctx) != nil && !errors.Is(context.Cause(ctx), context.Canceled) {
			return context.Cause(ctx)
		}
		return err
	}
	recorded := make([]store.RunOutput, 0, len(outs))
	for port, v := range outs {
		o, err := x.store(ctx, s.ID, port, v)
		if err != nil {
			return err
		}
		recorded = append(recorded, o)
	}
	at := x.e.cfg.Now().UnixMilli()
	x.mu.Lock()
	delete(x.partial, s.ID)
	x.finished++
	doneAfter := x.finished
	x.mu.Unlock()
	progress := x.progressFor(doneAfter, 0)
	// Technique outputs are announced as soon as their step finishes,
	// in the transaction that records it.
	var announce []store.RunOutput
	for _, o := range x.t.Outputs {
		for _, r := range recorded {
			if o.From == "steps."+s.ID+"."+r.ID {
				a := r
				a.ID, a.Type = o.ID, o.Type
				announce = append(announce, a)
			}
		}
	}
	err = x.rec.StepDone(ctx, &store.RunStep{RunID: x.run.ID, StepID: s.ID, Outputs: recorded, FinishedAt: at,
		EndsCall: isAsync}, progress, announce)
	if err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		return err
	}
	x.mu.Lock()
	ports := map[string]store.RunOutput{}
	for _, o := range recorded {
		ports[o.ID] = o
	}
	x.results[s.ID] = ports
	x.mu.Unlock()
	x.e.cfg.Logger.Debug("step finished", "run_id", x.run.ID, "step", s.ID, "model", s.Model,
		"duration_ms", x.e.cfg.Now().Sub(start).Milliseconds())
	return nil
}

func (x *execution) resolveInputs(ctx context.Context, s technique.Step) (map[string]processor.Value, error) {
	inputs := map[string]processor.Value{}
	for port, ref := range s.Inputs {
		v, err := x.resolve(ctx, ref)
		if err != nil {
			return nil, err
		}
		inputs[port] = v
	}
	return inputs, nil
}

// progressFor maps finished steps plus the shares of running ones to 0..99;
// 100 is reserved for the completed run.
func (x *execution) progressFor(doneSteps int, partial float64) int {
	total := len(x.t.Steps)
	if total == 0 {
		return 99
	}
	p := int(100 * (float64(doneSteps) + partial) / float64(total))
	return min(max(p, 0), 99)
}

func (x *execution) stepProgress(ctx context.Context, stepID string, f float64) {
	x.mu.Lock()
	x.partial[stepID] = min(max(f, 0), 1)
	var sum float64
	for _, v := range x.partial {
		sum += v
	}
	now := x.e.cfg.Now()
	// A step saying it is done is followed by its record, which carries
	// the progress: writing it here too would be a transaction for nothing
	// (for a quick step, the only one between its start and its record).
	if f >= 1 || now.Sub(x.lastSave) < x.e.cfg.ProgressInterval {
		x.mu.Unlock()
		return
	}
	x.lastSave = now
	p := x.progressFor(len(x.results), sum)
	x.mu.Unlock()
	if err := x.rec.Progress(ctx, p); err != nil && ctx.Err() == nil {
		x.e.cfg.Logger.Warn("error saving progress", "run_id", x.run.ID, "error", err)
	}
}

// resolve produces the value a binding refers to: a technique input (media
// fetched once per run, on first use) or an earlier step's output.
func (x *execution) resolve(ctx context.Context, ref string) (processor.Value, error) {
	parts := strings.Split(ref, ".")
	if parts[0] == "inputs" {
		return x.input(ctx, parts[1])
	}
	x.mu.Lock()
	o, ok := x.results[parts[1]][parts[2]]
	x.mu.Unlock()
	if !ok {
		return processor.Value{}, processor.Permanent(processor.CodeInternalError, "A step's input was not produced.",
			fmt.Errorf("%s not produced", ref))
	}
	if o.BlobKey == "" {
		return processor.Value{Type: o.Type, Text: o.Text}, nil
	}
	rc, err := x.e.cfg.Blobs.Get(ctx, o.BlobKey)
	if err != nil {
		return processor.Value{}, fmt.Errorf("error reading %s: %w", ref, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return processor.Value{}, fmt.Errorf("error reading %s: %w", ref, err)
	}
	return processor.Value{Type: o.Type, Data: data, ContentType: o.ContentType}, nil
}

func (x *execution) input(ctx context.Context, id string) (processor.Value, error) {
	iv, ok := x.inputs[id]
	if !ok {
		// An optional input the client left out.
		return processor.Value{}, nil
	}
	iv.once.Do(func() {
		var in store.RunInput
		for _, i := range x.run.Inputs {
			if i.ID == id {
				in = i
			}
		}
		if !technique.IsMedia(in.Type) {
			iv.v = processor.Value{Type: in.Type, Text: in.Value}
			return
		}
		if key, ok := blob.ParseRef(in.Value); ok {
			iv.v, iv.err = x.readBlob(ctx, in, key)
			return
		}
		iv.v, iv.err = x.fetch(ctx, in)
	})
	return iv.v, iv.err
}

func (x *execution) fetch(ctx context.Context, in store.RunInput) (processor.Value, error) {
	o := netguard.FetchOptions{MaxBytes: x.e.cfg.MaxImageBytes, Accept: []netguard.Kind{netguard.KindImage}}
	if in.Type == technique.TypeVideoURL {
		o = netguard.FetchOptions{MaxBytes: x.e.cfg.MaxVideoBytes, Accept: []netguard.Kind{netguard.KindVideo}}
	}
	var v processor.Value
	var err error
	if in.Type == technique.TypeVideoURL {
		// Videos go to a temporary file, shared by every step that reads
		// it: ffmpeg reads files anyway, and up to MaxVideoBytes should
		// not sit in memory for the whole run.
		var path, ct string
		if path, ct, err = netguard.FetchToFile(ctx, x.e.cfg.HTTPClient, in.Value, "", o); err == nil {
			x.mu.Lock()
			x.files = append(x.files, path)
			x.mu.Unlock()
			v = processor.Value{Type: in.Type, Path: path, ContentType: ct}
		}
	} else {
		var f *netguard.Fetched
		if f, err = netguard.Fetch(ctx, x.e.cfg.HTTPClient, in.Value, o); err == nil {
			v = processor.Value{Type: in.Type, Data: f.Body, ContentType: f.ContentType}
		}
	}
	switch {
	case err == nil:
		return v, nil
	case ctx.Err() != nil:
		return processor.Value{}, ctx.Err()
	case !errors.Is(err, netguard.ErrUnreachable) && !errors.Is(err, netguard.ErrTooLarge) &&
		!errors.Is(err, netguard.ErrInvalidContent):
		// A local failure writing the download (a full disk): not the
		// input's fault, and worth a retry.
		return processor.Value{}, fmt.Errorf("error downloading input %q: %w", in.ID, err)
	case errors.Is(err, netguard.ErrTooLarge), errors.Is(err, netguard.ErrInvalidContent):
		return processor.Value{}, processor.Permanent(processor.CodeInputInvalid,
			fmt.Sprintf("Input %q: %s", in.ID, err.Error()), err)
	default:
		return processor.Value{}, processor.Permanent(processor.CodeInputUnreachable,
			fmt.Sprintf("Input %q could not be fetched: %s", in.ID, err.Error()), err)
	}
}

// readBlob reads an input that names a blob of florad's own store (an
// asset, another run's output) straight from the store: no HTTP request to
// florad itself, which may not even be reachable from a worker. The bytes
// are judged by their content, like a download's.
func (x *execution) readBlob(ctx context.Context, in store.RunInput, key string) (processor.Value, error) {
	limit, kind := x.e.cfg.MaxImageBytes, "image/"
	if in.Type == technique.TypeVideoURL {
		limit, kind = x.e.cfg.MaxVideoBytes, "video/"
	}
	rc, err := x.e.cfg.Blobs.Get(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return processor.Value{}, processor.Permanent(processor.CodeInputUnreachable,
			fmt.Sprintf("Input %q: the file it names no longer exists (deleted by retention?).", in.ID), err)
	}
	if err != nil {
		return processor.Value{}, fmt.Errorf("error reading input %q: %w", in.ID, err)
	}
	defer rc.Close()
	if in.Type == technique.TypeVideoURL {
		// Like a downloaded video: a temporary file every step shares.
		f, err := os.CreateTemp("", "florad-input-*")
		if err != nil {
			return processor.Value{}, fmt.Errorf("error reading input %q: %w", in.ID, err)
		}
		x.mu.Lock()
		x.files = append(x.files, f.Name())
		x.mu.Unlock()
		n, err := io.Copy(f, io.LimitReader(rc, limit+1))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return processor.Value{}, fmt.Errorf("error reading input %q: %w", in.ID, err)
		}
		if n > limit {
			return processor.Value{}, processor.Permanent(processor.CodeInputInvalid,
				fmt.Sprintf("Input %q is larger than %d bytes.", in.ID, limit), netguard.ErrTooLarge)
		}
		head := make([]byte, 512)
		hf, err := os.Open(f.Name())
		if err != nil {
			return processor.Value{}, fmt.Errorf("error reading input %q: %w", in.ID, err)
		}
		m, _ := io.ReadFull(hf, head)
		hf.Close()
		ct := netguard.SniffContentType(head[:m])
		if !strings.HasPrefix(ct, kind) {
			return processor.Value{}, processor.Permanent(processor.CodeInputInvalid,
				fmt.Sprintf("Input %q is %s, not a video.", in.ID, ct), netguard.ErrInvalidContent)
		}
		return processor.Value{Type: in.Type, Path: f.Name(), ContentType: ct}, nil
	}
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return processor.Value{}, fmt.Errorf("error reading input %q: %w", in.ID, err)
	}
	if int64(len(data)) > limit {
		return processor.Value{}, processor.Permanent(processor.CodeInputInvalid,
			fmt.Sprintf("Input %q is larger than %d bytes.", in.ID, limit), netguard.ErrTooLarge)
	}
	ct := netguard.SniffContentType(data)
	if !strings.HasPrefix(ct, kind) {
		return processor.Value{}, processor.Permanent(processor.CodeInputInvalid,
			fmt.Sprintf("Input %q is %s, not an image.", in.ID, ct), netguard.ErrInvalidContent)
	}
	return processor.Value{Type: in.Type, Data: data, ContentType: ct}, nil
}

// removeFiles deletes the downloaded inputs; every step is over by then.
func (x *execution) removeFiles() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, f := range x.files {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			x.e.cfg.Logger.Warn("error removing downloaded input", "run_id", x.run.ID, "error", err)
		}
	}
	x.files = nil
}

// store keeps a step's output: media goes to the blob store, text stays in
// the record.
func (x *execution) store(ctx context.Context, stepID, port string, v processor.Value) (store.RunOutput, error) {
	if !technique.IsMedia(v.Type) {
		return store.RunOutput{ID: port, Type: v.Type, Text: v.Text}, nil
	}
	key := fmt.Sprintf("runs/%s/%s/%s%s", x.run.ID, stepID, port, blob.Extension(v.ContentType))
	n, err := x.e.cfg.Blobs.Put(ctx, key, bytes.NewReader(v.Data), v.ContentType)
	if err != nil {
		return store.RunOutput{}, fmt.Errorf("error storing output of step %s: %w", stepID, err)
	}
	return store.RunOutput{ID: port, Type: v.Type, BlobKey: key, ContentType: v.ContentType, Size: n}, nil
}
