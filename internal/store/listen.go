package store

import "context"

// RunEventListener is implemented by backends that can announce committed
// run events to every process (PostgreSQL's LISTEN/NOTIFY), so a process
// streaming a run learns of another process's events at once instead of
// at its next poll. SQLite, one process, has none.
type RunEventListener interface {
	// AnnounceRunEvents tells every listening process, from the process
	// named from, that the runs have new committed events; the runs'
	// ids together stay under MaxAnnounceBytes. Call it after the commit,
	// outside any transaction: on PostgreSQL a transaction that notifies
	// holds a database-wide lock through its commit's flush, which would
	// serialise every writer.
	AnnounceRunEvents(ctx context.Context, from string, runIDs []string) error
	// ListenRunEvents calls ready once listening, then fn with the sender
	// and run of each announcement, until ctx ends or the connection fails
	// (the error says which). Announcements made while not listening are
	// lost: a caller that listens again must look for what it missed.
	ListenRunEvents(ctx context.Context, ready func(), fn func(from, runID string)) error
}

// MaxAnnounceBytes bounds the run ids of one announcement (PostgreSQL's
// notification payload is under 8000 bytes).
const MaxAnnounceBytes = 7000
