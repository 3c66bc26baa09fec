package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/technique"
)

// hasAsync says whether any step of t runs at a provider, so that runs of
// local techniques do not pay for reading provider calls.
func hasAsync(t *technique.Technique, procs processor.Registry) bool {
	for _, s := range t.Steps {
		if _, ok := procs[s.Model].(processor.Limited); ok {
			return true
		}
	}
	return false
}

// runAsync advances a provider step by one move and returns its outputs once
// the provider is done, or *Waiting: the first execution records that it is
// about to submit (taking a provider slot), submits, and records the
// provider's handle; every later execution polls the recorded request. A
// request whose submission was interrupted (the process died between
// sending it and recording the answer) is not sent again: whether the
// provider took it, and charged for it, cannot be known, so the step fails.
func (x *execution) runAsync(ctx context.Context, s technique.Step, p processor.Async) (map[string]processor.Value, error) {
	x.mu.Lock()
	c := x.calls[s.ID]
	x.mu.Unlock()
	if c == nil {
		return nil, x.submit(ctx, s, p)
	}
	if c.State == store.CallSubmitting {
		return nil, x.interrupted(ctx, s, p)
	}
	res, err := p.Poll(ctx, c.Handle, &processor.Call{Params: s.Params})
	age := x.e.cfg.Now().Sub(time.UnixMilli(c.CreatedAt))
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		pe := processor.AsError(err)
		if pe.Transient {
			x.e.cfg.Logger.Warn("provider poll failed, will poll again", "run_id", x.run.ID, "step", s.ID,
				"provider", p.Provider(), "error", err)
			return nil, &Waiting{After: max(pe.RetryAfter, x.pollAfter(age))}
		}
		x.endCall(ctx, s.ID)
		return nil, err
	}
	if res.Done {
		return res.Outputs, nil
	}
	st := CallStatus{Status: res.Status, QueuePosition: res.QueuePosition, Progress: x.progressFor(x.doneCount(), 0)}
	if res.Progress > 0 {
		st.Progress = x.progressFor(x.doneCount(), min(res.Progress, 1))
	}
	// Progress never goes down, and the run may have reached more before.
	st.Progress = max(st.Progress, x.run.Progress)
	if err := x.rec.CallStatus(ctx, s.ID, st); err != nil {
		return nil, err
	}
	return nil, &Waiting{After: max(res.After, x.pollAfter(age))}
}

func (x *execution) interrupted(ctx context.Context, s technique.Step, p processor.Limited) error {
	x.endCall(ctx, s.ID)
	return processor.Permanent(processor.CodeProviderError,
		"The step's request to the provider was interrupted while it was being sent; it was not sent again, so that it cannot be paid twice.",
		fmt.Errorf("step %s: call to %s left submitting", s.ID, p.Provider()))
}

// runLimited runs a synchronous provider model in one of its provider's
// slots, recorded like a submission: the slot is taken in a call record
// that the finished step's record removes.
func (x *execution) runLimited(ctx context.Context, s technique.Step, p processor.Processor, lp processor.Limited) (map[string]processor.Value, error) {
	x.mu.Lock()
	c := x.calls[s.ID]
	x.mu.Unlock()
	if c != nil {
		return nil, x.interrupted(ctx, s, lp)
	}
	inputs, err := x.resolveInputs(ctx, s)
	if err != nil {
		return nil, err
	}
	switch err := x.rec.CallBegin(ctx, s.ID, lp.Provider(), lp.Limit()); {
	case errors.Is(err, store.ErrProviderBusy):
		return nil, &Waiting{After: busyWait}
	case err != nil:
		return nil, err
	}
	outs, err := p.Run(ctx, &processor.Call{Inputs: inputs, Params: s.Params,
		Progress: func(f float64) { x.stepProgress(ctx, s.ID, f) }})
	if err == nil {
		return outs, nil
	}
	x.endCall(ctx, s.ID)
	// A provider that asked to be left alone for a while (a 429 with
	// Retry-After) or failed on its side: the step waits without holding
	// a worker, and is sent again.
	if pe := (*processor.Error)(nil); errors.As(err, &pe) && pe.Transient && ctx.Err() == nil {
		x.e.cfg.Logger.Warn("provider call failed, will call again", "run_id", x.run.ID, "step", s.ID,
			"provider", lp.Provider(), "error", err)
		return nil, &Waiting{After: max(pe.RetryAfter, 2*time.Second)}
	}
	return nil, err
}

func (x *execution) doneCount() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.results)
}

func (x *execution) submit(ctx context.Context, s technique.Step, p processor.Async) error {
	inputs, err := x.resolveInputs(ctx, s)
	if err != nil {
		return err
	}
	switch err := x.rec.CallBegin(ctx, s.ID, p.Provider(), p.Limit()); {
	case errors.Is(err, store.ErrProviderBusy):
		return &Waiting{After: busyWait}
	case err != nil:
		return err
	}
	// Neither a shutdown nor a cancel cuts a submission short: its outcome
	// must be recorded, whatever it is.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), x.e.cfg.SubmitTimeout)
	defer cancel()
	sub, err := p.Submit(sctx, &processor.Call{Inputs: inputs, Params: s.Params})
	if err != nil {
		x.endCall(sctx, s.ID)
		pe := processor.AsError(err)
		if pe.Transient {
			// The provider refused it (429, 5xx, unreachable): nothing was
			// taken, and it is sent again later.
			x.e.cfg.Logger.Warn("provider submit refused, will submit again", "run_id", x.run.ID, "step", s.ID,
				"provider", p.Provider(), "error", err)
			return &Waiting{After: max(pe.RetryAfter, 2*time.Second)}
		}
		return err
	}
	if err := x.rec.CallSubmitted(sctx, s.ID, sub); err != nil {
		// The run ended (canceled) or changed hands while the request was
		// sent: nobody will poll it, so the provider is told to stop.
		if cerr := p.Cancel(sctx, sub.Handle); cerr != nil {
			x.e.cfg.Logger.Warn("error canceling an orphaned provider request", "run_id", x.run.ID, "step", s.ID,
				"provider", p.Provider(), "error", cerr)
		}
		x.endCall(sctx, s.ID)
		return err
	}
	x.e.cfg.Logger.Debug("provider request submitted", "run_id", x.run.ID, "step", s.ID, "provider", p.Provider())
	return &Waiting{After: x.e.cfg.PollMin}
}

func (x *execution) endCall(ctx context.Context, stepID string) {
	if err := x.rec.CallEnd(context.WithoutCancel(ctx), stepID); err != nil {
		x.e.cfg.Logger.Warn("error ending a provider call", "run_id", x.run.ID, "step", stepID, "error", err)
	}
}

// pollAfter is the wait before the next poll of a request of this age: a
// tenth of it, within PollMin and PollMax.
func (x *execution) pollAfter(age time.Duration) time.Duration {
	return min(max(age/10, x.e.cfg.PollMin), x.e.cfg.PollMax)
}
