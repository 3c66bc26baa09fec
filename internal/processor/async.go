package processor

import (
	"context"
	"time"
)

// Async is a model that runs at a remote provider: the step submits a
// request, and the run's job then lets go of its worker slot and comes back
// to poll it, so a model that takes minutes holds no worker. The engine
// records the request (Handle) before it waits, and a run resumed after a
// crash polls the recorded request: Submit is never called twice for one
// step of one run unless the provider refused the first (a 429, a 5xx).
type Async interface {
	Processor
	Limited
	// Submit sends the request and returns what Poll and Cancel need.
	Submit(ctx context.Context, call *Call) (*Submission, error)
	// Poll asks how the request is doing; call carries the step's params
	// but no inputs.
	Poll(ctx context.Context, handle string, call *Call) (*Poll, error)
	// Cancel asks the provider to stop the request.
	Cancel(ctx context.Context, handle string) error
}

// Limited is a model whose requests go to a provider with a concurrency
// cap across the deployment. A synchronous one (an OpenAI-compatible call,
// answered when the model is done) holds one of the provider's slots, and
// its worker, for the length of Run; a step interrupted in the middle (the
// process died) is not sent again, as for Async.
type Limited interface {
	// Provider names the provider the requests go to; the concurrency cap
	// and cancellation are per provider.
	Provider() string
	// Limit is the provider's cap: requests in flight at once across the
	// deployment. 0 means none.
	Limit() int
}

// Submission is a request the provider accepted.
type Submission struct {
	// RequestID is the provider's id of it, by which its webhooks name it.
	RequestID string
	// Handle is the adapter's record of it (the id and whatever URLs Poll
	// and Cancel use), opaque to everyone else.
	Handle string
}

// Poll is what a provider said about a request.
type Poll struct {
	// Done is set with Outputs once the model finished.
	Done    bool
	Outputs map[string]Value
	// Status is the provider's state, shown to the run's watchers
	// (IN_QUEUE, IN_PROGRESS, ...).
	Status string
	// QueuePosition is the request's place in the provider's queue, or -1.
	QueuePosition int
	// Progress is the share done, 0..1, or -1 when the provider does not
	// say.
	Progress float64
	// After, when set, is when the provider suggests asking again.
	After time.Duration
}
