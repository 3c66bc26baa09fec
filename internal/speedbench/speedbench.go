// Package speedbench measures what a florad user waits for, beside the
// limits of the same machine measured in the same run:
//
//   - pickup: from the POST's answer to the run's start and to its end, for
//     a trivial technique, on SQLite and on PostgreSQL, under a steady rate
//     of creates;
//   - throughput: trivial runs completed per second (one process on SQLite,
//     two on PostgreSQL) beside a bare River worker doing nothing on the
//     same kind of database with the same concurrency;
//   - streams: N open event streams on one process (the clients live in a
//     child process, so the server's memory is its own): RSS and the delay
//     from an event's commit to its arrival at each stream;
//   - post: POST on PostgreSQL beside a bare net/http handler committing the
//     raw insert-and-debit on the same server, at 1, 8 and 32 connections.
//
// The machine is shared: the foreign CPU of every window is measured
// (loadbench.TakeCPUSnapshot) and printed beside its figures, so a reader
// can tell a quiet figure from a noisy one.
package speedbench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/florad/florad/internal/app"
)

// Scenario names.
const (
	ScenarioPickup     = "pickup"
	ScenarioThroughput = "throughput"
	ScenarioStreams    = "streams"
	ScenarioPost       = "post"
)

// Scenarios lists every scenario in the order they run.
func Scenarios() []string {
	return []string{ScenarioPickup, ScenarioThroughput, ScenarioStreams, ScenarioPost}
}

// Targets of issue 14.
const (
	TargetPickupPostgres = 5 * time.Millisecond
	TargetPickupSQLite   = 60 * time.Millisecond
	TargetRunsRatio      = 0.5
	TargetStreamRSS      = 1 << 30
	TargetStreamP99      = 250 * time.Millisecond
	TargetPostRatio      = 0.6
)

// Config says what to measure.
type Config struct {
	// PostgresURL is an admin connection URL: each measurement creates a
	// database of its own there and drops it afterwards. Empty: the
	// PostgreSQL measurements are skipped, and the report says so.
	PostgresURL string
	// Scenarios to run; defaults to all.
	Scenarios []string
	// Duration of each measured window. Defaults to 10 s.
	Duration time.Duration
	// CreateRate is the steady rate of creates (per second) under which
	// pickup is measured. Defaults to 50.
	CreateRate float64
	// Runs is the backlog each throughput measurement executes. Defaults
	// to 2000.
	Runs int
	// Concurrency is the runs (and River jobs) each worker process executes
	// at once. Defaults to florad's default, 8.
	Concurrency int
	// Streams is the number of open streams, over StreamRuns runs.
	// Defaults to 10,000 over 100.
	Streams, StreamRuns int
	// Conns are the POST levels. Defaults to 1, 8, 32.
	Conns []int
	// Rounds measures each POST cell this many times, alternating which
	// server goes first; ratios are the medians of the rounds'. Defaults to 1.
	Rounds int
	// ChildCommand is the command line that runs this program's stream
	// clients (see ChildMain): the binary and the arguments before the
	// child's own. Needed by the streams scenario.
	ChildCommand []string
	// TempDir holds the temporary SQLite folders; "" for the system's.
	TempDir string
	// Progress receives a line per measurement; nil for none.
	Progress io.Writer
}

func (c Config) withDefaults() Config {
	if len(c.Scenarios) == 0 {
		c.Scenarios = Scenarios()
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.CreateRate <= 0 {
		c.CreateRate = 50
	}
	if c.Runs <= 0 {
		c.Runs = 2000
	}
	if c.Concurrency <= 0 {
		c.Concurrency = app.ConcurrencyDefault
	}
	if c.Streams <= 0 {
		c.Streams = 10_000
	}
	if c.StreamRuns <= 0 {
		c.StreamRuns = 100
	}
	if len(c.Conns) == 0 {
		c.Conns = []int{1, 8, 32}
	}
	if c.Rounds <= 0 {
		c.Rounds = 1
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return c
}

// Report is everything measured.
type Report struct {
	Started    time.Time         `json:"started"`
	Pickup     []*PickupResult   `json:"pickup,omitempty"`
	Throughput []*ThroughputPair `json:"throughput,omitempty"`
	Streams    *StreamsResult    `json:"streams,omitempty"`
	Post       []*PostRow        `json:"post,omitempty"`
	Skipped    []string          `json:"skipped,omitempty"`
	Pass       bool              `json:"pass"`
}

// Run measures the configured scenarios.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	for _, sc := range cfg.Scenarios {
		if !slices.Contains(Scenarios(), sc) {
			return nil, fmt.Errorf("unknown scenario %q (known: %v)", sc, Scenarios())
		}
	}
	rep := &Report{Started: time.Now(), Pass: true}
	b := &bench{cfg: cfg, rep: rep}
	dbs := []string{DBSQLite}
	if cfg.PostgresURL != "" {
		dbs = append(dbs, DBPostgres)
	}
	for _, sc := range cfg.Scenarios {
		if err := b.scenario(ctx, sc, dbs); err != nil {
			return rep, fmt.Errorf("%s: %w", sc, err)
		}
	}
	if cfg.PostgresURL == "" {
		rep.Skipped = append(rep.Skipped, "PostgreSQL pickup and throughput: no database URL")
	}
	return rep, nil
}

