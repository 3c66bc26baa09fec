package speedbench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/florad/florad/internal/loadbench"
	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/store/sqlstore"
	"github.com/florad/florad/internal/technique"
)

// Throughput is one side of a runs-per-second measurement.
type Throughput struct {
	Workers   int                `json:"worker_processes"`
	Jobs      int                `json:"jobs"`
	Elapsed   time.Duration      `json:"elapsed"`
	PerSecond float64            `json:"per_second"`
	CPU       loadbench.CPUUsage `json:"cpu"`
}

// ThroughputPair is florad's trivial runs beside River's no-op jobs on the
// same kind of database, with the same workers.
type ThroughputPair struct {
	DB     string     `json:"db"`
	Florad Throughput `json:"florad"`
	River  Throughput `json:"river"`
	Ratio  float64    `json:"ratio"`
	Pass   bool       `json:"pass"`
}

// throughput executes a backlog of trivial runs (created before the
// workers start, so nothing else competes) and, on a fresh database of the
// same kind, a backlog of River jobs whose worker does nothing, and
// compares the rates: from the first start to the last completion.
func (b *bench) throughput(ctx context.Context, kind string) (*ThroughputPair, error) {
	procs := 1
	if kind == DBPostgres {
		procs = 2
	}
	p := &ThroughputPair{DB: kind}
	var err error
	if p.River, err = b.riverThroughput(ctx, kind, procs); err != nil {
		return nil, fmt.Errorf("bare River: %w", err)
	}
	if p.Florad, err = b.floradThroughput(ctx, kind, procs); err != nil {
		return nil, fmt.Errorf("florad: %w", err)
	}
	if p.River.PerSecond > 0 {
		p.Ratio = p.Florad.PerSecond / p.River.PerSecond
	}
	p.Pass = p.Ratio >= TargetRunsRatio
	b.logf("throughput %-8s %d process(es) x %d workers: florad %.0f runs/s, River %.0f jobs/s, ratio %.2f; other CPU %.2f / %.2f cores",
		kind, procs, b.cfg.Concurrency, p.Florad.PerSecond, p.River.PerSecond, p.Ratio, p.Florad.CPU.Other, p.River.CPU.Other)
	return p, nil
}

func (b *bench) floradThroughput(ctx context.Context, kind string, procs int) (Throughput, error) {
	db, err := b.newDatabase(ctx, kind)
	if err != nil {
		return Throughput{}, err
	}
	defer db.drop()
	var fs []*florad
	defer func() {
		for _, f := range fs {
			_ = f.close()
		}
	}()
	for i := range procs {
		f, err := newFlorad(ctx, db, floradOpts{workers: true, noAPI: true, concurrency: b.cfg.Concurrency}, i == 0)
		if err != nil {
			return Throughput{}, err
		}
		fs = append(fs, f)
	}
	// The backlog, created by the service as the API would (8 callers,
	// group commit on SQLite).
	ids := make([]string, b.cfg.Runs)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < len(ids); i += 8 {
				r, _, err := fs[0].app.Runs.Create(ctx, &run.CreateParams{WorkspaceID: fs[0].wsID, Technique: "prompt-expander",
					Mode: "async", Inputs: []technique.RequestInput{{ID: "prompt", Type: "text", Value: "backlog " + strconv.Itoa(i)}}})
				if err != nil {
					errs[w] = err
					return
				}
				ids[i] = r.ID
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Throughput{}, err
	}
	cpu0 := loadbench.TakeCPUSnapshot()
	for _, f := range fs {
		f.start()
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		n, err := fs[0].app.OpenJobs(ctx)
		if err != nil {
			return Throughput{}, err
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			return Throughput{}, fmt.Errorf("%d runs still open after 5 minutes", n)
		}
		// River's job list is not free: look seldom, the rate comes
		// from the runs' own timestamps anyway.
		time.Sleep(250 * time.Millisecond)
	}
	cpu := loadbench.TakeCPUSnapshot().Since(cpu0)
	var first, last int64
	for _, id := range ids {
		r, err := fs[0].app.Store.RunGetByID(ctx, id)
		if err != nil {
			return Throughput{}, err
		}
		if r.Status != store.RunCompleted || r.StartedAt == nil || r.CompletedAt == nil {
			return Throughput{}, fmt.Errorf("run %s ended %s (%s)", id, r.Status, r.ErrorCode)
		}
		if first == 0 || *r.StartedAt < first {
			first = *r.StartedAt
		}
		last = max(last, *r.CompletedAt)
	}
	el := time.Duration(last-first) * time.Millisecond
	return Throughput{Workers: procs, Jobs: len(ids), Elapsed: el, PerSecond: float64(len(ids)) / el.Seconds(), CPU: cpu}, nil
}

// noopArgs is the bare River job: its worker does nothing.
type noopArgs struct {
	N int `json:"n"`
}

func (noopArgs) Kind() string { return "speedbench_noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
}

