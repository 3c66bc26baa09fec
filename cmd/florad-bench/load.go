package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/florad/florad/internal/loadbench"
)

// cmdAPI measures florad's API against bare baselines on this machine
// (internal/loadbench). It exits 1 when a target is missed.
func cmdAPI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 5*time.Second, "length of each measured window")
	warmup := fs.Duration("warmup", time.Second, "warm-up before each window")
	conns := fs.String("conns", "1,8,32", "comma-separated concurrency levels (keep-alive connections)")
	scenarios := fs.String("scenarios", "post,get", "comma-separated scenarios: post, get")
	sync := fs.String("sqlite-synchronous", "FULL", "SQLite synchronous mode for florad and the baselines: FULL or NORMAL")
	rounds := fs.Int("rounds", 1, "measure each cell this many times, alternating which server goes first; ratios are the medians of the rounds' own")
	workers := fs.Bool("workers", false, "also execute the created runs in florad meanwhile (the baselines execute nothing)")
	accessLog := fs.Bool("access-log", true, "have florad encode its JSON access log (to io.Discard), as 'serve' does")
	getRuns := fs.Int("get-runs", 1000, "runs created up front for GET to poll round-robin")
	noiseGate := fs.Float64("noise-gate", 0.1, "CPU cores other processes may use during a window before it is measured again")
	noiseRetries := fs.Int("noise-retries", 1, "how many times a noisy window is measured again")
	quietWait := fs.Duration("quiet-wait", 10*time.Second, "before each window, wait up to this long for other processes to fall under the noise gate (0: never wait)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile per window to PREFIX-SCENARIO-SERVER-cN.pprof")
	asJSON := fs.Bool("json", false, "print every figure as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	levels, err := parseInts(*conns)
	if err != nil {
		return &usageError{"conns: " + err.Error()}
	}
	for _, sc := range splitList(*scenarios) {
		if sc != loadbench.ScenarioPost && sc != loadbench.ScenarioGet {
			return &usageError{fmt.Sprintf("scenarios: %q is neither post nor get", sc)}
		}
	}
	cfg := loadbench.Config{
		Duration: *duration, Warmup: *warmup, Conns: levels, Scenarios: splitList(*scenarios),
		Synchronous: strings.ToUpper(*sync), Rounds: *rounds, Workers: *workers, AccessLog: *accessLog,
		GetRuns: *getRuns, NoiseGate: *noiseGate, NoiseRetries: *noiseRetries, QuietWait: *quietWait, CPUProfile: *cpuProfile,
		Progress: stderr,
	}
	if *duration <= 0 || *warmup < 0 {
		return &usageError{"duration must be positive and warmup not negative"}
	}
	rep, err := loadbench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if err := writeReport(stdout, rep, *asJSON); err != nil {
		return err
	}
	if !rep.Pass {
		return errors.New("api: some targets were missed")
	}
	return nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, part := range splitList(s) {
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", part)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("give at least one level")
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