// scenario measures one scenario into the report, on each database it
// applies to.
func (b *bench) scenario(ctx context.Context, sc string, dbs []string) error {
	rep := b.rep
	switch sc {
	case ScenarioPickup:
		for _, db := range dbs {
			r, err := b.pickup(ctx, db)
			if err != nil {
				return err
			}
			rep.Pickup = append(rep.Pickup, r)
			rep.Pass = rep.Pass && r.Pass
		}
	case ScenarioThroughput:
		for _, db := range dbs {
			r, err := b.throughput(ctx, db)
			if err != nil {
				return err
			}
			rep.Throughput = append(rep.Throughput, r)
			rep.Pass = rep.Pass && r.Pass
		}
	case ScenarioStreams:
		r, err := b.streams(ctx)
		if err != nil {
			return err
		}
		rep.Streams = r
		rep.Pass = rep.Pass && r.Pass
	case ScenarioPost:
		if b.cfg.PostgresURL == "" {
			rep.Skipped = append(rep.Skipped, "post: needs PostgreSQL (--database-url or FLORA_TEST_DATABASE_URL)")
			return nil
		}
		rows, err := b.post(ctx)
		if err != nil {
			return err
		}
		rep.Post = rows
		for _, r := range rows {
			rep.Pass = rep.Pass && r.Pass
		}
	}
	return nil
}

// Databases.
const (
	DBSQLite   = "sqlite"
	DBPostgres = "postgres"
)

type bench struct {
	cfg Config
	rep *Report
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.cfg.Progress, format+"\n", args...)
}

// database is one fresh database: a SQLite folder or a PostgreSQL database.
type database struct {
	dir, url string
	drop     func()
}

func (b *bench) newDatabase(ctx context.Context, kind string) (*database, error) {
	if kind == DBSQLite {
		dir, err := os.MkdirTemp(b.cfg.TempDir, "florad-speedbench-")
		if err != nil {
			return nil, err
		}
		return &database{dir: dir, drop: func() { os.RemoveAll(dir) }}, nil
	}
	u, drop, err := newPostgresDatabase(ctx, b.cfg.PostgresURL)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(b.cfg.TempDir, "florad-speedbench-")
	if err != nil {
		drop()
		return nil, err
	}
	return &database{dir: dir, url: u, drop: func() { drop(); os.RemoveAll(dir) }}, nil
}

// newPostgresDatabase creates an empty database beside admin's and
// returns its URL and how to drop it.
func newPostgresDatabase(ctx context.Context, admin string) (string, func(), error) {
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, fmt.Errorf("database URL: %w", err)
	}
	raw := make([]byte, 6)
	_, _ = rand.Read(raw)
	name := "florad_speedbench_" + hex.EncodeToString(raw)
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return "", nil, err
	}
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("error creating database %s: %w", name, err)
	}
	drop := func() {
		defer db.Close()
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = db.ExecContext(c, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

// grantCredits is enough that no measurement runs out.
const grantCredits = 1_000_000_000

// florad is one wired florad process (an app.App) running in this one.
type florad struct {
	app    *app.App
	key    string
	wsID   string
	cancel context.CancelFunc
	done   chan error
}

type floradOpts struct {
	workers, noAPI bool
	maxStreams     int
	concurrency    int
}

// newFlorad wires florad on db as 'florad serve' does (rate limit off, as
// the baselines have none); start runs it. Workspace and key are made
// before start, so runs can be created before the workers begin.
func newFlorad(ctx context.Context, db *database, o floradOpts, withWorkspace bool) (*florad, error) {
	a, err := app.New(ctx, app.Config{
		Addr: "127.0.0.1:0", DataDir: db.dir, DatabaseURL: db.url, Workers: o.workers, NoAPI: o.noAPI,
		Concurrency: o.concurrency, MaxStreamsPerWorkspace: o.maxStreams,
		ShutdownTimeout: 10 * time.Second, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	f := &florad{app: a, done: make(chan error, 1)}
	if withWorkspace {
		w, err := a.Workspaces.Create(ctx, "speedbench", grantCredits)
		if err != nil {
			return nil, errors.Join(err, f.closeUnstarted())
		}
		k, err := a.Workspaces.CreateKey(ctx, w.ID)
		if err != nil {
			return nil, errors.Join(err, f.closeUnstarted())
		}
		f.wsID, f.key = w.ID, k.Key
	}
	return f, nil
}

func (f *florad) start() {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go func() { f.done <- f.app.Run(ctx) }()
}

// closeUnstarted closes an app that never ran: Run closes what it opened,
// so an app that did not run is run with a context already done.
func (f *florad) closeUnstarted() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return f.app.Run(ctx)
}

func (f *florad) close() error {
	if f.cancel == nil {
		return f.closeUnstarted()
	}
	f.cancel()
	return <-f.done
}

func (f *florad) url() string { return "http://" + f.app.Addr() }
