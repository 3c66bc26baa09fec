package app_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/store"
)

func TestInsufficientCredits(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{postgres: pg, credits: 3})
		ctx := context.Background()
		p := &client.RunCreateParams{Mode: "async", IdempotencyKey: "poor-1",
			Inputs: []client.Input{{ID: "input_image", Type: "imageUrl", Value: b.imageURL("portrait.png")}}}

		_, err := b.client.Runs.Create(ctx, "portrait-enhancer", p)
		e := apiError(t, err, http.StatusPaymentRequired, "insufficient_credits")
		require.NotNil(t, e.Required)
		require.NotNil(t, e.Available)
		require.Equal(t, int64(5), *e.Required)
		require.Equal(t, int64(3), *e.Available)
		require.NotEmpty(t, e.Message)

		// Nothing was created: no run, no reservation, and the idempotency
		// key is still free.
		require.Equal(t, int64(3), b.balance(t, b.wsID))
		require.Zero(t, b.countRuns(t, b.wsID))
		require.Zero(t, b.countLedger(t, b.wsID, store.LedgerReserve))
		b.requireLedgerExplainsBalance(t, b.wsID)

		_, err = b.app.Workspaces.Grant(ctx, b.wsID, 2, "top up")
		require.NoError(t, err)
		r, err := b.client.Runs.Create(ctx, "portrait-enhancer", p)
		require.NoError(t, err)
		require.False(t, r.Response.Replayed(), "the refused request left nothing behind its key")
		require.Zero(t, b.balance(t, b.wsID))
		b.wait(t, b.client, "portrait-enhancer", r.RunID)
	})
}

// TestCreditRace fires three times more concurrent runs than the balance
// pays for: exactly as many succeed as can be paid, the rest get 402, and
// the balance never goes below zero. Every balance change writes a ledger
// entry with the balance after it, so checking the entries checks every
// balance the workspace ever had.
func TestCreditRace(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		const paid = 8 // prompt-expander costs one credit
		b := setupWith(t, setupOpts{postgres: pg, credits: paid})
		ctx := context.Background()

		var (
			ready    sync.WaitGroup
			start    = make(chan struct{})
			wg       sync.WaitGroup
			mu       sync.Mutex
			runIDs   []string
			refused  atomic.Int32
			otherErr = make(chan error, 3*paid)
		)
		for i := range 3 * paid {
			wg.Add(1)
			ready.Add(1)
			go func() {
				defer wg.Done()
				ready.Done()
				<-start
				r, err := b.client.Runs.Create(ctx, "prompt-expander", promptRun("race "+string(rune('a'+i))))
				switch e := client.AsAPIError(err); {
				case err == nil:
					mu.Lock()
					runIDs = append(runIDs, r.RunID)
					mu.Unlock()
				case e != nil && e.Status == http.StatusPaymentRequired && e.Code == "insufficient_credits":
					refused.Add(1)
				default:
					otherErr <- err
				}
			}()
		}
		ready.Wait() // all at the barrier, then all at once
		close(start)
		wg.Wait()
		close(otherErr)
		for err := range otherErr {
			require.NoError(t, err, "every create either succeeds or gets 402")
		}

		require.Len(t, runIDs, paid)
		require.Equal(t, int32(2*paid), refused.Load())
		require.Zero(t, b.balance(t, b.wsID))
		require.Equal(t, paid, b.countRuns(t, b.wsID))
		require.Equal(t, paid, b.countLedger(t, b.wsID, store.LedgerReserve))
		b.requireLedgerExplainsBalance(t, b.wsID)

		for _, id := range runIDs {
			r := b.wait(t, b.client, "prompt-expander", id)
			require.Equal(t, client.StatusCompleted, r.Status)
		}
		require.Zero(t, b.balance(t, b.wsID), "completed runs keep their charge")
		require.Equal(t, paid, b.countLedger(t, b.wsID, store.LedgerCharge))
		require.Zero(t, b.countLedger(t, b.wsID, store.LedgerRefund))
		b.requireLedgerExplainsBalance(t, b.wsID)
	})
}
