package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/gofrs/flock"
)

// sqliteLockPath is the file beside an SQLite database that every process
// opening the database holds, exclusively, while it creates and migrates
// it. SQLite's own write lock does not make migrations safe: goose and
// River each read the applied version, then apply what is missing in
// transactions of their own, so two processes starting on a fresh folder
// both saw version 0 and the second failed on "table already exists" (3
// starts in 10). The lock is PostgreSQL's migration advisory lock for a
// file; the operating system releases it when its holder dies.
func sqliteLockPath(dbPath string) string { return dbPath + "-migrate.lock" }

// lockRetry is how often a waiting process tries the lock again.
const lockRetry = 10 * time.Millisecond

// withFileLock runs fn holding the exclusive lock on path, waiting for it
// as long as ctx allows.
func withFileLock(ctx context.Context, path string, fn func() error) error {
	l := flock.New(path, flock.SetPermissions(0o644))
	ok, err := l.TryLockContext(ctx, lockRetry)
	if err == nil && !ok {
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("error taking migration lock %s: %w", path, err)
	}
	defer l.Unlock() //nolint:errcheck // closing the file releases the lock anyway
	return fn()
}
