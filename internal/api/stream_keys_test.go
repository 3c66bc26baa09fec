package api

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/auth"
)

// TestStreamKeysOneCheckPerKey: many streams of one key share one check an
// interval, and all of them learn of the key's revocation at its next
// check.
func TestStreamKeysOneCheckPerKey(t *testing.T) {
	t.Parallel()
	var checks atomic.Int64
	var revoked atomic.Bool
	k := newStreamKeys(func(_ context.Context, token string) error {
		checks.Add(1)
		if token == "sk_a" && revoked.Load() {
			return auth.ErrInvalidKey
		}
		return nil
	}, 20*time.Millisecond)

	const streams = 500
	var chans []<-chan struct{}
	var releases []func()
	for range streams {
		ch, release := k.watch("sk_a")
		chans, releases = append(chans, ch), append(releases, release)
	}
	other, releaseOther := k.watch("sk_b")
	defer releaseOther()

	time.Sleep(200 * time.Millisecond) // about 10 intervals
	n := checks.Load()
	require.Greater(t, n, int64(2))
	require.Less(t, n, int64(2*15), "%d checks for %d streams of 2 keys over ~10 intervals", n, streams+1)

	revoked.Store(true)
	var wg sync.WaitGroup
	for _, ch := range chans {
		wg.Go(func() {
			select {
			case <-ch:
			case <-time.After(5 * time.Second):
				t.Error("a stream of the revoked key was not told")
			}
		})
	}
	wg.Wait()
	select {
	case <-other:
		t.Fatal("the other key's stream was told its key was revoked")
	default:
	}
	for _, release := range releases {
		release()
		release() // twice is harmless
	}
	k.mu.Lock()
	require.Len(t, k.keys, 1, "only sk_b is still watched")
	k.mu.Unlock()
}
