package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
)

// baseTime is an arbitrary fixed instant (2025-10-09, unix ms); fixtures
// count up from it so that times are distinct and ordered within a test.
const baseTime int64 = 1_760_000_000_000

// factory builds fixture params and rows for one test. Ids carry a random
// suffix, so tests never collide even on a shared database.
type factory struct {
	t     *testing.T
	ctx   context.Context
	store store.Store
	clock atomic.Int64
	jobs  atomic.Int64
}

func newFactory(t *testing.T, ctx context.Context, s store.Store) *factory {
	f := &factory{t: t, ctx: ctx, store: s}
	f.clock.Store(baseTime)
	f.jobs.Store(1000)
	return f
}

// ID returns a unique id such as "run_k3j…".
func (f *factory) ID(prefix string) string {
	return prefix + "_" + strings.ToLower(rand.Text())
}

// Now returns a fresh time, one millisecond after the previous one.
func (f *factory) Now() int64 { return f.clock.Add(1) }

// JobID returns a River job id no other fixture of the test has.
func (f *factory) JobID() int64 { return f.jobs.Add(1) }

// leaseTerm is how long the factory's leases last past their start.
const leaseTerm int64 = 60_000

// inTx runs fn in a transaction that must commit.
func (f *factory) inTx(fn func(tx store.Tx) error) {
	f.t.Helper()
	require.NoError(f.t, f.store.InTx(f.ctx, fn))
}

func (f *factory) WorkspaceParams() *store.WorkspaceInsertParams {
	id := f.ID("ws")
	return &store.WorkspaceInsertParams{
		ID:            id,
		Name:          "Workspace " + id,
		WebhookSecret: "whsec_" + id,
		CreatedAt:     f.Now(),
	}
}

// Workspace inserts a workspace with a zero balance.
func (f *factory) Workspace() *store.Workspace {
	f.t.Helper()
	var w *store.Workspace
	f.inTx(func(tx store.Tx) (err error) {
		w, err = tx.WorkspaceInsert(f.ctx, f.WorkspaceParams())
		return err
	})
	return w
}

// Grant adds amount to the workspace's balance through the ledger.
func (f *factory) Grant(workspaceID string, amount int64) *store.LedgerEntry {
	f.t.Helper()
	var e *store.LedgerEntry
	f.inTx(func(tx store.Tx) (err error) {
		e, err = tx.CreditsApply(f.ctx, f.GrantParams(workspaceID, amount))
		return err
	})
	return e
}

func (f *factory) GrantParams(workspaceID string, amount int64) *store.CreditsApplyParams {
	return &store.CreditsApplyParams{
		WorkspaceID: workspaceID, Kind: store.LedgerGrant, Amount: amount, Memo: "test grant", CreatedAt: f.Now(),
	}
}

// ReserveParams debits cost (a positive number) for runID.
func (f *factory) ReserveParams(workspaceID, runID string, cost int64) *store.CreditsApplyParams {
	return &store.CreditsApplyParams{
		WorkspaceID: workspaceID, RunID: runID, Kind: store.LedgerReserve, Amount: -cost,
		Memo: "reserve for " + runID, CreatedAt: f.Now(),
	}
}

func (f *factory) APIKeyParams(workspaceID string) *store.APIKeyInsertParams {
	id := f.ID("key")
	hash := sha256.Sum256([]byte("secret " + id))
	return &store.APIKeyInsertParams{
		ID: id, WorkspaceID: workspaceID, Hash: hash[:], Prefix: "fl_" + id[4:10], CreatedAt: f.Now(),
		Scopes: []string{"runs:write", "runs:read", "techniques:read", "webhooks:manage"},
	}
}

