package api

import "sync"

// streamLimiter counts each workspace's open streams on this process: a
// stream holds a connection and a goroutine for as long as a run lasts, so
// one workspace must not be able to take them all.
type streamLimiter struct {
	max  int
	mu   sync.Mutex
	open map[string]int
}

func newStreamLimiter(max int) *streamLimiter {
	return &streamLimiter{max: max, open: map[string]int{}}
}

// acquire takes one of the workspace's streams, or refuses with 429; the
// returned function gives it back.
func (l *streamLimiter) acquire(workspaceID string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[workspaceID] >= l.max {
		return nil, errTooManyStreams(l.max)
	}
	l.open[workspaceID]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.open[workspaceID]--; l.open[workspaceID] <= 0 {
			delete(l.open, workspaceID)
		}
	}, nil
}