func (noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

// riverThroughput runs River alone on a fresh database of the same kind,
// opened by florad's own function (same pragmas and pool), with the same
// workers per process and River's fastest fetch (a 1 ms cooldown, a 25 ms
// poll): the best River does here.
func (b *bench) riverThroughput(ctx context.Context, kind string, procs int) (Throughput, error) {
	db, err := b.newDatabase(ctx, kind)
	if err != nil {
		return Throughput{}, err
	}
	defer db.drop()
	var s *sqlstore.Store
	if kind == DBSQLite {
		s, err = sqlstore.OpenSQLite(ctx, sqlstore.SQLiteConfig{Path: filepath.Join(db.dir, "river.db"), Synchronous: "FULL"})
	} else {
		s, err = sqlstore.OpenPostgres(ctx, sqlstore.PostgresConfig{URL: db.url})
	}
	if err != nil {
		return Throughput{}, err
	}
	defer s.Close()
	newClient := func() (*river.Client[*sql.Tx], error) {
		workers := river.NewWorkers()
		river.AddWorker(workers, noopWorker{})
		cfg := &river.Config{Workers: workers, FetchCooldown: time.Millisecond, FetchPollInterval: 25 * time.Millisecond,
			Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: b.cfg.Concurrency}}}
		if kind == DBSQLite {
			return river.NewClient(riversqlite.New(s.WriterDB()), cfg)
		}
		return river.NewClient(riverdatabasesql.NewWithPgxListener(s.WriterDB(), s.PgxPool()), cfg)
	}
	if kind == DBSQLite {
		err = sqlstore.MigrateRiver(ctx, riversqlite.New(s.WriterDB()))
	} else {
		err = sqlstore.MigrateRiver(ctx, riverdatabasesql.New(s.WriterDB()))
	}
	if err != nil {
		return Throughput{}, err
	}
	clients := make([]*river.Client[*sql.Tx], procs)
	for i := range clients {
		if clients[i], err = newClient(); err != nil {
			return Throughput{}, err
		}
	}
	for i := 0; i < b.cfg.Runs; i += 500 {
		params := make([]river.InsertManyParams, 0, 500)
		for j := i; j < min(i+500, b.cfg.Runs); j++ {
			params = append(params, river.InsertManyParams{Args: noopArgs{N: j}})
		}
		if _, err := clients[0].InsertMany(ctx, params); err != nil {
			return Throughput{}, err
		}
	}
	first, last, cpu, err := b.drainRiver(ctx, clients)
	if err != nil {
		return Throughput{}, err
	}
	el := last.Sub(first)
	return Throughput{Workers: procs, Jobs: b.cfg.Runs, Elapsed: el, PerSecond: float64(b.cfg.Runs) / el.Seconds(), CPU: cpu}, nil
}

// drainRiver starts the clients and waits until they have completed the
// backlog, returning the first attempt's and the last completion's times
// and the CPU used meanwhile.
func (b *bench) drainRiver(ctx context.Context, clients []*river.Client[*sql.Tx]) (first, last time.Time, cpu loadbench.CPUUsage, err error) {
	sp := &jobSpan{want: b.cfg.Runs, done: make(chan struct{})}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, c := range clients {
		ch, cancel := c.SubscribeConfig(&river.SubscribeConfig{ChanSize: b.cfg.Runs + 100, Kinds: []river.EventKind{river.EventKindJobCompleted}})
		defer cancel()
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case ev := <-ch:
					sp.add(ev)
				}
			}
		})
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()
	cpu0 := loadbench.TakeCPUSnapshot()
	for _, c := range clients {
		if err := c.Start(context.WithoutCancel(ctx)); err != nil {
			return first, last, cpu, err
		}
	}
	defer func() {
		for _, c := range clients {
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = c.Stop(stopCtx)
			cancel()
		}
	}()
	select {
	case <-sp.done:
	case <-time.After(5 * time.Minute):
		return first, last, cpu, errors.New("bare River: jobs still open after 5 minutes")
	case <-ctx.Done():
		return first, last, cpu, ctx.Err()
	}
	cpu = loadbench.TakeCPUSnapshot().Since(cpu0)
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.first, sp.last, cpu, nil
}

// jobSpan collects River's completions: the first attempt, the last
// completion, and done closed when want jobs have completed.
type jobSpan struct {
	mu          sync.Mutex
	first, last time.Time
	n, want     int
	done        chan struct{}
}

func (s *jobSpan) add(ev *river.Event) {
	if ev == nil || ev.Job == nil || ev.Job.AttemptedAt == nil || ev.Job.FinalizedAt == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.first.IsZero() || ev.Job.AttemptedAt.Before(s.first) {
		s.first = *ev.Job.AttemptedAt
	}
	if ev.Job.FinalizedAt.After(s.last) {
		s.last = *ev.Job.FinalizedAt
	}
	if s.n++; s.n == s.want {
		close(s.done)
	}
}
