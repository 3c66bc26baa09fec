package run_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/florad/florad/internal/blob"
	"github.com/florad/florad/internal/engine"
	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/provider"
	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/store/pgtest"
	"github.com/florad/florad/internal/store/sqlstore"
	"github.com/florad/florad/internal/technique"
	"github.com/florad/florad/internal/workspace"
	"github.com/florad/florad/techniques"
)

// These tests drive the run service and its River workers on a real
// database, SQLite and PostgreSQL (each test on both), with real River
// clients; failures are injected by a store wrapper that refuses chosen
// writes.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// patience bounds every wait; only a broken test reaches it.
const patience = time.Minute

// credits is the workspace's starting balance; prompt-expander costs 1.
const credits = 10

// eachBackend runs fn as a subtest on SQLite and on PostgreSQL.
func eachBackend(t *testing.T, fn func(t *testing.T, postgres bool)) {
	t.Helper()
	for _, pg := range []bool{false, true} {
		name := "sqlite"
		if pg {
			name = "postgres"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, pg)
		})
	}
}

// faultyStore is the real store with injected failures: while a named
// operation is armed, the Tx method of that name fails.
type faultyStore struct {
	store.Store
	mu    sync.Mutex
	armed map[string]bool
	calls map[string]int
}

var errInjected = errors.New("injected failure")

func (f *faultyStore) arm(ops ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, op := range ops {
		f.armed[op] = true
	}
}

func (f *faultyStore) disarm() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed = map[string]bool{}
}

func (f *faultyStore) hit(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	if f.armed[op] {
		return fmt.Errorf("%s: %w", op, errInjected)
	}
	return nil
}

func (f *faultyStore) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *faultyStore) InTx(ctx context.Context, fn func(tx store.Tx) error) error {
	return f.Store.InTx(ctx, func(tx store.Tx) error { return fn(&faultyTx{Tx: tx, f: f}) })
}

func (f *faultyStore) InTxGrouped(ctx context.Context, fn func(tx store.Tx) error) error {
	return f.Store.InTxGrouped(ctx, func(tx store.Tx) error { return fn(&faultyTx{Tx: tx, f: f}) })
}

func (f *faultyStore) RunEventList(ctx context.Context, runID string, afterSeq int64, limit int) ([]*store.RunEvent, error) {
	if err := f.hit("RunEventList"); err != nil {
		return nil, err
	}
	return f.Store.RunEventList(ctx, runID, afterSeq, limit)
}

func (f *faultyStore) RunStateList(ctx context.Context, ids []string) ([]*store.RunState, error) {
	if err := f.hit("RunStateList"); err != nil {
		return nil, err
	}
	return f.Store.RunStateList(ctx, ids)
}

func (f *faultyStore) RunGetByID(ctx context.Context, id string) (*store.Run, error) {
	if err := f.hit("RunGetByID"); err != nil {
		return nil, err
	}
	return f.Store.RunGetByID(ctx, id)
}

func (f *faultyStore) RunStepList(ctx context.Context, runID string) ([]*store.RunStep, error) {
	if err := f.hit("RunStepList"); err != nil {
		return nil, err
	}
	return f.Store.RunStepList(ctx, runID)
}

// reads counts the reads the stream hub makes.
func (f *faultyStore) reads() int {
	return f.count("RunEventList") + f.count("RunStateList") + f.count("RunGetByID")
}

type faultyTx struct {
	store.Tx
	f *faultyStore
}

func (t *faultyTx) RunStart(ctx context.Context, p *store.RunStartParams) (*store.Run, bool, error) {
	if err := t.f.hit("RunStart"); err != nil {
		return nil, false, err
	}
	return t.Tx.RunStart(ctx, p)
}

func (t *faultyTx) RunFinish(ctx context.Context, p *store.RunFinishParams) (*store.Run, error) {
	if err := t.f.hit("RunFinish"); err != nil {
		return nil, err
	}
	return t.Tx.RunFinish(ctx, p)
}

// bundleOpts shapes one test's service and workers.
type bundleOpts struct {
	postgres bool
	svc      func(s *run.Service)
	// executor replaces the real engine.
	executor run.Executor
	// reconcileEvery runs the periodic reconciler; 0: none.
	reconcileEvery time.Duration
	// noWorkers leaves River stopped: the test starts clients itself.
	noWorkers bool
}

type testBundle struct {
	ctx    context.Context
	db     *sqlstore.Store
	faulty *faultyStore
	svc    *run.Service
	engine *engine.Engine
	river  *river.Client[*sql.Tx]
	ws     *store.Workspace
	opts   bundleOpts
}

