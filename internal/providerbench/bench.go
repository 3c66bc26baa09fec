// Package providerbench measures florad with many runs waiting on a slow
// provider at once: a florad child process on SQLite with a few worker
// slots, a loopback fake of fal's queue API whose every request takes
// minutes, N runs created at once, and GETs of those runs meanwhile. It
// checks that every run completes, that all of them waited at the provider
// at the same time (none holds a worker slot while it waits), and reports
// florad's peak RSS and the GETs' latency under that load.
package providerbench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/florad/florad/internal/provider/providerfake"
)

// Config of one benchmark.
type Config struct {
	// Bin is the florad binary (the running one, for the CLI).
	Bin string
	// Runs waiting at once. Defaults to 10,000.
	Runs int
	// Concurrency is florad's worker slots. Defaults to 8.
	Concurrency int
	// ProviderTime is how long the fake takes over each request (queued
	// for three quarters of it, running for the rest). It must be longer
	// than creating and submitting all runs takes, or the first ones end
	// before the last are submitted. Defaults to 150 s.
	ProviderTime time.Duration
	// Poll is florad's interval between two polls of a request (min and
	// max alike). Defaults to 30 s.
	Poll time.Duration
	// CreateConns and GetConns are the client connections creating runs
	// and polling them through the API. Default 16 and 4.
	CreateConns, GetConns int
	// GetRate is the GETs a second the API gets meanwhile, spread over
	// GetConns: a steady load of clients polling, not a flood that would
	// starve the workers of CPU. Defaults to 200.
	GetRate float64
	// Synchronous is SQLite's synchronous mode. Defaults to FULL.
	Synchronous string
	// Progress receives a line now and then.
	Progress io.Writer
}

// Report is what one benchmark measured.
type Report struct {
	Runs        int `json:"runs"`
	Concurrency int `json:"concurrency"`
	Completed   int `json:"completed"`
	Failed      int `json:"failed"`
	// MaxWaitingAtOnce is the most requests the provider held at once.
	MaxWaitingAtOnce int64   `json:"max_waiting_at_once"`
	Submits          int64   `json:"provider_submits"`
	Polls            int64   `json:"provider_polls"`
	ProviderSeconds  float64 `json:"provider_seconds"`
	PollSeconds      float64 `json:"poll_seconds"`
	CreateSeconds    float64 `json:"create_seconds"`
	SubmitSeconds    float64 `json:"all_submitted_seconds"`
	TotalSeconds     float64 `json:"total_seconds"`
	PeakRSSMiB       float64 `json:"peak_rss_mib"`
	GetRate          float64 `json:"get_rate"`
	Gets             int     `json:"gets"`
	GetErrors        int     `json:"get_errors"`
	GetP50Ms         float64 `json:"get_p50_ms"`
	GetP99Ms         float64 `json:"get_p99_ms"`
	GetMaxMs         float64 `json:"get_max_ms"`
}

// Pass says whether the targets were met: every run completed, all waited
// at once, peak RSS under 500 MiB.
func (r *Report) Pass() bool {
	return r.Completed == r.Runs && r.MaxWaitingAtOnce == int64(r.Runs) && r.PeakRSSMiB < 500
}

const benchTechnique = `slug: bench-wait
name: Bench Wait
credits: 1
inputs:
  - {id: prompt, name: Prompt, type: text}
outputs:
  - {id: image, name: Image, type: imageUrl, from: steps.generate.image}
steps:
  - id: generate
    model: fal.queue
    inputs: {prompt: inputs.prompt}
    params: {app: fal-ai/flux/schnell}
`

const falKey = "bench-fal-key"

