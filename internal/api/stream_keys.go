package api

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/florad/florad/internal/auth"
)

// streamKeys checks that the keys open streams were opened with are still
// valid: one check per key per interval on this process, shared by every
// stream of that key, so that 10,000 streams of one key cost one check an
// interval instead of 10,000. A revoked key's streams all end at its next
// check, within about an interval of the revocation.
type streamKeys struct {
	verify   func(ctx context.Context, token string) error
	interval time.Duration

	mu   sync.Mutex
	keys map[string]*keyWatch
}

// keyWatch is one key's check, running while streams of the key are open.
type keyWatch struct {
	refs    int
	revoked chan struct{} // closed when the key stopped being valid
	stop    chan struct{} // closed when the last stream is gone
}

func newStreamKeys(verify func(ctx context.Context, token string) error, interval time.Duration) *streamKeys {
	return &streamKeys{verify: verify, interval: interval, keys: map[string]*keyWatch{}}
}

// watch returns a channel closed when token stops being valid, and the
// function to call when the stream ends.
func (k *streamKeys) watch(token string) (revoked <-chan struct{}, release func()) {
	k.mu.Lock()
	w := k.keys[token]
	if w == nil {
		w = &keyWatch{revoked: make(chan struct{}), stop: make(chan struct{})}
		k.keys[token] = w
		go k.check(token, w)
	}
	w.refs++
	k.mu.Unlock()
	var once sync.Once
	return w.revoked, func() {
		once.Do(func() {
			k.mu.Lock()
			defer k.mu.Unlock()
			if w.refs--; w.refs == 0 {
				close(w.stop)
				if k.keys[token] == w {
					delete(k.keys, token)
				}
			}
		})
	}
}

// check verifies token every interval (the first time after a random part
// of one, so that keys whose streams opened together spread their checks)
// until its last stream ends or the key is found invalid.
func (k *streamKeys) check(token string, w *keyWatch) {
	t := time.NewTimer(k.interval/2 + rand.N(k.interval/2+1))
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), k.interval)
		err := k.verify(ctx, token)
		cancel()
		if errors.Is(err, auth.ErrInvalidKey) {
			k.mu.Lock()
			if k.keys[token] == w {
				delete(k.keys, token) // streams opened from now on watch afresh
			}
			k.mu.Unlock()
			close(w.revoked)
			return
		}
		t.Reset(k.interval)
	}
}