func setup(t *testing.T, o bundleOpts) *testBundle {
	t.Helper()
	ctx := context.Background()
	var db *sqlstore.Store
	var err error
	if o.postgres {
		db, err = sqlstore.OpenPostgres(ctx, sqlstore.PostgresConfig{URL: pgtest.NewDatabase(t)})
		require.NoError(t, err)
		require.NoError(t, sqlstore.MigrateRiver(ctx, riverdatabasesql.New(db.WriterDB())))
	} else {
		db, err = sqlstore.OpenSQLite(ctx, sqlstore.SQLiteConfig{Path: filepath.Join(t.TempDir(), "florad.db"), Synchronous: "OFF"})
		require.NoError(t, err)
		require.NoError(t, sqlstore.MigrateRiver(ctx, riversqlite.New(db.WriterDB())))
	}
	t.Cleanup(func() { require.NoError(t, db.Close()) })

	lib := technique.NewLibrary(db, provider.Registry(provider.Config{}), 0)
	data, err := fs.ReadFile(techniques.FS, "prompt-expander.yaml")
	require.NoError(t, err)
	_, _, err = lib.Apply(ctx, db, "", "prompt-expander.yaml", data)
	require.NoError(t, err)

	blobs, err := blob.NewLocal(t.TempDir(), "http://127.0.0.1:1", []byte("0123456789abcdef0123456789abcdef"), nil)
	require.NoError(t, err)
	faulty := &faultyStore{Store: db, armed: map[string]bool{}, calls: map[string]int{}}
	svc := &run.Service{Store: faulty, Techniques: lib, CheckURL: func(string) error { return nil },
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 1}))}
	if o.svc != nil {
		o.svc(svc)
	}
	b := &testBundle{ctx: ctx, db: db, faulty: faulty, svc: svc, opts: o,
		engine: engine.New(engine.Config{Blobs: blobs, Processors: lib.Models().(processor.Registry)})}
	b.river = b.newClient(t, b.executor(), 0, o.reconcileEvery)
	svc.Jobs = b.river
	if !o.noWorkers {
		b.start(t, b.river)
	}
	w, err := (&workspace.Service{Store: db}).Create(ctx, "Test "+t.Name(), credits)
	require.NoError(t, err)
	b.ws = w
	return b
}

func (b *testBundle) executor() run.Executor {
	if b.opts.executor != nil {
		return b.opts.executor
	}
	return b.engine
}

// newClient makes a River client working the runs queue (one run at a time)
// with exec, on this bundle's database; heartbeat is the run worker's
// (0: its default).
func (b *testBundle) newClient(t *testing.T, exec run.Executor, heartbeat, reconcileEvery time.Duration) *river.Client[*sql.Tx] {
	t.Helper()
	if b.opts.postgres {
		return newClient(t, riverdatabasesql.New(b.db.WriterDB()), b.svc, exec, heartbeat, reconcileEvery)
	}
	return newClient(t, riversqlite.New(b.db.WriterDB()), b.svc, exec, heartbeat, reconcileEvery)
}

func newClient[TDriver riverdriver.Driver[*sql.Tx]](t *testing.T, driver TDriver, svc *run.Service, exec run.Executor,
	heartbeat, reconcileEvery time.Duration) *river.Client[*sql.Tx] {
	t.Helper()
	workers := river.NewWorkers()
	river.AddWorker(workers, &run.Worker[TDriver]{Runs: svc, Executor: exec, HeartbeatInterval: heartbeat})
	river.AddWorker(workers, &run.ReconcileWorker{Runs: svc})
	cfg := &river.Config{
		Logger:               slog.New(slog.DiscardHandler),
		Workers:              workers,
		Queues:               map[string]river.QueueConfig{run.QueueRuns: {MaxWorkers: 1}, run.QueueMaintenance: {MaxWorkers: 1}},
		JobTimeout:           -1,
		FetchCooldown:        5 * time.Millisecond,
		FetchPollInterval:    20 * time.Millisecond,
		RescueStuckJobsAfter: time.Hour,
	}
	if reconcileEvery > 0 {
		cfg.PeriodicJobs = []*river.PeriodicJob{run.PeriodicReconcile(reconcileEvery)}
	}
	c, err := river.NewClient(driver, cfg)
	require.NoError(t, err)
	return c
}

func (b *testBundle) start(t *testing.T, c *river.Client[*sql.Tx]) {
	t.Helper()
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(ctx))
	})
}

// create starts a prompt-expander run.
func (b *testBundle) create(t *testing.T, prompt string) *store.Run {
	t.Helper()
	r, _, err := b.svc.Create(b.ctx, &run.CreateParams{WorkspaceID: b.ws.ID, Technique: "prompt-expander", Mode: "async",
		Inputs: []technique.RequestInput{{ID: "prompt", Type: "text", Value: prompt}}})
	require.NoError(t, err)
	return r
}

// waitEnded polls the run (straight from the database) until it ends.
func (b *testBundle) waitEnded(t *testing.T, runID string) *store.Run {
	t.Helper()
	deadline := time.Now().Add(patience)
	for time.Now().Before(deadline) {
		r, err := b.db.RunGetByID(b.ctx, runID)
		require.NoError(t, err)
		if r.Finished() {
			return r
		}
		time.Sleep(10 * time.Millisecond) // a poll interval, not a wait for a condition
	}
	require.FailNow(t, "run did not end within "+patience.String(), runID)
	return nil
}

// ledgerKinds counts the run's ledger entries by kind, and checks that the
// ledger explains the balance.
func (b *testBundle) ledgerKinds(t *testing.T, runID string) map[string]int {
	t.Helper()
	entries, err := b.db.LedgerList(b.ctx, b.ws.ID)
	require.NoError(t, err)
	var sum int64
	kinds := map[string]int{}
	for _, e := range entries {
		sum += e.Amount
		require.Equal(t, sum, e.BalanceAfter)
		if e.RunID == runID {
			kinds[e.Kind]++
		}
	}
	w, err := b.db.WorkspaceGet(b.ctx, b.ws.ID)
	require.NoError(t, err)
	require.Equal(t, sum, w.Balance, "the ledger sums to the balance")
	return kinds
}

func (b *testBundle) balance(t *testing.T) int64 {
	t.Helper()
	w, err := b.db.WorkspaceGet(b.ctx, b.ws.ID)
	require.NoError(t, err)
	return w.Balance
}