func (c *Config) defaults() {
	if c.Runs <= 0 {
		c.Runs = 10000
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.ProviderTime <= 0 {
		c.ProviderTime = 150 * time.Second
	}
	if c.Poll <= 0 {
		c.Poll = 30 * time.Second
	}
	if c.CreateConns <= 0 {
		c.CreateConns = 16
	}
	if c.GetConns <= 0 {
		c.GetConns = 4
	}
	if c.GetRate <= 0 {
		c.GetRate = 200
	}
	if c.Synchronous == "" {
		c.Synchronous = "FULL"
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// Run runs the benchmark once.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	rep := &Report{Runs: cfg.Runs, Concurrency: cfg.Concurrency, ProviderSeconds: cfg.ProviderTime.Seconds(),
		PollSeconds: cfg.Poll.Seconds(), GetRate: cfg.GetRate}
	dir, err := os.MkdirTemp("", "florad-providerbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")

	fal := providerfake.NewFal(falKey)
	defer fal.Close()
	fal.QueueTime, fal.RunTime = cfg.ProviderTime*3/4, cfg.ProviderTime/4

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	base := "http://" + addr
	cmd := exec.CommandContext(ctx, cfg.Bin, "serve", "--data", data, "--addr", addr,
		"--concurrency", strconv.Itoa(cfg.Concurrency), "--rate-limit", "0", "--fal-concurrency", "0",
		"--provider-poll-min", cfg.Poll.String(), "--provider-poll-max", cfg.Poll.String(),
		"--sqlite-synchronous", cfg.Synchronous, "--run-timeout", (cfg.ProviderTime*4 + 10*time.Minute).String())
	cmd.Env = append(os.Environ(), "FLORA_FAL_KEY="+falKey, "FLORA_FAL_QUEUE_URL="+fal.URL(), "FLORA_LOG_LEVEL=error")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	logFile, err := os.Create(filepath.Join(dir, "florad.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		// The server we stop may exit with any status; only its ending matters.
		var exitErr error
		select {
		case exitErr = <-exited:
		case <-time.After(90 * time.Second):
			_ = cmd.Process.Kill()
			exitErr = <-exited
		}
		_ = exitErr
	}()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.CreateConns + cfg.GetConns}, Timeout: time.Minute}
	if err := waitReady(ctx, hc, base, exited); err != nil {
		return nil, err
	}
	key := regexp.MustCompile(`sk_live_[0-9a-z]+`).FindString(stdout.String())
	wsID := regexp.MustCompile(`ws_[0-9a-z]+`).FindString(stdout.String())
	if key == "" || wsID == "" {
		return nil, fmt.Errorf("florad printed no demo key: %s", stdout.String())
	}
	yaml := filepath.Join(dir, "bench.yaml")
	if err := os.WriteFile(yaml, []byte(benchTechnique), 0o600); err != nil {
		return nil, err
	}
	for _, args := range [][]string{{"techniques", "apply", yaml, "--data", data},
		{"credits", "grant", "--workspace", wsID, "--credits", strconv.Itoa(cfg.Runs), "--data", data}} {
		if out, err := exec.CommandContext(ctx, cfg.Bin, args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("florad %s: %v: %s", args[0], err, out)
		}
	}
	api := &apiClient{hc: hc, base: base + "/api/v1/techniques/bench-wait/runs", key: key}
	if err := api.waitTechnique(ctx); err != nil {
		return nil, err
	}

	start := time.Now()
	fmt.Fprintf(cfg.Progress, "creating %d runs over %d connections\n", cfg.Runs, cfg.CreateConns)
	ids, err := api.createAll(ctx, cfg.Runs, cfg.CreateConns)
	if err != nil {
		return nil, err
	}
	rep.CreateSeconds = time.Since(start).Seconds()
	fmt.Fprintf(cfg.Progress, "created in %.1f s; polling them over %d connections until the provider is done\n",
		rep.CreateSeconds, cfg.GetConns)

	gets := startGets(ctx, api, ids, cfg)
	deadline := time.Now().Add(cfg.ProviderTime*3 + 10*time.Minute)
	err = waitProvider(ctx, cfg, fal, rep, start, deadline, exited)
	gets.stop(rep)
	if err != nil {
		return nil, err
	}
	if err := settle(ctx, api, ids, deadline, rep); err != nil {
		return nil, err
	}
	rep.TotalSeconds = time.Since(start).Seconds()
	rep.MaxWaitingAtOnce, rep.Submits, rep.Polls = fal.MaxOutstanding.Load(), fal.Submits.Load(), fal.Polls.Load()
	if rep.PeakRSSMiB, err = peakRSS(cmd.Process.Pid); err != nil {
		return nil, err
	}
	return rep, nil
}

// getLoad polls random runs at a steady rate while the benchmark waits,
// keeping each request's latency.
type getLoad struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	lat    [][]time.Duration
	errs   atomic.Int64
}

