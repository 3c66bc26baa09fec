// Package run is the service behind the run endpoints: it starts runs (with
// idempotency and the credit reservation in one transaction), reads them,
// and ends them (charge or refund in the same transaction as the status).
package run

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

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

// JobInserter is the part of River's client the service uses.
type JobInserter interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	InsertManyFastTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) (int, error)
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

// Service starts, reads and ends runs.
type Service struct {
	Store store.Store
	// Techniques resolves technique references for a workspace.
	Techniques *technique.Library
	Jobs       JobInserter
	// CheckURL decides whether a media input URL may be fetched.
	CheckURL func(string) error
	Limits   technique.Limits
	Now      func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
