package store

// Run event types, as streamed to clients.
const (
	EventCreated   = "run.created"
	EventStarted   = "run.started"
	EventProgress  = "run.progress"
	EventOutput    = "run.output"
	EventCompleted = "run.completed"
	EventFailed    = "run.failed"
)

// RunEvent is one change of a run. IDs grow with commit order within a run:
// every writer of a run's events holds the run's row lock first.
type RunEvent struct {
	ID        int64
	RunID     string
	Type      string
	Data      []byte // JSON
	CreatedAt int64
}

// RunListParams filters and pages a workspace's runs, newest first.
type RunListParams struct {
	WorkspaceID   string
	TechniqueID   string // optional
	Status        string // optional
	CreatedAfter  *int64 // exclusive, unix ms
	CreatedBefore *int64 // exclusive, unix ms
	// After is the keyset cursor: the (created_at, id) of the last run of
	// the previous page; the page holds older runs only, so runs created
	// meanwhile never shift it.
	AfterCreatedAt int64
	AfterID        string
	Limit          int
}
