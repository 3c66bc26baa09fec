package app_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/store"
)

// TestRunFailures checks that runs whose input cannot be used end failed
// with the right code, and that their reservation comes back.
func TestRunFailures(t *testing.T) {
	t.Parallel()
	b := setup(t)

	for _, tc := range []struct {
		name string
		url  func() string
		code string
	}{
		{"Unreachable", func() string { return closedPortURL(t) }, "input_unreachable"},
		{"NotFound", func() string { return b.imageURL("missing.png") }, "input_unreachable"},
		{"NotAnImage", func() string { return b.imageURL("notes.txt") }, "input_invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Each case on its own workspace, so balances do not mix.
			wsID, _, key := b.newWorkspace(t, 20)
			c := b.newClient(key)
			created, err := c.Runs.Create(context.Background(), "portrait-enhancer", &client.RunCreateParams{Mode: "async",
				Inputs: []client.Input{{ID: "input_image", Type: "imageUrl", Value: tc.url()}}})
			require.NoError(t, err, "the URL is well formed, so the run starts")
			// The reservation is in the ledger from the start; the balance may
			// already be refunded, as a closed port fails within milliseconds.
			require.Equal(t, 1, b.countLedger(t, wsID, store.LedgerReserve), "reserved when created")

			r := b.wait(t, c, "portrait-enhancer", created.RunID)
			require.Equal(t, client.StatusFailed, r.Status)
			require.Equal(t, tc.code, r.ErrorCode)
			require.NotEmpty(t, r.ErrorMessage)
			require.Empty(t, r.Outputs)
			require.NotNil(t, r.CompletedAt)
			if r.ChargedCredits != nil {
				require.Zero(t, *r.ChargedCredits, "a failed run costs nothing")
			}
			require.NotContains(t, r.ErrorMessage, "127.0.0.1", "messages do not leak resolved addresses")

			require.Equal(t, int64(20), b.balance(t, wsID), "the reservation is refunded")
			require.Equal(t, 1, b.countLedger(t, wsID, store.LedgerRefund))
			require.Zero(t, b.countLedger(t, wsID, store.LedgerCharge))
			b.requireLedgerExplainsBalance(t, wsID)
		})
	}
}
