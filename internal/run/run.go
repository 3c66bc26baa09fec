// Package run owns a run's life: it creates runs (idempotency, the credit
// reservation and the River job in one transaction), starts them for the
// River job that owns them, records their steps and progress, ends them
// (charge or refund in the transaction of the final status), cancels them,
// reconciles the ones whose job died, and serves their events to streams.
// Every run event is written here and decoded here; the engine executes
// steps through the narrow recorder this package gives it.
package run

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/florad/florad/internal/metrics"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/technique"
)

// ExecuteArgs is the River job that executes one run. The job carries only
// the id: everything else is read from the run row, which is the truth.
type ExecuteArgs struct {
	RunID string `json:"run_id"`
}

// Kind implements river.JobArgs.
func (ExecuteArgs) Kind() string { return "run_execute" }

// QueueRuns is the River queue run jobs go to.
const QueueRuns = "runs"

// InsertOpts implements river.JobArgsWithInsertOpts. Attempts bound the
// retries of transient step failures.
func (ExecuteArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueRuns, MaxAttempts: MaxAttemptsDefault}
}

// MaxAttemptsDefault is how many times a run's job is tried before a
// transient failure becomes final.
const MaxAttemptsDefault = 5

// Jobs is the part of River's client the service uses: inserting jobs in
// our transactions, and reading jobs' states for the reconciler. Nothing
// here reads or writes River's tables with SQL of its own.
type Jobs interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	// JobRetry makes a job available at once: a provider's webhook wakes
	// the snoozed job of the run it concerns.
	JobRetry(ctx context.Context, id int64) (*rivertype.JobRow, error)
}

// InputResolver turns a media input value naming one of florad's own files
// into a blob reference (blob.Ref) the engine reads from the store; handled
// is false for a value it leaves alone (a URL to fetch). A refusal is a
// *validation.Error whose first message is for the client.
type InputResolver interface {
	ResolveInput(ctx context.Context, workspaceID, typ, value string) (resolved string, handled bool, err error)
}

// Errors the service returns besides store sentinels and *validation.Error.
var (
	// ErrIdempotencyConflict means the key was used before for a different
	// request.
	ErrIdempotencyConflict = errors.New("idempotency key reused with a different request")
	// ErrTechniqueUnavailable means the technique cannot run on this server
	// now; the error's message says why.
	ErrTechniqueUnavailable = errors.New("technique unavailable")
)

// Defaults of Service.
const (
	// LeaseDefault is how long an open run may go without a word from the
	// job that owns it before the reconciler looks at it.
	LeaseDefault = 30 * time.Second
	// RunTimeoutDefault is how long a run may take from creation to its end.
	RunTimeoutDefault = 30 * time.Minute
)

// Service is the one owner of the run state machine.
type Service struct {
	Store store.Store
	// Techniques resolves technique references for a workspace.
	Techniques *technique.Library
	Jobs       Jobs
	// CheckURL decides whether a media input URL may be fetched.
	CheckURL func(string) error
	// Inputs, when set, resolves media input values that name florad's own
	// files (asset ids, its blob URLs) before they are checked as URLs.
	Inputs InputResolver
	Limits technique.Limits
	// Lease is how long an open run may go without a heartbeat from its
	// owner before the reconciler rescues it. Defaults to LeaseDefault.
	Lease time.Duration
	// RunTimeout is a run's deadline, counted from its creation. Defaults
	// to RunTimeoutDefault.
	RunTimeout time.Duration
	// MaxAttempts is how many times a run's job is tried before a transient
	// failure becomes final. Defaults to MaxAttemptsDefault.
	MaxAttempts int
	// StreamPollInterval is how often the stream hub checks watched runs
	// for events written by other processes; events written by this one
	// reach streams at once. Defaults to StreamPollIntervalDefault.
	StreamPollInterval time.Duration
	// Listener, when set, tells the stream hub at once of run events other
	// processes commit (PostgreSQL's LISTEN/NOTIFY); polling then only
	// backs it up. Nil: polling alone.
	Listener store.RunEventListener
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// Metrics counts creates, starts, ends and credits once they commit;
	// nil counts nothing.
	Metrics *metrics.Metrics

	hubOnce sync.Once
	hub     *hub
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) lease() time.Duration {
	if s.Lease > 0 {
		return s.Lease
	}
	return LeaseDefault
}

// Timeout is the run deadline in force.
func (s *Service) Timeout() time.Duration {
	if s.RunTimeout > 0 {
		return s.RunTimeout
	}
	return RunTimeoutDefault
}

// jobOpts are the insert options of a run's job.
func (s *Service) jobOpts() *river.InsertOpts {
	return &river.InsertOpts{MaxAttempts: cmp.Or(s.MaxAttempts, MaxAttemptsDefault)}
}

func (s *Service) deadline(r *store.Run) time.Time {
	return time.UnixMilli(r.CreatedAt).Add(s.Timeout())
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}
