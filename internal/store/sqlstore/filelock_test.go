package sqlstore

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWithFileLockExcludes: holders of the lock never overlap, even in one
// process (each holder opens the file anew, as another process would).
func TestWithFileLockExcludes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x-migrate.lock")

	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			require.NoError(t, withFileLock(t.Context(), path, func() error {
				n := inside.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(5 * time.Millisecond)
				inside.Add(-1)
				return nil
			}))
		})
	}
	wg.Wait()
	require.Equal(t, int32(1), most.Load())
}

// TestWithFileLockWaitsForContext: a waiter gives up when its context ends,
// and fn's error is returned as it is.
func TestWithFileLockWaitsForContext(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "x-migrate.lock")

	held := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- withFileLock(t.Context(), path, func() error {
			close(held)
			<-release
			return context.Canceled
		})
	}()
	<-held
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	called := false
	err := withFileLock(ctx, path, func() error { called = true; return nil })
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "error taking migration lock")
	require.False(t, called)
	close(release)
	require.ErrorIs(t, <-done, context.Canceled)

	// Released: the next taker gets it at once.
	require.NoError(t, withFileLock(t.Context(), path, func() error { return nil }))
}