func startGets(ctx context.Context, api *apiClient, ids []string, cfg Config) *getLoad {
	getCtx, cancel := context.WithCancel(ctx)
	g := &getLoad{cancel: cancel, lat: make([][]time.Duration, cfg.GetConns)}
	// Each connection sends on its own ticker, so the rate holds whatever
	// the latency (up to a connection's share of it).
	every := time.Duration(float64(cfg.GetConns) * float64(time.Second) / cfg.GetRate)
	for i := range cfg.GetConns {
		g.wg.Go(func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for getCtx.Err() == nil {
				select {
				case <-getCtx.Done():
					return
				case <-tick.C:
				}
				id := ids[rand.IntN(len(ids))]
				t0 := time.Now()
				if _, err := api.get(getCtx, id); err != nil {
					if getCtx.Err() == nil {
						g.errs.Add(1)
					}
					continue
				}
				g.lat[i] = append(g.lat[i], time.Since(t0))
			}
		})
	}
	return g
}

// stop ends the load and reports its latencies.
func (g *getLoad) stop(rep *Report) {
	g.cancel()
	g.wg.Wait()
	var all []time.Duration
	for _, l := range g.lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	rep.Gets, rep.GetErrors = len(all), int(g.errs.Load())
	if len(all) > 0 {
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		rep.GetP50Ms, rep.GetP99Ms, rep.GetMaxMs = ms(all[len(all)/2]), ms(all[len(all)*99/100]), ms(all[len(all)-1])
	}
}

// waitProvider waits until the fake provider has handed out every result.
func waitProvider(ctx context.Context, cfg Config, fal *providerfake.Fal, rep *Report, start, deadline time.Time,
	exited <-chan error) error {
	lastLog := time.Now()
	for fal.Results.Load() < int64(cfg.Runs) {
		if rep.SubmitSeconds == 0 && fal.Submits.Load() == int64(cfg.Runs) {
			rep.SubmitSeconds = time.Since(start).Seconds()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-exited:
			return fmt.Errorf("florad exited during the benchmark: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d results read by the deadline", fal.Results.Load(), cfg.Runs)
		}
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			fmt.Fprintf(cfg.Progress, "%4.0f s: submitted %d, waiting at the provider %d (peak %d), done %d, polls %d\n",
				time.Since(start).Seconds(), fal.Submits.Load(), fal.Outstanding.Load(), fal.MaxOutstanding.Load(),
				fal.Results.Load(), fal.Polls.Load())
		}
	}
	return nil
}

// settle waits for every run to end: the last steps are florad's own
// (copying the output and ending the run).
func settle(ctx context.Context, api *apiClient, ids []string, deadline time.Time, rep *Report) error {
	for _, id := range ids {
		for {
			st, err := api.get(ctx, id)
			if err != nil {
				return err
			}
			if st == "completed" {
				rep.Completed++
				break
			}
			if st == "failed" {
				rep.Failed++
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("run %s still %s at the deadline", id, st)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

func waitReady(ctx context.Context, hc *http.Client, base string, exited <-chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("florad exited at start: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := hc.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("florad was not ready within 60 s")
}

type apiClient struct {
	hc   *http.Client
	base string
	key  string
}

func (a *apiClient) do(ctx context.Context, method, url string, body []byte) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, out, nil
}

// waitTechnique waits for the server's library to see the applied
// technique.
func (a *apiClient) waitTechnique(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		code, _, err := a.do(ctx, http.MethodGet, strings.TrimSuffix(a.base, "/runs"), nil)
		if err == nil && code == http.StatusOK {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("the bench technique never became visible")
}

func (a *apiClient) createAll(ctx context.Context, n, conns int) ([]string, error) {
	ids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				body := fmt.Appendf(nil, `{"mode":"async","inputs":[{"id":"prompt","type":"text","value":"bench image %d"}]}`, i)
				code, out, err := a.do(ctx, http.MethodPost, a.base, body)
				if err == nil && code != http.StatusOK {
					err = fmt.Errorf("create answered %d: %v", code, out)
				}
				if err != nil {
					errs <- err
					return
				}
				ids[i], _ = out["run_id"].(string)
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return ids, nil
}

func (a *apiClient) get(ctx context.Context, id string) (string, error) {
	code, out, err := a.do(ctx, http.MethodGet, a.base+"/"+id, nil)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("get answered %d: %v", code, out)
	}
	st, _ := out["status"].(string)
	return st, nil
}

// peakRSS reads a process's VmHWM, in MiB.
func peakRSS(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}
