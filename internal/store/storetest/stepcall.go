package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
)

func exerciseStepCall(t *testing.T, setup setupFunc) {
	t.Helper()

	t.Run("Lifecycle", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		r := b.fix.Run(ws.ID)
		provider := b.fix.ID("provider")
		begin := &store.StepCallBeginParams{RunID: r.ID, StepID: "gen", Provider: provider, At: b.fix.Now()}
		require.NoError(t, b.store.InTx(b.ctx, func(tx store.Tx) error { return tx.StepCallBegin(b.ctx, begin) }))
		err := b.store.InTx(b.ctx, func(tx store.Tx) error { return tx.StepCallBegin(b.ctx, begin) })
		require.ErrorIs(t, err, store.ErrAlreadyExists, "one call per step")
		n, err := b.store.ProviderInFlight(b.ctx, provider)
		require.NoError(t, err)
		require.Equal(t, 1, n, "the refused second call gave its slot back with its transaction")

		calls, err := b.store.StepCallList(b.ctx, r.ID)
		require.NoError(t, err)
		require.Len(t, calls, 1)
		require.Equal(t, store.CallSubmitting, calls[0].State)
		require.Empty(t, calls[0].Handle)

		at := b.fix.Now()
		require.NoError(t, b.store.InTx(b.ctx, func(tx store.Tx) error {
			return tx.StepCallSubmitted(b.ctx, r.ID, "gen", "req_1", `{"id":"req_1"}`, at)
		}))
		byReq, err := b.store.StepCallByRequest(b.ctx, provider, "req_1")
		require.NoError(t, err)
		require.Equal(t, r.ID, byReq.RunID)
		_, err = b.store.StepCallByRequest(b.ctx, provider, "req_2")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = b.store.StepCallByRequest(b.ctx, "other", "req_1")
		require.ErrorIs(t, err, store.ErrNotFound)
		var changed []bool
		for _, st := range []string{"IN_QUEUE:3", "IN_QUEUE:3", "IN_PROGRESS"} {
			require.NoError(t, b.store.InTx(b.ctx, func(tx store.Tx) error {
				c, err := tx.StepCallSetStatus(b.ctx, r.ID, "gen", st, b.fix.Now())
				changed = append(changed, c)
				return err
			}))
		}
		require.Equal(t, []bool{true, false, true}, changed)
		calls, err = b.store.StepCallList(b.ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, &store.StepCall{RunID: r.ID, StepID: "gen", Provider: provider, State: store.CallSubmitted,
			RequestID: "req_1", Handle: `{"id":"req_1"}`, Status: "IN_PROGRESS", CreatedAt: begin.At, UpdatedAt: calls[0].UpdatedAt}, calls[0])

		require.NoError(t, b.store.InTx(b.ctx, func(tx store.Tx) error { return tx.StepCallDelete(b.ctx, r.ID, "gen") }))
		require.NoError(t, b.store.InTx(b.ctx, func(tx store.Tx) error { return tx.StepCallDelete(b.ctx, r.ID, "gen") }),
			"deleting a call already gone")
		calls, err = b.store.StepCallList(b.ctx, r.ID)
		require.NoError(t, err)
		require.Empty(t, calls)
		n, err = b.store.ProviderInFlight(b.ctx, provider)
		require.NoError(t, err)
		require.Zero(t, n)

		err = b.store.InTx(b.ctx, func(tx store.Tx) error { return tx.StepCallSubmitted(b.ctx, r.ID, "gen", "x", "x", at) })
		require.ErrorIs(t, err, store.ErrNotFound)
		err = b.store.InTx(b.ctx, func(tx store.Tx) error {
			_, err := tx.StepCallSetStatus(b.ctx, r.ID, "gen", "x", at)
			return err
		})
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("Cap", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		provider := b.fix.ID("provider")
		var runs []*store.Run
		for range 3 {
			runs = append(runs, b.fix.Run(ws.ID))
		}
		begin := func(r *store.Run) error {
			return b.store.InTx(b.ctx, func(tx store.Tx) error {
				return tx.StepCallBegin(b.ctx, &store.StepCallBeginParams{RunID: r.ID, StepID: "gen", Provider: provider,
					Limit: 2, At: b.fix.Now()})
			})
		}
		require.NoError(t, begin(runs[0]))
		require.NoError(t, begin(runs[1]))
		require.ErrorIs(t, begin(runs[2]), store.ErrProviderBusy)
		calls, err := b.store.StepCallList(b.ctx, runs[2].ID)
		require.NoError(t, err)
		require.Empty(t, calls, "a refused call writes nothing")
		require.NoError(t, b.store.InTx(b.ctx, func(tx store.Tx) error { return tx.StepCallDelete(b.ctx, runs[0].ID, "gen") }))
		require.NoError(t, begin(runs[2]), "a freed slot is taken")
		n, err := b.store.ProviderInFlight(b.ctx, provider)
		require.NoError(t, err)
		require.Equal(t, 2, n)
	})
}
