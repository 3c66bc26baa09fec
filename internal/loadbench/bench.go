// Package loadbench measures florad's API under load against the limits of
// the machine it runs on: POST create-run and GET poll throughput and
// latency, each beside a bare net/http baseline that does only the database
// work the request cannot avoid, on the same SQLite settings, measured
// back to back in one process on one machine. 'florad-bench api' runs it.
//
// Everything shares the machine: the servers, the load generator and (on the
// 2-vCPU machines of reference/limits.md) whatever else is running. So the
// figures that mean something are the ratios florad/baseline measured next
// to each other, not absolute rates; foreign CPU is measured during every
// window and a noisy window is measured again.
//
// Choices, and why:
//
//   - Everything runs in one process on real loopback listeners: florad as
//     'florad serve' wires it (internal/app), the baselines, and a closed-loop
//     load generator whose N workers each keep one keep-alive connection.
//     Client cost is the same for both sides of a ratio.
//   - florad runs without workers by default. The baselines execute nothing,
//     and executing a run costs several more write transactions on the one
//     SQLite writer; with them, POST would measure the whole system rather
//     than the API. Config.Workers measures that too, and then waits for the
//     backlog to be executed before the next window.
//   - POST uses prompt-expander (1 credit) with a unique body per request and
//     no idempotency key; the workspace holds 10^9 credits. GET polls runs
//     created beforehand, round-robin, with the API key.
//   - Baseline and florad are measured back to back at each level, and with
//     several rounds the order alternates, so both see the same machine.
package loadbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Scenario names.
const (
	ScenarioPost = "post"
	ScenarioGet  = "get"
)

// Server names.
const (
	ServerFlorad   = "florad"
	ServerBaseline = "baseline"
)

// Config says what to measure and how.
type Config struct {
	// Duration of each measured window. Defaults to 5 s.
	Duration time.Duration
	// Warmup before each window: connections open, pools and caches fill.
	// Zero means none; 'florad-bench api' uses 1 s.
	Warmup time.Duration
	// Conns are the concurrency levels. Defaults to 1, 8, 32.
	Conns []int
	// Scenarios to run: ScenarioPost, ScenarioGet. Defaults to both.
	Scenarios []string
	// Synchronous is SQLite's synchronous mode for florad and the
	// baselines alike. Defaults to FULL, florad's default.
	Synchronous string
	// Rounds measures each cell this many times, alternating which server
	// goes first. Each server's figures are from its round with the median
	// throughput; the ratios are the medians of the rounds' own ratios.
	// Defaults to 1.
	Rounds int
	// Workers executes the created runs in florad meanwhile (see
	// FloradOptions.Workers); off by default, as the baselines have none.
	Workers bool
	// AccessLog has florad encode its access log (see FloradOptions).
	AccessLog bool
	// GetRuns is how many runs are created up front for GET to poll,
	// round-robin. Defaults to 1000.
	GetRuns int
	// NoiseGate is the foreign CPU, in cores, above which a window is
	// measured again (up to NoiseRetries more times; the quietest is kept),
	// unless the machine was already busy when the window began.
	// Defaults to 0.1 (5% of two cores, as in reference/limits.md).
	NoiseGate    float64
	NoiseRetries int
	// QuietWait is how long to wait, before each window, for other
	// processes to fall under NoiseGate; 0 does not wait.
	QuietWait time.Duration
	// CPUProfile, when set, is a path prefix: each window writes a CPU
	// profile to PREFIX-SCENARIO-SERVER-cN.pprof.
	CPUProfile string
	// TempDir is where the temporary data folder is made; "" for the
	// system default. The folder is removed at the end.
	TempDir string
	// Progress receives a line per measurement; nil for none.
	Progress io.Writer
}

