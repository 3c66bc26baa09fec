package sqlstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/florad/florad/internal/store"
)

// groupCommitMax bounds how many callers share one commit.
const groupCommitMax = 64

// grouper commits several callers' transactions together. On SQLite every
// durable commit costs a flush and there is one writer, so under
// concurrency the flushes, not the work, set the pace; sharing a commit
// lifts that limit while each caller keeps its own all-or-nothing savepoint.
//
// There is no committer goroutine: the first caller to arrive leads and
// commits in its own goroutine, so a lone caller pays no hand-off. Callers
// arriving meanwhile queue; when the leader's commit is done, it hands the
// lead to the first of them, which commits everything queued so far.
type grouper struct {
	s       *Store
	mu      sync.Mutex
	leading bool
	pending []*groupReq
}

type groupReq struct {
	ctx  context.Context
	fn   func(tx store.Tx) error
	done chan error
	lead chan struct{}
}

// InTxGrouped implements store.Store.
func (s *Store) InTxGrouped(ctx context.Context, fn func(tx store.Tx) error) error {
	guarded := func(tx store.Tx) error { return runGuarded(fn, tx) }
	g := s.group
	if g == nil {
		return s.InTx(ctx, guarded)
	}
	req := &groupReq{ctx: ctx, fn: fn, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, req)
	if g.leading {
		g.mu.Unlock()
		// Once queued, fn may run at any moment: wait for its outcome
		// even if ctx ends (its own queries see ctx and fail fast).
		select {
		case err := <-req.done:
			return err
		case <-req.lead:
		}
		g.mu.Lock()
	}
	g.leading = true
	n := min(len(g.pending), groupCommitMax)
	batch := g.pending[:n:n]
	g.pending = g.pending[n:]
	g.mu.Unlock()

	g.commit(batch)

	g.mu.Lock()
	if len(g.pending) > 0 {
		next := g.pending[0]
		g.mu.Unlock()
		next.lead <- struct{}{}
	} else {
		g.leading = false
		g.mu.Unlock()
	}
	return <-req.done
}

func (g *grouper) commit(batch []*groupReq) {
	results := make([]error, len(batch))
	err := g.s.InTx(context.Background(), func(tx store.Tx) error {
		t := tx.(*txQueries)
		if len(batch) == 1 {
			// Alone: the transaction itself is the savepoint.
			results[0] = runGuarded(batch[0].fn, tx)
			if results[0] != nil {
				return results[0]
			}
			return nil
		}
		for i, r := range batch {
			if err := r.ctx.Err(); err != nil {
				results[i] = err
				continue
			}
			if _, err := t.tx.ExecContext(r.ctx, `SAVEPOINT florad_group`); err != nil {
				return fmt.Errorf("error opening savepoint: %w", err)
			}
			results[i] = runGuarded(r.fn, tx)
			if results[i] == nil && t.failed.err != nil {
				results[i] = fmt.Errorf("error committing transaction: a statement in it failed: %w", t.failed.err)
			}
			if results[i] != nil {
				if _, err := t.tx.Exec(`ROLLBACK TO florad_group`); err != nil {
					return fmt.Errorf("error rolling back savepoint: %w", err)
				}
			}
			// What failed was undone with its savepoint.
			t.failed.err = nil
			if _, err := t.tx.Exec(`RELEASE florad_group`); err != nil {
				return fmt.Errorf("error releasing savepoint: %w", err)
			}
		}
		return nil
	})
	for i, r := range batch {
		if err != nil && (len(batch) > 1 || results[i] == nil) {
			r.done <- err // the commit failed: nobody's writes happened
		} else {
			r.done <- results[i]
		}
	}
}

// runGuarded turns a panic in one caller's function into its error, so it
// cannot take the other callers' work down with it.
func runGuarded(fn func(tx store.Tx) error, tx store.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in grouped transaction: %v", p)
		}
	}()
	return fn(tx)
}
