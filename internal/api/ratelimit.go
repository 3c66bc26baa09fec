package api

import (
	"math"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateLimiter holds one token bucket per workspace: PerSecond requests a
// second on average, Burst at once. Buckets live in this process only, so
// with several API processes a workspace gets the limit from each; a shared
// limiter would cost a database write per request.
type rateLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	swept   time.Time
}

// rateSweepEvery is how often buckets that have refilled are forgotten, so
// the map holds only workspaces seen lately.
const rateSweepEvery = time.Minute

// newRateLimiter returns nil, no limit, when perSecond is not positive. A
// burst below one defaults to two seconds' worth.
func newRateLimiter(perSecond float64, burst int) *rateLimiter {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = max(1, int(math.Ceil(2*perSecond)))
	}
	return &rateLimiter{limit: rate.Limit(perSecond), burst: burst, buckets: map[string]*rate.Limiter{}}
}

// allow spends one token of the workspace's bucket at now. When the bucket
// is empty nothing is spent, and wait is how long until a token is there.
func (l *rateLimiter) allow(workspaceID string, now time.Time) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) >= rateSweepEvery {
		l.sweep(now)
	}
	b := l.buckets[workspaceID]
	if b == nil {
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[workspaceID] = b
	}
	r := b.ReserveN(now, 1)
	if wait = r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return false, wait
	}
	return true, 0
}

// sweep forgets full buckets: a new bucket starts full, so nothing changes.
func (l *rateLimiter) sweep(now time.Time) {
	for ws, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, ws)
		}
	}
	l.swept = now
}

// rateLimit refuses a workspace's requests beyond its rate with 429
// rate_limited and Retry-After in whole seconds. It runs after
// authenticate: the limit is the workspace's, whichever key it uses.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := s.limiter.allow(principal(r.Context()).WorkspaceID, time.Now()); !ok {
			s.writeError(w, r, errRateLimited(s.limiter, wait))
			return
		}
		next.ServeHTTP(w, r)
	})
}