func (c Config) withDefaults() Config {
	if c.Duration <= 0 {
		c.Duration = 5 * time.Second
	}
	if c.Warmup < 0 {
		c.Warmup = 0
	}
	if len(c.Conns) == 0 {
		c.Conns = []int{1, 8, 32}
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = []string{ScenarioPost, ScenarioGet}
	}
	if c.Synchronous == "" {
		c.Synchronous = "FULL"
	}
	if c.Rounds <= 0 {
		c.Rounds = 1
	}
	if c.GetRuns <= 0 {
		c.GetRuns = 1000
	}
	if c.NoiseGate <= 0 {
		c.NoiseGate = 0.1
	}
	if c.NoiseRetries < 0 {
		c.NoiseRetries = 0
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return c
}

func (c Config) validate() error {
	for _, n := range c.Conns {
		if n < 1 || n > 4096 {
			return fmt.Errorf("conns: %d is not between 1 and 4096", n)
		}
	}
	for _, s := range c.Scenarios {
		if s != ScenarioPost && s != ScenarioGet {
			return fmt.Errorf("scenario %q: want %q or %q", s, ScenarioPost, ScenarioGet)
		}
	}
	return nil
}

// Run starts florad and the baselines on a temporary data folder and
// measures every scenario at every concurrency level.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(cfg.TempDir, "florad-bench-")
	if err != nil {
		return nil, fmt.Errorf("error creating data folder: %w", err)
	}
	defer os.RemoveAll(dir)

	b := &bench{cfg: cfg}
	fmt.Fprintf(cfg.Progress, "starting florad and the baseline in %s (SQLite synchronous=%s, workers %s)\n",
		dir, cfg.Synchronous, onOff(cfg.Workers))
	b.florad, err = StartFlorad(ctx, filepath.Join(dir, "florad"),
		FloradOptions{Synchronous: cfg.Synchronous, Workers: cfg.Workers, AccessLog: cfg.AccessLog})
	if err != nil {
		return nil, fmt.Errorf("error starting florad: %w", err)
	}
	defer b.florad.Close()
	b.baseline, err = StartBaseline(ctx, filepath.Join(dir, "baseline"), cfg.Synchronous)
	if err != nil {
		return nil, fmt.Errorf("error starting the baseline: %w", err)
	}
	defer b.baseline.Close()
	if err := b.prepare(ctx); err != nil {
		return nil, err
	}

	rep := &Report{Settings: settingsOf(cfg)}
	for _, conns := range cfg.Conns {
		for _, scenario := range cfg.Scenarios {
			row, err := b.cell(ctx, scenario, conns)
			if err != nil {
				return nil, err
			}
			rep.Rows = append(rep.Rows, row)
		}
	}
	rep.evaluate()
	return rep, nil
}

type bench struct {
	cfg      Config
	florad   *Florad
	baseline *Baseline
	// pollURLs are the runs GET polls, per server.
	pollURLs map[string][]string
	// windows numbers measurements, so that POST bodies never repeat.
	windows int
}

const floradPostPath = "/api/v1/techniques/prompt-expander/runs"

// target is the request of a scenario against a server.
func (b *bench) target(scenario, server string) Target {
	h := http.Header{
		"Authorization": {"Bearer " + b.florad.Key},
		"Content-Type":  {"application/json"},
	}
	if scenario == ScenarioGet {
		urls := b.pollURLs[server]
		return Target{Method: http.MethodGet, Header: h, WantStatus: http.StatusOK,
			URL: func(w, n int) string { return urls[(w*7919+n)%len(urls)] }}
	}
	url := b.florad.URL() + floradPostPath
	if server == ServerBaseline {
		// The baseline ignores the key but gets the same headers to parse.
		url = b.baseline.URL() + "/runs"
	}
	b.windows++
	return Target{Method: http.MethodPost, Header: h, WantStatus: http.StatusOK,
		URL: func(int, int) string { return url }, Body: postBody(strconv.Itoa(b.windows))}
}

// postBody makes unique bodies: no two runs are the same request, as with
// real clients, and none is an idempotent replay.
func postBody(window string) func(w, n int) []byte {
	return func(w, n int) []byte {
		buf := make([]byte, 0, 128)
		buf = append(buf, `{"inputs":[{"id":"prompt","type":"text","value":"a lighthouse at dawn, take `...)
		buf = append(buf, window...)
		buf = append(buf, '.')
		buf = strconv.AppendInt(buf, int64(w), 10)
		buf = append(buf, '.')
		buf = strconv.AppendInt(buf, int64(n), 10)
		return append(buf, `"}],"mode":"async"}`...)
	}
}

// prepare creates the runs GET polls, on both servers.
func (b *bench) prepare(ctx context.Context) error {
	if !slices.Contains(b.cfg.Scenarios, ScenarioGet) {
		return nil
	}
	b.pollURLs = map[string][]string{}
	for _, server := range []string{ServerFlorad, ServerBaseline} {
		urls, err := createRuns(ctx, b.target(ScenarioPost, server), b.cfg.GetRuns)
		if err != nil {
			return fmt.Errorf("error creating runs to poll on %s: %w", server, err)
		}
		b.pollURLs[server] = urls
	}
	fmt.Fprintf(b.cfg.Progress, "created %d runs on each server for GET to poll\n", b.cfg.GetRuns)
	return b.drain(ctx)
}

// createRuns sends n creations, a few at a time, and returns the runs'
// poll URLs.
func createRuns(ctx context.Context, t Target, n int) ([]string, error) {
	const parallel = 4
	urls := make([]string, n)
	errs := make([]error, parallel)
	var wg sync.WaitGroup
	for w := range parallel {
		wg.Go(func() {
			for i := w; i < n && errs[w] == nil; i += parallel {
				urls[i], errs[w] = createRun(ctx, &t, w, i)
			}
		})
	}
	wg.Wait()
	return urls, errors.Join(errs...)
}

func createRun(ctx context.Context, t *Target, w, n int) (string, error) {
	req, err := http.NewRequestWithContext(ctx, t.Method, t.URL(w, n), bytes.NewReader(t.Body(w, n)))
	if err != nil {
		return "", err
	}
	req.Header = t.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		PollURL string `json:"poll_url"`
	}
	if resp.StatusCode != t.WantStatus {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.PollURL == "" {
		return "", fmt.Errorf("response has no poll_url (%v)", err)
	}
	return out.PollURL, nil
}

