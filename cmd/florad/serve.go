package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/florad/florad/internal/api"
	"github.com/florad/florad/internal/app"
	"github.com/florad/florad/internal/auth"
	"github.com/florad/florad/internal/blob"
)

func logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(envOr("FLORA_LOG_LEVEL", "info"))); err != nil {
		return slog.LevelInfo
	}
	return l
}

// cmdServe runs "serve" (API and workers) and "worker" (workers only).
func cmdServe(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := fs.String("database-url", os.Getenv("FLORA_DATABASE_URL"), "PostgreSQL URL; when set, replaces the SQLite file so many processes can share it (env FLORA_DATABASE_URL)")
	rescueAfter := fs.Duration("rescue-after", envDuration("FLORA_RESCUE_AFTER", app.RescueAfterDefault), "hand a run whose worker sent no heartbeat for this long to another worker: the run's lease (env FLORA_RESCUE_AFTER)")
	addr := fs.String("addr", envOr("FLORA_ADDR", app.AddrDefault), "address to listen on (env FLORA_ADDR)")
	data := fs.String("data", envOr("FLORA_DATA_DIR", app.DataDirDefault), "data folder: SQLite database and blobs (env FLORA_DATA_DIR)")
	blobURL := fs.String("blob-url", os.Getenv("FLORA_BLOB_URL"), "keep outputs in an S3-compatible bucket, s3://bucket/prefix, served by presigned URLs, instead of DATA/blobs; endpoint and keys from FLORA_S3_* and AWS_* variables, see the README (env FLORA_BLOB_URL)")
	publicURL := fs.String("public-url", os.Getenv("FLORA_PUBLIC_URL"), "base URL clients reach the API at (env FLORA_PUBLIC_URL; default http://ADDR)")
	dev := fs.Bool("dev", os.Getenv("FLORA_DEV") == "1", "development mode: allow http and loopback/private URLs (env FLORA_DEV=1)")
	allow := fs.String("allow-networks", os.Getenv("FLORA_ALLOW_NETWORKS"), "comma-separated CIDRs outbound requests may reach besides the internet (env FLORA_ALLOW_NETWORKS)")
	sync := fs.String("sqlite-synchronous", envOr("FLORA_SQLITE_SYNCHRONOUS", "FULL"), "SQLite synchronous mode: FULL (durable) or NORMAL (faster; may lose last commits on power loss) (env FLORA_SQLITE_SYNCHRONOUS)")
	concurrency := fs.Int("concurrency", envInt("FLORA_CONCURRENCY", app.ConcurrencyDefault), "runs executed at once by this process (env FLORA_CONCURRENCY)")
	noWorkers := new(bool)
	if name == "serve" {
		noWorkers = fs.Bool("no-workers", false, "serve the API only; runs are executed by 'florad worker' processes")
	}
	rateLimit := fs.Float64("rate-limit", envFloat("FLORA_RATE_LIMIT", app.RateLimitDefault), "API requests a second each workspace may make to this process, on average; 0 for no limit (env FLORA_RATE_LIMIT)")
	rateBurst := fs.Int("rate-burst", envInt("FLORA_RATE_BURST", 0), "API requests a workspace may make at once; 0 for twice --rate-limit (env FLORA_RATE_BURST)")
	maxStreams := fs.Int("max-streams", envInt("FLORA_MAX_STREAMS", api.MaxStreamsPerWorkspaceDefault), "event streams one workspace may hold open on this process (env FLORA_MAX_STREAMS)")
	noMetrics := fs.Bool("no-metrics", os.Getenv("FLORA_METRICS") == "0", "do not serve /metrics nor count for it (env FLORA_METRICS=0)")
	var metricsAddr *string
	if name == "worker" {
		metricsAddr = fs.String("metrics-addr", os.Getenv("FLORA_METRICS_ADDR"), "address to serve /metrics on; none when empty (env FLORA_METRICS_ADDR)")
	} else {
		metricsAddr = new(string)
	}
	metricsToken := fs.String("metrics-token", os.Getenv("FLORA_METRICS_TOKEN"), "bearer token /metrics requires; none when empty (env FLORA_METRICS_TOKEN)")
	runTimeout := fs.Duration("run-timeout", envDuration("FLORA_RUN_TIMEOUT", 30*time.Minute), "deadline of a run from its creation (env FLORA_RUN_TIMEOUT)")
	providers, pollMin, pollMax := providerFlags(fs)
	maxUpload := fs.String("max-upload-bytes", envOr("FLORA_MAX_UPLOAD_BYTES", "50MiB"), "largest asset accepted, uploaded or fetched: bytes, or with KiB, MiB, GiB (env FLORA_MAX_UPLOAD_BYTES)")
	quota := fs.String("storage-quota", envOr("FLORA_STORAGE_QUOTA", "1GiB"), "bytes of assets one workspace may store, with KiB, MiB, GiB, TiB; 0 for no quota (env FLORA_STORAGE_QUOTA)")
	retention := fs.String("retention", envOr("FLORA_RETENTION", "0"), "delete assets and run output files older than this (e.g. 720h or 30d); 0 keeps them (env FLORA_RETENTION)")
	clerkURL := fs.String("clerk-api-url", envOr("FLORA_CLERK_API_URL", auth.ClerkAPIURLDefault), "Clerk Backend API base URL, used when FLORA_CLERK_SECRET_KEY is set (env FLORA_CLERK_API_URL)")
	clerkTTL := fs.Duration("clerk-cache-ttl", envDurationOrZero("FLORA_CLERK_CACHE_TTL", auth.ClerkCacheTTLDefault), "how long a Clerk key verification is reused; 0 asks Clerk on every request (env FLORA_CLERK_CACHE_TTL)")
	clerkAuto := fs.Bool("clerk-auto-workspace", os.Getenv("FLORA_CLERK_AUTO_WORKSPACE") == "1", "make a workspace on the first request of a Clerk subject linked to none (env FLORA_CLERK_AUTO_WORKSPACE=1)")
	clerkCredits := fs.Int64("clerk-auto-workspace-credits", int64(envInt("FLORA_CLERK_AUTO_WORKSPACE_CREDITS", 0)), "starting balance of a workspace made for a Clerk subject (env FLORA_CLERK_AUTO_WORKSPACE_CREDITS)")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	maxUploadBytes, err := parseBytes(*maxUpload)
	if err != nil || maxUploadBytes == 0 {
		return &usageError{"max-upload-bytes: a size above zero such as 50MiB"}
	}
	quotaBytes, err := parseBytes(*quota)
	if err != nil {
		return &usageError{"storage-quota: " + err.Error()}
	}
	keep, err := parseDays(*retention)
	if err != nil {
		return &usageError{"retention: " + err.Error()}
	}
	if *clerkTTL < 0 || *clerkCredits < 0 {
		return &usageError{"clerk-cache-ttl and clerk-auto-workspace-credits must not be negative"}
	}
	ttl := *clerkTTL
	if ttl == 0 {
		ttl = -1 // app.Config: negative is "no cache", 0 the default
	}
	nets, err := parsePrefixes(*allow)
	if err != nil {
		return &usageError{err.Error()}
	}

	var s3 blob.S3Options
	if *blobURL != "" {
		if s3, err = blob.S3OptionsFromEnv(os.Getenv); err != nil {
			return &usageError{err.Error()}
		}
	}

	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: logLevel()}))
	cfg := app.Config{
		Addr: *addr, DataDir: *data, PublicURL: *publicURL, Dev: *dev, AllowNetworks: nets,
		SQLiteSynchronous: strings.ToUpper(*sync), Workers: !*noWorkers, Concurrency: *concurrency,
		RunTimeout: *runTimeout, Logger: logger, DatabaseURL: *dbURL, RescueAfter: *rescueAfter,
		NoAPI: name == "worker", BlobURL: *blobURL, S3: s3, RateLimit: *rateLimit, RateBurst: *rateBurst,
		MaxStreamsPerWorkspace: *maxStreams, NoMetrics: *noMetrics, MetricsToken: *metricsToken,
		MetricsAddr: *metricsAddr, MaxUploadBytes: maxUploadBytes, StorageQuotaBytes: quotaBytes,
		Retention: keep, Providers: providers(), ProviderPollMin: *pollMin, ProviderPollMax: *pollMax,
		// The secret key only from the environment: a flag would show it
		// in the process list.
		ClerkSecretKey: os.Getenv("FLORA_CLERK_SECRET_KEY"), ClerkAPIURL: *clerkURL, ClerkCacheTTL: ttl,
		ClerkAutoWorkspace: *clerkAuto, ClerkStartingCredits: *clerkCredits,
	}
	if *dev {
		fmt.Fprintln(stderr, strings.Repeat("!", 78))
		fmt.Fprintln(stderr, "!! DEVELOPMENT MODE: input and callback URLs may use plain http and reach")
		fmt.Fprintln(stderr, "!! loopback and private networks. Never run a public server like this.")
		fmt.Fprintln(stderr, strings.Repeat("!", 78))
	}
	a, err := app.New(ctx, cfg)
	if err != nil {
		return err
	}
	if name == "worker" {
		return a.Run(ctx)
	}
	demo, err := a.EnsureDemo(ctx, 1000)
	if err != nil {
		return err
	}
	if demo != nil {
		printDemo(stdout, demo, "http://"+a.Addr(), *publicURL)
	}
	return a.Run(ctx)
}