// RunParams is a pending run of a fresh job; mutate, if given, edits it.
func (f *factory) RunParams(workspaceID string, mutate ...func(p *store.RunInsertParams)) *store.RunInsertParams {
	id := f.ID("run")
	now := f.Now()
	p := &store.RunInsertParams{
		ID:               id,
		WorkspaceID:      workspaceID,
		TechniqueID:      "tech_upscale",
		TechniqueSlug:    "upscale",
		TechniqueVersion: "1.2.0",
		Inputs: []store.RunInput{
			{ID: "image", Type: "image", Value: "blob/in/" + id},
			{ID: "prompt", Type: "text", Value: "make it \"sharper\" — ünïcode"},
		},
		Mode:        "async",
		CallbackURL: "https://example.com/hook",
		Fingerprint: "fp_" + id,
		Credits:     12,
		CreatedAt:   now,
		JobID:       f.JobID(),
		LeaseUntil:  now + leaseTerm,
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

// Run inserts a pending run; mutate, if given, edits the params first.
func (f *factory) Run(workspaceID string, mutate ...func(p *store.RunInsertParams)) *store.Run {
	f.t.Helper()
	p := f.RunParams(workspaceID, mutate...)
	var r *store.Run
	f.inTx(func(tx store.Tx) (err error) {
		r, err = tx.RunInsert(f.ctx, p)
		return err
	})
	return r
}

// RunStartParams starts r on behalf of the job that owns it.
func (f *factory) RunStartParams(r *store.Run) *store.RunStartParams {
	at := f.Now()
	return &store.RunStartParams{RunID: r.ID, JobID: r.JobID, At: at, LeaseUntil: at + leaseTerm}
}

// RunStart moves a pending run to running through its owner and requires
// that it changed.
func (f *factory) RunStart(r *store.Run) *store.Run {
	f.t.Helper()
	var (
		started *store.Run
		changed bool
	)
	f.inTx(func(tx store.Tx) (err error) {
		started, changed, err = tx.RunStart(f.ctx, f.RunStartParams(r))
		return err
	})
	require.True(f.t, changed, "run %s was not pending", r.ID)
	return started
}

// RunSetProgress sets a run's progress in its own transaction and says
// whether it changed.
func (f *factory) RunSetProgress(runID string, progress int) bool {
	f.t.Helper()
	var changed bool
	f.inTx(func(tx store.Tx) (err error) {
		changed, err = tx.RunSetProgress(f.ctx, runID, progress)
		return err
	})
	return changed
}

// Event appends a non-final event to a run in its own transaction.
func (f *factory) Event(runID, typ string) *store.RunEvent {
	f.t.Helper()
	var e *store.RunEvent
	f.inTx(func(tx store.Tx) (err error) {
		e, err = tx.RunEventInsert(f.ctx, f.EventParams(runID, typ))
		return err
	})
	return e
}

// EventParams is a non-final event of the run with some JSON data.
func (f *factory) EventParams(runID, typ string) *store.RunEventInsertParams {
	at := f.Now()
	return &store.RunEventInsertParams{
		RunID: runID, Type: typ, Data: []byte(fmt.Sprintf(`{"run_id":%q,"at":%d,"s":"ü"}`, runID, at)), CreatedAt: at,
	}
}

// RunFinish ends a run and requires success.
func (f *factory) RunFinish(p *store.RunFinishParams) *store.Run {
	f.t.Helper()
	var r *store.Run
	f.inTx(func(tx store.Tx) (err error) {
		r, err = tx.RunFinish(f.ctx, p)
		return err
	})
	return r
}

// requireLedgerExplainsBalance checks the ledger invariant: the amounts sum to
// the balance, and each row's BalanceAfter is the running sum up to it, never
// negative.
func requireLedgerExplainsBalance(t *testing.T, ctx context.Context, r store.Reader, workspaceID string) []*store.LedgerEntry {
	t.Helper()
	w, err := r.WorkspaceGet(ctx, workspaceID)
	require.NoError(t, err)
	entries, err := r.LedgerList(ctx, workspaceID)
	require.NoError(t, err)
	var sum int64
	for i, e := range entries {
		sum += e.Amount
		require.Equal(t, workspaceID, e.WorkspaceID, "ledger row %d", i)
		require.Equal(t, sum, e.BalanceAfter, "ledger row %d: BalanceAfter is not the running sum", i)
		require.GreaterOrEqual(t, e.BalanceAfter, int64(0), "ledger row %d", i)
	}
	require.Equal(t, w.Balance, sum, "ledger amounts do not sum to the balance")
	return entries
}
