package app

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/florad/florad/internal/api"
	"github.com/florad/florad/internal/asset"
	"github.com/florad/florad/internal/auth"
	"github.com/florad/florad/internal/blob"
	"github.com/florad/florad/internal/engine"
	"github.com/florad/florad/internal/metrics"
	"github.com/florad/florad/internal/netguard"
	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/provider"
	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/store/sqlstore"
	"github.com/florad/florad/internal/technique"
	"github.com/florad/florad/internal/webhook"
	"github.com/florad/florad/internal/workspace"
	"github.com/florad/florad/techniques"
)

// App is a wired florad.
type App struct {
	cfg        Config
	Store      *sqlstore.Store
	Techniques *technique.Library
	Workspaces *workspace.Service
	Runs       *run.Service
	Webhooks   *webhook.Service
	Assets     *asset.Service
	river      *river.Client[*sql.Tx]
	s3         *blob.S3 // nil unless BlobURL is set
	listener   net.Listener
	// metricsListener serves /metrics alone for a worker-only process.
	metricsListener net.Listener
	api             *api.Server
	// Metrics is nil when Config.NoMetrics is set.
	Metrics *metrics.Metrics
}

// OpenStore opens the database alone (SQLite in DataDir, or PostgreSQL when
// DatabaseURL is set) and applies our and River's migrations.
func OpenStore(ctx context.Context, cfg Config) (*sqlstore.Store, error) {
	cfg = cfg.WithDefaults()
	if cfg.DatabaseURL != "" {
		s, err := sqlstore.OpenPostgres(ctx, sqlstore.PostgresConfig{URL: cfg.DatabaseURL})
		if err != nil {
			return nil, err
		}
		err = s.WithMigrationLock(ctx, func() error {
			return sqlstore.MigrateRiver(ctx, riverdatabasesql.New(s.WriterDB()))
		})
		if err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("error creating data folder: %w", err)
	}
	s, err := sqlstore.OpenSQLite(ctx, sqlstore.SQLiteConfig{Path: cfg.sqlitePath(), Synchronous: cfg.SQLiteSynchronous})
	if err != nil {
		return nil, err
	}
	err = s.WithMigrationLock(ctx, func() error {
		return sqlstore.MigrateRiver(ctx, riversqlite.New(s.WriterDB()))
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Models is every model this deployment has: the local ones and the
// providers' (unavailable, with the reason, when not configured).
func Models(providers provider.Config) processor.Registry { return provider.Registry(providers) }

// LoadCatalog loads the built-in techniques against the models.
func LoadCatalog(providers provider.Config) (*technique.Catalog, processor.Registry, error) {
	procs := Models(providers)
	c, err := technique.LoadDir(techniques.FS, ".", procs)
	return c, procs, err
}

// OpenLibrary returns the techniques stored in s, after storing the
// built-in ones (each version once), so that runs of a built-in technique
// keep their version across upgrades like any applied technique.
func OpenLibrary(ctx context.Context, s store.Store, providers provider.Config) (*technique.Library, error) {
	catalog, procs, err := LoadCatalog(providers)
	if err != nil {
		return nil, err
	}
	lib := technique.NewLibrary(s, procs, 0)
	for _, t := range catalog.All() {
		data, err := fs.ReadFile(techniques.FS, t.Source)
		if err != nil {
			return nil, fmt.Errorf("error reading %s: %w", t.Source, err)
		}
		if _, _, err := lib.Apply(ctx, s, "", t.Source, data); err != nil {
			return nil, err
		}
	}
	return lib, nil
}

// New opens everything and binds the listener, so the address is known (and
// taken) before Run; with Addr "127.0.0.1:0" tests get a free port.
func New(ctx context.Context, cfg Config) (*App, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &App{cfg: cfg}
	ok := false
	defer func() {
		if !ok {
			a.close()
		}
	}()

	var err error
	if a.Store, err = OpenStore(ctx, cfg); err != nil {
		return nil, err
	}
	a.Workspaces = &workspace.Service{Store: a.Store}

	publicURL := cfg.PublicURL
	if !cfg.NoAPI {
		if a.listener, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, fmt.Errorf("error listening on %s: %w", cfg.Addr, err)
		}
		if publicURL == "" {
			publicURL = "http://" + a.listener.Addr().String()
		}
	}
	// Replicate is told where to send its webhooks when florad can verify
	// them; a worker-only process needs --public-url for that.
	if rp := &cfg.Providers.Replicate; rp.WebhookSecret != "" && rp.WebhookURL == "" && publicURL != "" {
		rp.WebhookURL = strings.TrimRight(publicURL, "/") + "/provider-webhooks/replicate"
	}
	if a.Techniques, err = OpenLibrary(ctx, a.Store, cfg.Providers); err != nil {
		return nil, err
	}
	procs := a.Techniques.Models().(processor.Registry)

	blobs, files, err := a.openBlobs(ctx, publicURL)
	if err != nil {
		return nil, err
	}

	policy := netguard.Policy{Dev: cfg.Dev, AllowPrefixes: cfg.AllowNetworks}
	checkURL := func(u string) error { return netguard.ValidateURL(u, policy) }
	if !cfg.NoMetrics {
		a.Metrics = metrics.New()
		a.Metrics.CountOpenRuns(a.Store.RunCountOpen)
	}
	eng := engine.New(engine.Config{
		Blobs: blobs, Processors: procs, Logger: cfg.Logger, Metrics: a.Metrics,
		HTTPClient: netguard.NewClient(policy, netguard.ClientOptions{Timeout: 60 * time.Second, FollowRedirects: true}),
		PollMin:    cfg.ProviderPollMin, PollMax: cfg.ProviderPollMax,
	})
	// Webhooks go through the same guard, never following a redirect.
	deliverer := &webhook.Deliverer{Store: a.Store, CheckURL: checkURL, Logger: cfg.Logger, Metrics: a.Metrics,
		Client: netguard.NewClient(policy, netguard.ClientOptions{Timeout: webhook.TimeoutDefault, FollowRedirects: false})}
	// The services and River's workers need each other: the services are
	// made first and handed the client once it exists.
	a.Assets = &asset.Service{Store: a.Store, Blobs: blobs, CheckURL: checkURL, MaxBytes: cfg.MaxUploadBytes,
		QuotaBytes: cfg.StorageQuotaBytes, Retention: cfg.Retention,
		HTTPClient: netguard.NewClient(policy, netguard.ClientOptions{Timeout: 60 * time.Second, FollowRedirects: true})}
	a.Runs = &run.Service{Store: a.Store, Techniques: a.Techniques, CheckURL: checkURL, Lease: cfg.RescueAfter,
		RunTimeout: cfg.RunTimeout, Logger: cfg.Logger, Metrics: a.Metrics, Inputs: a.Assets}
	if a.Store.PgxPool() != nil {
		a.Runs.Listener = a.Store
	}
	a.Webhooks = &webhook.Service{Store: a.Store}
	if a.Store.PgxPool() != nil {
		a.river, err = newRiver(cfg, riverdatabasesql.NewWithPgxListener(a.Store.WriterDB(), a.Store.PgxPool()), a.Runs, eng, a.Webhooks, deliverer, a.Assets, procs)
	} else {
		a.river, err = newRiver(cfg, riversqlite.New(a.Store.WriterDB()), a.Runs, eng, a.Webhooks, deliverer, a.Assets, procs)
	}
	if err != nil {
		return nil, err
	}
	a.Runs.Jobs, a.Webhooks.Jobs = a.river, a.river

	verifier, err := a.verifier(cfg)
	if err != nil {
		return nil, err
	}
	a.api = api.New(api.Config{
		Runs: a.Runs, Workspaces: a.Workspaces, Assets: a.Assets, Techniques: a.Techniques, Verifier: verifier,
		Blobs: blobs, Files: files, CheckCallbackURL: checkURL, Logger: cfg.Logger, PublicURL: publicURL,
		Webhooks: a.Webhooks, RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst, Ready: a.Store.Ping,
		MaxStreamsPerWorkspace: cfg.MaxStreamsPerWorkspace, StreamAuthInterval: cfg.StreamAuthInterval,
		Metrics: a.Metrics, MetricsToken: cfg.MetricsToken,
		ReplicateWebhookSecret: cfg.Providers.Replicate.WebhookSecret,
	})
	if cfg.NoAPI && cfg.MetricsAddr != "" && a.Metrics != nil {
		if a.metricsListener, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return nil, fmt.Errorf("error listening on %s for metrics: %w", cfg.MetricsAddr, err)
		}
	}
	ok = true
	return a, nil
}

// MetricsAddr is the address a worker-only process serves /metrics on;
// "" when it serves none.
func (a *App) MetricsAddr() string {
	if a.metricsListener == nil {
		return ""
	}
	return a.metricsListener.Addr().String()
}

// verifier checks local keys and, when a Clerk secret key is configured,
// Clerk's.
func (a *App) verifier(cfg Config) (auth.Verifier, error) {
	local := &auth.LocalVerifier{Store: a.Store}
	if cfg.ClerkSecretKey == "" {
		return local, nil
	}
	ttl := cfg.ClerkCacheTTL
	switch {
	case ttl == 0:
		ttl = auth.ClerkCacheTTLDefault
	case ttl < 0:
		ttl = 0
	}
	clerk, err := auth.NewClerkVerifier(auth.ClerkConfig{
		SecretKey: cfg.ClerkSecretKey, APIURL: cfg.ClerkAPIURL, CacheTTL: ttl, Timeout: cfg.ClerkTimeout,
		Resolve: a.Workspaces.ClerkResolver(cfg.ClerkAutoWorkspace, cfg.ClerkStartingCredits), Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &auth.Chain{Local: local, Clerk: clerk}, nil
}

// openBlobs makes the blob store: the S3 bucket of BlobURL, whose outputs
// clients download by presigned URLs (files is then nil: nothing is served
// under /files/), or the local folder, served under /files/ by signed URLs.
// The local store's signing key lives in the database so that every process
// serving this data signs and checks file URLs alike.
func (a *App) openBlobs(ctx context.Context, publicURL string) (blobs blob.Store, files *blob.Local, err error) {
	if a.cfg.BlobURL != "" {
		if a.s3, err = blob.NewS3(ctx, a.cfg.BlobURL, a.cfg.S3); err != nil {
			return nil, nil, err
		}
		return a.s3, nil, nil
	}
	var secretHex string
	err = a.Store.InTx(ctx, func(tx store.Tx) error {
		var err error
		secretHex, err = tx.SettingInsertIfAbsent(ctx, "blob_signing_key", randomHex(32))
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	secret, err := hex.DecodeString(secretHex)
	if err != nil {
		return nil, nil, fmt.Errorf("error decoding blob signing key: %w", err)
	}
	local, err := blob.NewLocal(a.cfg.blobDir(), publicURL, secret, nil)
	if err != nil {
		return nil, nil, err
	}
	return local, local, nil
}

// newRiver builds the River client for one driver; TDriver is needed by the
// run worker to complete jobs inside our transactions.
func newRiver[TDriver riverdriver.Driver[*sql.Tx]](cfg Config, driver TDriver, runs *run.Service, eng *engine.Engine,
	webhooks *webhook.Service, deliverer *webhook.Deliverer, assets *asset.Service, procs processor.Registry) (*river.Client[*sql.Tx], error) {
	fetch := fetchTimingFor(driver.SupportsListener())
	workers := river.NewWorkers()
	river.AddWorker(workers, &asset.RetentionWorker{Assets: assets})
	river.AddWorker(workers, deliverer)
	river.AddWorker(workers, &run.Worker[TDriver]{Runs: runs, Executor: eng})
	cancelers := map[string]run.CallCanceler{}
	for _, p := range procs {
		if a, ok := p.(processor.Async); ok {
			cancelers[a.Provider()] = a
		}
	}
	river.AddWorker(workers, &run.CancelCallsWorker{Runs: runs, Providers: cancelers})
	river.AddWorker(workers, &run.WakeWorker{Runs: runs})
	river.AddWorker(workers, &run.ReconcileWorker{Runs: runs, Others: []run.Reconciler{webhooks}})
	riverCfg := &river.Config{
		Logger:  cfg.Logger,
		Workers: workers,
		// Completed jobs are the runs' history in our own tables; River's
		// copies only need to outlive idempotent retries.
		CompletedJobRetentionPeriod: time.Hour,
		// The reconciler takes over runs of dead processes within about a
		// lease; River's own rescue of stuck jobs is the backstop, and
		// must not come before a run's deadline.
		RescueStuckJobsAfter: runs.Timeout() + 5*time.Minute,
		JobTimeout:           -1,
		FetchCooldown:        fetch.cooldown,
		FetchPollInterval:    fetch.poll,
		PeriodicJobs:         []*river.PeriodicJob{run.PeriodicReconcile(cfg.RescueAfter / 3)},
	}
	if cfg.Retention > 0 {
		riverCfg.PeriodicJobs = append(riverCfg.PeriodicJobs, asset.PeriodicRetention(asset.RetentionInterval(cfg.Retention)))
	}
	if cfg.Workers {
		// Deliveries have their own queue and workers, so a receiver that
		// hangs or is down never holds up a run; the reconciler has its
		// own so that a full runs queue never delays it.
		riverCfg.Queues = map[string]river.QueueConfig{run.QueueRuns: {MaxWorkers: cfg.Concurrency, FetchPollInterval: fetch.runsPoll},
			webhook.QueueWebhooks: {MaxWorkers: webhook.WorkersDefault}, run.QueueMaintenance: {MaxWorkers: 1}}
	}
	c, err := river.NewClient(driver, riverCfg)
	if err != nil {
		return nil, fmt.Errorf("error creating River client: %w", err)
	}
	return c, nil
}

// fetchTiming is how often River's producers look for jobs.
type fetchTiming struct {
	// cooldown is the least time between two fetches of a queue: it also
	// bounds the insert notifications a process sends per queue, and a
	// queue's throughput (a fetch takes at most the free worker slots).
	cooldown time.Duration
	// poll is the fallback poll of every queue; runsPoll that of the runs
	// queue.
	poll, runsPoll time.Duration
}

// fetchTimingFor picks the fetch timing for a driver. With LISTEN/NOTIFY
// (PostgreSQL), an insert wakes the producers at once: the cooldown bounds
// both how long a run can wait for its fetch and how many of a process's
// creates carry River's insert NOTIFY. That matters: PostgreSQL holds a
// database-wide lock from a notifying transaction's commit through its
// flush, so notifying creates commit one at a time. 10 ms keeps a NOTIFY on
// every create up to 100 creates a second per process (pickup at once) and
// caps them beyond; 2 ms measured POST at 8 and 32 connections 5-28% below
// 10 ms. Without (SQLite), a run is found by polling only (River triggers no
// local fetch for jobs inserted in a caller's transaction), so the runs
// queue polls every 25 ms: an idle poll is a write transaction that changes
// nothing, which costs no flush and about 0.1 ms of the one writer.
func fetchTimingFor(listener bool) fetchTiming {
	if listener {
		return fetchTiming{cooldown: 10 * time.Millisecond, poll: 250 * time.Millisecond, runsPoll: 250 * time.Millisecond}
	}
	return fetchTiming{cooldown: 10 * time.Millisecond, poll: 250 * time.Millisecond, runsPoll: 25 * time.Millisecond}
}

// Addr is the address the API listens on; "" for a worker-only process.
func (a *App) Addr() string {
	if a.listener == nil {
		return ""
	}
	return a.listener.Addr().String()
}

// OpenJobs counts the run jobs River has not finished (queued, scheduled,
// running or waiting to retry), up to 10,000, through River's API: the
// queue's depth.
func (a *App) OpenJobs(ctx context.Context) (int, error) {
	res, err := a.river.JobList(ctx, river.NewJobListParams().Kinds((run.ExecuteArgs{}).Kind()).
		States(rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
			rivertype.JobStateRunning, rivertype.JobStateScheduled).First(10_000))
	if err != nil {
		return 0, fmt.Errorf("error counting open jobs: %w", err)
	}
	return len(res.Jobs), nil
}

// Handler is the API's HTTP handler.
func (a *App) Handler() http.Handler { return a.api }

// Run serves until ctx ends, then stops taking requests, lets in-flight
// requests and jobs finish (up to ShutdownTimeout), and closes everything.
func (a *App) Run(ctx context.Context) error {
	defer a.close()
	log := a.cfg.Logger
	if a.cfg.Workers {
		if a.Store.Dialect() == "sqlite" {
			// The embedded shape has one process working its database, so
			// every job River handed out before this start was a dead
			// process's: its runs resume now, not a lease from now.
			res, err := a.Runs.Reconcile(ctx, run.ReconcileParams{DeadBefore: time.Now(), Horizon: 2 * a.cfg.RescueAfter})
			if err != nil {
				return err
			}
			if res.Rescued+res.Settled > 0 {
				log.Warn("took over runs left by a process that died", "rescued", res.Rescued, "settled", res.Settled)
			}
		}
		// Not ctx itself: River hard-stops (canceling running jobs) when its
		// start context ends, and SIGTERM must drain jobs through Stop below.
		if err := a.river.Start(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("error starting River: %w", err)
		}
	}
	var srv *http.Server
	serveErr := make(chan error, 1)
	if a.listener != nil {
		srv = &http.Server{
			Handler:           a.api,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second,
			IdleTimeout:       120 * time.Second,
		}
		srv.RegisterOnShutdown(a.api.CloseStreams)
		go func() { serveErr <- srv.Serve(a.listener) }()
	}
	var metricsSrv *http.Server
	if a.metricsListener != nil {
		metricsSrv = &http.Server{Handler: a.api.MetricsRoutes(), ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
		go func() { serveErr <- metricsSrv.Serve(a.metricsListener) }()
	}
	log.Info("florad started", "addr", a.Addr(), "api", a.listener != nil, "workers", a.cfg.Workers,
		"database", a.Store.Dialect(), "dev", a.cfg.Dev)

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	log.Info("shutting down: draining requests and jobs")
	// Requests and jobs drain side by side, each with the whole timeout:
	// streams end at once (CloseStreams), and running steps must not wait
	// for the last request to finish.
	drain, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	if srv != nil {
		wg.Go(func() {
			if serr := srv.Shutdown(drain); serr != nil {
				log.Warn("requests still open at the shutdown deadline", "error", serr)
			}
		})
	}
	if metricsSrv != nil {
		wg.Go(func() { _ = metricsSrv.Shutdown(drain) })
	}
	if a.cfg.Workers {
		wg.Go(func() {
			if serr := a.river.Stop(drain); serr != nil {
				log.Warn("jobs still running at the shutdown deadline; they resume on next start", "error", serr)
				hard, cancelHard := context.WithTimeout(context.Background(), 5*time.Second)
				_ = a.river.StopAndCancel(hard)
				cancelHard()
			}
		})
	}
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	log.Info("florad stopped")
	return err
}

func (a *App) close() {
	if a.listener != nil {
		a.listener.Close()
	}
	if a.metricsListener != nil {
		a.metricsListener.Close()
	}
	if a.Store != nil {
		a.Store.Close()
	}
	if a.s3 != nil {
		a.s3.Close()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