func printDemo(w io.Writer, d *app.Demo, listenURL, publicURL string) {
	base := publicURL
	if base == "" {
		base = listenURL
	}
	fmt.Fprintf(w, `
First start: created a demo workspace. The key is shown only this once.

  workspace       %s (%d credits)
  API key         %s
  webhook secret  %s

Try it:

  export FLORA_API_KEY=%s
  curl -s %s/api/v1/techniques/prompt-expander/runs \
    -H "Authorization: Bearer $FLORA_API_KEY" -H "Content-Type: application/json" \
    -d '{"inputs":[{"id":"prompt","type":"text","value":"a lighthouse at dawn"}],"mode":"async"}'

Then poll the run's poll_url with the same Authorization header.
Or open the web console, %s/console/, and sign in with the key.

`, d.WorkspaceID, d.Credits, d.Key, d.WebhookSecret, d.Key, base, base)
}

func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("allow-networks: %q is not a CIDR prefix", part)
		}
		out = append(out, p)
	}
	return out, nil
}

func envInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err == nil && n > 0 {
		return n
	}
	return def
}

// envFloat reads a number that may be 0 (a setting turned off).
func envFloat(name string, def float64) float64 {
	var f float64
	if _, err := fmt.Sscan(os.Getenv(name), &f); err == nil && f >= 0 {
		return f
	}
	return def
}

// envDurationOrZero reads a duration that may be 0 (a setting turned off).
func envDurationOrZero(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d >= 0 {
		return d
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

// parseBytes reads a size: plain bytes, or a number with KiB, MiB, GiB or
// TiB (also KB, MB, GB, TB, meaning the same powers of 1024).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix []string
		mult   int64
	}{{[]string{"TiB", "TB", "T"}, 1 << 40}, {[]string{"GiB", "GB", "G"}, 1 << 30},
		{[]string{"MiB", "MB", "M"}, 1 << 20}, {[]string{"KiB", "KB", "K"}, 1 << 10}, {[]string{"B"}, 1}} {
		for _, suf := range u.suffix {
			if strings.HasSuffix(s, suf) {
				s, mult = strings.TrimSpace(strings.TrimSuffix(s, suf)), u.mult
				goto parsed
			}
		}
	}
parsed:
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size such as 1073741824, 512MiB or 1GiB", s)
	}
	return n * mult, nil
}

// parseDays reads a Go duration, also with a whole number of days ("30d").
func parseDays(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a duration such as 720h or 30d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 720h or 30d", s)
	}
	return d, nil
}
