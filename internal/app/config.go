// Package app wires florad together: it opens the store, loads the catalog,
// builds the engine, River and the HTTP server from one Config, and runs
// them until the context ends, draining requests and jobs on the way out.
package app

import (
	"errors"
	"log/slog"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/florad/florad/internal/blob"
	"github.com/florad/florad/internal/provider"
)

// Config is everything florad's processes can be told. The CLI fills it
// from flags and FLORA_* variables.
type Config struct {
	// Addr is where the API listens. Defaults to "127.0.0.1:8080".
	Addr string
	// DataDir holds the SQLite database and the local blob folder.
	// Defaults to "./data".
	DataDir string
	// DatabaseURL, when set (postgres://...), puts everything on PostgreSQL
	// instead of the SQLite file, so that many processes can share it.
	DatabaseURL string
	// PublicURL is the base URL clients reach the API at, used in poll_url
	// and output URLs. Defaults to "http://" + the address listened on.
	PublicURL string
	// BlobURL, when set (s3://bucket/prefix), keeps run outputs in that
	// S3-compatible bucket, served to clients by presigned URLs, instead of
	// the blobs folder under DataDir served under /files/. Every process of
	// one deployment must be given the same.
	BlobURL string
	// S3 says how to reach BlobURL's service: endpoint, credentials,
	// region, addressing. The CLI fills it from FLORA_S3_* and AWS_*
	// variables (blob.S3OptionsFromEnv).
	S3 blob.S3Options
	// Dev is development mode: input and callback URLs may use plain http
	// and loopback or private hosts. Never for production.
	Dev bool
	// AllowNetworks are extra networks outbound requests may reach even
	// outside development mode (for example an internal media mirror).
	AllowNetworks []netip.Prefix
	// SQLiteSynchronous is SQLite's synchronous mode. Defaults to "FULL".
	SQLiteSynchronous string
	// Workers runs River workers in this process. Defaults to true in serve.
	Workers bool
	// NoAPI leaves the HTTP API out: a worker-only process.
	NoAPI bool
	// RescueAfter is how long a run may go without a heartbeat from the
	// process executing it before the reconciler hands it to another
	// worker: the run's lease. Defaults to 30 seconds.
	RescueAfter time.Duration
	// Concurrency is how many runs this process executes at once.
	// Defaults to 8.
	Concurrency int
	// RunTimeout is a run's deadline from creation. Defaults to 30 minutes.
	RunTimeout time.Duration
	// RateLimit is how many API requests a second each workspace may make
	// to this process, on average; 0 means no limit (the CLI's default is
	// RateLimitDefault). RateBurst is how many at once; 0 means twice
	// RateLimit.
	RateLimit float64
	RateBurst int
	// MaxStreamsPerWorkspace bounds a workspace's open event streams on one
	// API process. Defaults to api.MaxStreamsPerWorkspaceDefault.
	MaxStreamsPerWorkspace int
	// StreamAuthInterval is how often an open stream checks that its key is
	// still valid. Defaults to api.StreamAuthIntervalDefault.
	StreamAuthInterval time.Duration
	// MaxUploadBytes bounds one asset (an upload or a fetched source).
	// Defaults to asset.MaxBytesDefault (50 MiB).
	MaxUploadBytes int64
	// StorageQuotaBytes bounds the bytes of one workspace's assets; 0
	// means no quota (the CLI's default is StorageQuotaDefault).
	StorageQuotaBytes int64
	// Retention, when above zero, is how long assets (from their upload)
	// and run output files (from their run's end) are kept; a periodic job
	// on the maintenance queue deletes older ones. 0 keeps them for ever.
	Retention time.Duration
	// ClerkSecretKey, when set, turns on Clerk API keys: a bearer token
	// that is not a local key is verified with Clerk's Backend API at
	// ClerkAPIURL (default auth.ClerkAPIURLDefault).
	ClerkSecretKey string
	ClerkAPIURL    string
	// ClerkCacheTTL is how long a Clerk verification is reused: 0 means
	// auth.ClerkCacheTTLDefault, negative means never (every request asks
	// Clerk).
	ClerkCacheTTL time.Duration
	// ClerkTimeout bounds one call to Clerk. Defaults to
	// auth.ClerkTimeoutDefault.
	ClerkTimeout time.Duration
	// ClerkAutoWorkspace makes a workspace, with ClerkStartingCredits, for
	// a Clerk subject linked to none on its first request; otherwise such
	// keys get 403 until 'florad workspace link' links the subject.
	ClerkAutoWorkspace   bool
	ClerkStartingCredits int64
	// ShutdownTimeout bounds draining requests and jobs on SIGTERM.
	// Defaults to 60 seconds.
	ShutdownTimeout time.Duration
	// Providers configures the remote model providers (OpenAI-compatible,
	// fal); unconfigured ones leave their techniques unavailable.
	Providers provider.Config
	// ProviderPollMin and ProviderPollMax bound the wait between two polls
	// of a provider request. Default to engine.PollMinDefault and
	// engine.PollMaxDefault.
	ProviderPollMin, ProviderPollMax time.Duration
	// Logger receives structured logs. Defaults to discarding them.
	Logger *slog.Logger
	// NoMetrics turns /metrics and the counting behind it off.
	NoMetrics bool
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string
	// MetricsAddr is where a worker-only process (NoAPI) serves /metrics;
	// empty for nowhere. A process with the API serves it there.
	MetricsAddr string
}

// Defaults of Config.
const (
	AddrDefault            = "127.0.0.1:8080"
	DataDirDefault         = "./data"
	ConcurrencyDefault     = 8
	ShutdownTimeoutDefault = 60 * time.Second
	RescueAfterDefault     = 30 * time.Second
	// RateLimitDefault is the contract's: 20 requests a second, and with
	// the default burst, 40 at once.
	RateLimitDefault = 20
	// StorageQuotaDefault is the CLI's per-workspace asset quota: 1 GiB.
	StorageQuotaDefault = 1 << 30
)

// WithDefaults returns a copy of c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.Addr == "" {
		c.Addr = AddrDefault
	}
	if c.DataDir == "" {
		c.DataDir = DataDirDefault
	}
	if c.Concurrency <= 0 {
		c.Concurrency = ConcurrencyDefault
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = ShutdownTimeoutDefault
	}
	if c.RescueAfter <= 0 {
		c.RescueAfter = RescueAfterDefault
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	if c.RateLimit < 0 || c.RateBurst < 0 {
		return errors.New("rate limit and burst: not negative (0 turns the limit off)")
	}
	if c.MaxUploadBytes < 0 || c.StorageQuotaBytes < 0 || c.Retention < 0 {
		return errors.New("max upload bytes, storage quota and retention: not negative")
	}
	if c.Retention > 0 && c.Retention < time.Minute {
		return errors.New("retention: at least 1m (or 0 to keep files for ever)")
	}
	if c.ClerkStartingCredits < 0 {
		return errors.New("clerk starting credits: not negative")
	}
	if c.Concurrency > 1000 {
		return errors.New("concurrency: at most 1000")
	}
	return nil
}

func (c Config) sqlitePath() string { return filepath.Join(c.DataDir, "florad.db") }
func (c Config) blobDir() string    { return filepath.Join(c.DataDir, "blobs") }
