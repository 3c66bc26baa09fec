package store

import "context"

// RunEventListener is implemented by backends that announce every
// committed run event to every process (PostgreSQL's LISTEN/NOTIFY), so a
// process streaming a run learns of another process's events at once
// instead of at its next poll. SQLite, one process, has none.
type RunEventListener interface {
	// ListenRunEvents calls ready once listening, then fn with the run id
	// and event number of each run event committed anywhere, until ctx ends
	// or the connection fails (the error says which). Announcements made
	// while not listening are lost: a caller that listens again must look
	// for what it missed.
	ListenRunEvents(ctx context.Context, ready func(), fn func(runID string, seq int64)) error
}
