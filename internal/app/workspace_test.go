package app_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/store"
)

// TestWorkspaceShowsTheKeysWorkspace: GET /workspace is the key's own
// workspace, and its balance moves with reservations and refunds.
func TestWorkspaceShowsTheKeysWorkspace(t *testing.T) {
	t.Parallel()
	b := setupWith(t, noWorkers(0))
	ctx := context.Background()

	ws, err := b.client.Workspace(ctx)
	require.NoError(t, err)
	require.Equal(t, b.wsID, ws.WorkspaceID)
	require.Equal(t, "Test "+t.Name(), ws.Name)
	require.Equal(t, int64(startCredits), ws.CreditBalance)
	require.InDelta(t, 0.001, ws.CreditPriceUSD, 1e-12)
	require.NotZero(t, ws.CreatedAt)
	for _, limit := range []string{"max_body_bytes", "max_inputs", "max_text_length"} {
		require.Contains(t, ws.Limits, limit)
	}

	created, err := b.client.Runs.Create(ctx, "portrait-enhancer", portraitRun(b.imageURL("portrait.png")))
	require.NoError(t, err)
	ws, err = b.client.Workspace(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(startCredits-5), ws.CreditBalance, "the reservation shows at once")
	_, err = b.client.Runs.Cancel(ctx, "portrait-enhancer", created.RunID)
	require.NoError(t, err)
	ws, err = b.client.Workspace(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(startCredits), ws.CreditBalance)

	otherID, _, otherKey := b.newWorkspace(t, -1)
	other, err := b.newClient(otherKey).Workspace(ctx)
	require.NoError(t, err)
	require.Equal(t, otherID, other.WorkspaceID)
	require.Zero(t, other.CreditBalance)
	_, err = b.newClient(otherKey).Workspace(ctx, client.WithQuery("workspace_id", b.wsID))
	apiError(t, err, http.StatusForbidden, "forbidden")
	_, err = b.newClient("sk_test_nope").Workspace(ctx)
	apiError(t, err, http.StatusUnauthorized, "invalid_api_key")
}

// TestWorkspaceLedgerPages walks the ledger in pages of 2: oldest first,
// each entry once, matching the database and explaining the balance.
func TestWorkspaceLedgerPages(t *testing.T) {
	t.Parallel()
	b := setupWith(t, noWorkers(0))
	ctx := context.Background()
	var runIDs []string
	for i := range 5 {
		r, err := b.client.Runs.Create(ctx, "prompt-expander", promptRun("ledger "+strconv.Itoa(i)))
		require.NoError(t, err)
		runIDs = append(runIDs, r.RunID)
	}
	for _, id := range runIDs[:2] {
		_, err := b.client.Runs.Cancel(ctx, "prompt-expander", id)
		require.NoError(t, err)
	}
	_, err := b.app.Workspaces.Grant(ctx, b.wsID, 7, "top-up")
	require.NoError(t, err)

	var walked []client.LedgerEntry
	cursor, pages := "", 0
	for {
		l, err := b.client.Ledger(ctx, &client.ListParams{Limit: 2, Cursor: cursor})
		require.NoError(t, err)
		pages++
		require.LessOrEqual(t, len(l.LedgerEntries), 2)
		walked = append(walked, l.LedgerEntries...)
		if cursor = l.NextCursor(); cursor == "" {
			break
		}
	}
	// grant, 5 reserves, 2 refunds, the top-up.
	require.Len(t, walked, 9)
	require.Equal(t, 5, pages)

	want := b.ledger(t, b.wsID)
	require.Len(t, want, len(walked))
	var sum int64
	for i, e := range walked {
		w := want[i]
		require.Equal(t, client.LedgerEntry{ID: "led_" + strconv.FormatInt(int64(i+1), 10), Kind: w.Kind, Amount: w.Amount,
			BalanceAfter: w.BalanceAfter, RunID: w.RunID, Memo: w.Memo, CreatedAt: w.CreatedAt}, e)
		sum += e.Amount
		require.Equal(t, sum, e.BalanceAfter, "entry %s", e.ID)
	}
	kinds := map[string]int{}
	for _, e := range walked {
		kinds[e.Kind]++
	}
	require.Equal(t, map[string]int{store.LedgerGrant: 2, store.LedgerReserve: 5, store.LedgerRefund: 2}, kinds)
	require.Equal(t, store.LedgerRefund, walked[6].Kind)
	require.Equal(t, runIDs[1], walked[7].RunID)
	require.Equal(t, int64(7), walked[8].Amount)
	ws, err := b.client.Workspace(ctx)
	require.NoError(t, err)
	require.Equal(t, sum, ws.CreditBalance)

	// One page by default; another workspace's ledger is its own.
	l, err := b.client.Ledger(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, walked, l.LedgerEntries)
	require.Empty(t, l.NextCursor())
	_, _, otherKey := b.newWorkspace(t, 3)
	other, err := b.newClient(otherKey).Ledger(ctx, nil)
	require.NoError(t, err)
	require.Len(t, other.LedgerEntries, 1)
	require.Equal(t, int64(3), other.LedgerEntries[0].BalanceAfter)
	require.Equal(t, "led_1", other.LedgerEntries[0].ID, "ledger ids are numbered per workspace: they tell nothing of others'")

	for _, q := range [][2]string{{"limit", "0"}, {"limit", "101"}, {"limit", "x"}, {"cursor", "!!!"}, {"cursor", "eA"}} {
		_, err := b.client.Ledger(ctx, nil, client.WithQuery(q[0], q[1]))
		e := apiError(t, err, http.StatusBadRequest, "input_validation_error")
		require.True(t, e.HasField(q[0]), "%s=%s: fields %+v", q[0], q[1], e.Fields)
	}
}
