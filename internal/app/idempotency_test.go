package app_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/store"
)

func TestIdempotency(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{postgres: pg})
		ctx := context.Background()

		// Each subtest has its own workspace, so charges can be counted.
		newWS := func(t *testing.T) (string, *client.Client) {
			wsID, _, key := b.newWorkspace(t, startCredits)
			return wsID, b.newClient(key)
		}

		t.Run("BodyKeyReplay", func(t *testing.T) {
			t.Parallel()
			wsID, c := newWS(t)
			p := promptRun("a cat")
			p.IdempotencyKey = "order-1"

			first, err := c.Runs.Create(ctx, "prompt-expander", p)
			require.NoError(t, err)
			require.False(t, first.Response.Replayed())

			again, err := c.Runs.Create(ctx, "prompt-expander", p)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, again.Response.StatusCode)
			require.True(t, again.Response.Replayed())
			require.Equal(t, "true", again.Response.Header.Get("idempotent-replayed"))
			require.Equal(t, first.RunID, again.RunID)

			// After the run ends, a replay returns its current state.
			done := b.wait(t, c, "prompt-expander", first.RunID)
			later, err := c.Runs.Create(ctx, "prompt-expander", p)
			require.NoError(t, err)
			require.True(t, later.Response.Replayed())
			require.Equal(t, first.RunID, later.RunID)
			require.Equal(t, client.StatusCompleted, later.Status)
			require.Equal(t, done.Outputs, later.Outputs)

			// The same key sent as the header means the same thing.
			viaHeader, err := c.Runs.Create(ctx, "prompt-expander", promptRun("a cat"), client.WithIdempotencyKey("order-1"))
			require.NoError(t, err)
			require.True(t, viaHeader.Response.Replayed())
			require.Equal(t, first.RunID, viaHeader.RunID)

			require.Equal(t, int64(startCredits-1), b.balance(t, wsID), "charged once")
			require.Equal(t, 1, b.countLedger(t, wsID, store.LedgerReserve))
			require.Equal(t, 1, b.countRuns(t, wsID))
		})

		t.Run("HeaderKeyReplay", func(t *testing.T) {
			t.Parallel()
			wsID, c := newWS(t)
			key := client.WithIdempotencyKey("order-2")

			first, err := c.Runs.Create(ctx, "prompt-expander", promptRun("a dog"), key)
			require.NoError(t, err)
			require.False(t, first.Response.Replayed())
			again, err := c.Runs.Create(ctx, "prompt-expander", promptRun("a dog"), key)
			require.NoError(t, err)
			require.True(t, again.Response.Replayed())
			require.Equal(t, first.RunID, again.RunID)

			// Header and body both present and equal: also the same request.
			p := promptRun("a dog")
			p.IdempotencyKey = "order-2"
			both, err := c.Runs.Create(ctx, "prompt-expander", p, key)
			require.NoError(t, err)
			require.True(t, both.Response.Replayed())
			require.Equal(t, first.RunID, both.RunID)

			require.Equal(t, int64(startCredits-1), b.balance(t, wsID))
			require.Equal(t, 1, b.countLedger(t, wsID, store.LedgerReserve))
		})

		t.Run("SameRequestOtherSpelling", func(t *testing.T) {
			t.Parallel()
			_, c := newWS(t)
			// Input order and type spelling do not make a request different.
			p := &client.RunCreateParams{Mode: "async", IdempotencyKey: "order-3", Inputs: []client.Input{
				{ID: "prompt", Type: "text", Value: "a cat"}, {ID: "style", Type: "text", Value: "noir"}}}
			first, err := c.Runs.Create(ctx, "prompt-expander", p)
			require.NoError(t, err)
			p.Inputs = []client.Input{{ID: "style", Type: "TEXT", Value: "noir"}, {ID: "prompt", Type: "TEXT", Value: "a cat"}}
			again, err := c.Runs.Create(ctx, "prompt-expander", p)
			require.NoError(t, err)
			require.True(t, again.Response.Replayed())
			require.Equal(t, first.RunID, again.RunID)
		})

		t.Run("Conflict", func(t *testing.T) {
			t.Parallel()
			wsID, c := newWS(t)
			p := promptRun("a cat")
			p.IdempotencyKey = "order-4"
			first, err := c.Runs.Create(ctx, "prompt-expander", p)
			require.NoError(t, err)

			p.Inputs[0].Value = "a dog"
			_, err = c.Runs.Create(ctx, "prompt-expander", p)
			apiError(t, err, http.StatusUnprocessableEntity, "idempotency_conflict")

			// Another technique under the same key is a different request too.
			_, err = c.Runs.Create(ctx, "portrait-enhancer", &client.RunCreateParams{Mode: "async", IdempotencyKey: "order-4",
				Inputs: []client.Input{{ID: "input_image", Type: "imageUrl", Value: b.imageURL("portrait.png")}}})
			apiError(t, err, http.StatusUnprocessableEntity, "idempotency_conflict")

			require.Equal(t, int64(startCredits-1), b.balance(t, wsID), "conflicts charge nothing")
			require.Equal(t, 1, b.countRuns(t, wsID))
			b.wait(t, c, "prompt-expander", first.RunID)
		})

		t.Run("ScopedToWorkspace", func(t *testing.T) {
			t.Parallel()
			_, c1 := newWS(t)
			_, c2 := newWS(t)
			p := promptRun("a cat")
			p.IdempotencyKey = "shared-key"
			r1, err := c1.Runs.Create(ctx, "prompt-expander", p)
			require.NoError(t, err)
			r2, err := c2.Runs.Create(ctx, "prompt-expander", p)
			require.NoError(t, err)
			require.False(t, r2.Response.Replayed(), "another workspace's key is not ours")
			require.NotEqual(t, r1.RunID, r2.RunID)
		})
	})
}

// TestIdempotencyConcurrent releases 50 identical keyed requests at the
// same moment: one run is made and paid for, and all 50 answers name it.
func TestIdempotencyConcurrent(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		const n = 50
		b := setupWith(t, setupOpts{postgres: pg})
		ctx := context.Background()
		p := promptRun("a thundering herd")
		p.IdempotencyKey = "herd-1"

		var (
			ready sync.WaitGroup
			done  sync.WaitGroup
			start = make(chan struct{})
			runs  = make([]*client.Run, n)
			errs  = make([]error, n)
		)
		for i := range n {
			ready.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				ready.Done()
				<-start
				runs[i], errs[i] = b.client.Runs.Create(ctx, "prompt-expander", p)
			}()
		}
		ready.Wait()
		close(start)
		done.Wait()

		ids := map[string]int{}
		fresh := 0
		for i := range n {
			require.NoError(t, errs[i], "request %d", i)
			require.Equal(t, http.StatusOK, runs[i].Response.StatusCode)
			ids[runs[i].RunID]++
			if !runs[i].Response.Replayed() {
				fresh++
			}
		}
		require.Len(t, ids, 1, "all answers name one run: %v", ids)
		require.Equal(t, 1, fresh, "exactly one answer made the run; the others replayed it")
		require.Equal(t, 1, b.countRuns(t, b.wsID))
		require.Equal(t, 1, b.countLedger(t, b.wsID, store.LedgerReserve))
		require.Equal(t, int64(startCredits-1), b.balance(t, b.wsID))
		b.requireLedgerExplainsBalance(t, b.wsID)
	})
}