// drain waits, when florad executes runs, until it has executed all of
// them: a backlog would take CPU and the writer from whatever is measured
// next, the baseline included.
func (b *bench) drain(ctx context.Context) error {
	if !b.cfg.Workers {
		return nil
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	for {
		n, err := b.florad.PendingJobs(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			fmt.Fprintf(b.cfg.Progress, "  florad executed its backlog in %s\n", time.Since(start).Round(time.Millisecond))
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("florad still had %d runs to execute: %w", n, context.Cause(ctx))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// cell measures one scenario at one concurrency level on both servers,
// back to back, Rounds times, alternating which goes first so that neither
// always inherits the other's leftovers (WAL, heap, page cache).
func (b *bench) cell(ctx context.Context, scenario string, conns int) (*Row, error) {
	samples := map[string][]*Sample{}
	for round := range b.cfg.Rounds {
		order := []string{ServerBaseline, ServerFlorad}
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, server := range order {
			s, err := b.window(ctx, scenario, server, conns)
			if err != nil {
				return nil, fmt.Errorf("error measuring %s %s at %d connections: %w", scenario, server, conns, err)
			}
			samples[server] = append(samples[server], s)
			if server == ServerFlorad && scenario == ScenarioPost {
				if err := b.drain(ctx); err != nil {
					return nil, err
				}
			}
		}
	}
	return &Row{Scenario: scenario, Conns: conns,
		Florad: statsOf(samples[ServerFlorad]), Baseline: statsOf(samples[ServerBaseline])}, nil
}

// window measures once, and again while foreign CPU exceeds the gate,
// unless the machine was busy before it even started: then retrying only
// costs time.
func (b *bench) window(ctx context.Context, scenario, server string, conns int) (*Sample, error) {
	var best *Sample
	for attempt := 0; attempt <= b.cfg.NoiseRetries; attempt++ {
		quiet, err := b.waitQuiet(ctx)
		if err != nil {
			return nil, err
		}
		// Start each window from a collected heap: servers share one.
		runtime.GC()
		stop, err := b.startProfile(scenario, server, conns)
		if err != nil {
			return nil, err
		}
		s, err := Measure(ctx, b.target(scenario, server), conns, b.cfg.Warmup, b.cfg.Duration)
		stop()
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(b.cfg.Progress, "  %-4s c=%-3d %-8s %9.0f req/s  p50 %7s  p99 %7s  errors %d  cpu %.2f  other %s\n",
			scenario, conns, server, s.RPS(), fmtDur(s.Quantile(0.5)), fmtDur(s.Quantile(0.99)), s.Errors,
			s.CPU.Self, fmtOther(s.CPU))
		if best == nil || s.CPU.Other < best.CPU.Other {
			best = s
		}
		if !s.CPU.Known || s.CPU.Other <= b.cfg.NoiseGate || !quiet {
			break
		}
		if attempt < b.cfg.NoiseRetries {
			fmt.Fprintf(b.cfg.Progress, "  other processes used %.2f cores (gate %.2f): measuring again\n",
				s.CPU.Other, b.cfg.NoiseGate)
		}
	}
	return best, nil
}

// waitQuiet waits until other processes use less than the noise gate over
// a whole second, or QuietWait has passed; it tells which.
func (b *bench) waitQuiet(ctx context.Context) (bool, error) {
	if b.cfg.QuietWait <= 0 {
		return true, nil
	}
	deadline := time.Now().Add(b.cfg.QuietWait)
	said := false
	for {
		before := TakeCPUSnapshot()
		select {
		case <-ctx.Done():
			return false, context.Cause(ctx)
		case <-time.After(time.Second):
		}
		u := TakeCPUSnapshot().Since(before)
		if !u.Known || u.Other <= b.cfg.NoiseGate {
			return true, nil
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(b.cfg.Progress, "  machine still busy (other processes %.2f cores) after %s: measuring anyway\n",
				u.Other, b.cfg.QuietWait)
			return false, nil
		}
		if !said {
			fmt.Fprintf(b.cfg.Progress, "  waiting for other processes to quiet down (%.2f cores)\n", u.Other)
			said = true
		}
	}
}

func (b *bench) startProfile(scenario, server string, conns int) (func(), error) {
	if b.cfg.CPUProfile == "" {
		return func() {}, nil
	}
	path := fmt.Sprintf("%s-%s-%s-c%d.pprof", b.cfg.CPUProfile, scenario, server, conns)
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("error creating CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("error starting CPU profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func fmtOther(u CPUUsage) string {
	if !u.Known {
		return "?"
	}
	return strconv.FormatFloat(u.Other, 'f', 2, 64)
}

func fmtDur(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms >= 100:
		return strconv.FormatFloat(math.Round(ms), 'f', 0, 64) + "ms"
	case ms >= 10:
		return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(ms, 'f', 2, 64) + "ms"
}
