package store

// RunEvent is one change of a run, as internal/run defines them; the store
// keeps the type and the JSON data without looking inside. Seq numbers a
// run's events 1, 2, 3, ... in commit order.
type RunEvent struct {
	RunID     string
	Seq       int64
	Type      string
	Data      []byte // JSON
	CreatedAt int64
}

// RunEventInsertParams appends one event to a run.
type RunEventInsertParams struct {
	RunID     string
	Type      string
	Data      []byte // JSON
	CreatedAt int64
	// Final marks the event that records the run's end, written in the
	// transaction of RunFinish; it is the only one an ended run accepts.
	Final bool
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
