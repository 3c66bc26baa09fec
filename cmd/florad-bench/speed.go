package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/florad/florad/internal/speedbench"
)

// cmdSpeed measures what users wait for (internal/speedbench): pickup,
// runs per second beside bare River, many open streams, POST on
// PostgreSQL beside a bare handler. It exits 1 when a target is missed.
func cmdSpeed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if os.Getenv(speedbench.ChildEnv) != "" {
		return speedbench.ChildMain()
	}
	fs := flag.NewFlagSet("speed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := fs.String("database-url", os.Getenv("FLORA_TEST_DATABASE_URL"),
		"PostgreSQL admin URL; each measurement creates and drops a database of its own there (default $FLORA_TEST_DATABASE_URL; empty: SQLite only)")
	scenarios := fs.String("scenarios", "pickup,throughput,streams,post", "comma-separated: pickup, throughput, streams, post")
	duration := fs.Duration("duration", 10*time.Second, "length of each measured window")
	rate := fs.Float64("create-rate", 50, "steady creates per second while pickup is measured")
	runs := fs.Int("runs", 2000, "backlog of runs (and of River jobs) each throughput measurement executes")
	concurrency := fs.Int("concurrency", 8, "runs (River jobs) each worker process executes at once")
	streams := fs.Int("streams", 10_000, "open event streams on one process")
	streamRuns := fs.Int("stream-runs", 100, "runs the streams are spread over")
	conns := fs.String("conns", "1,8,32", "POST concurrency levels (keep-alive connections)")
	rounds := fs.Int("rounds", 1, "measure each POST cell this many times, alternating which server goes first")
	asJSON := fs.Bool("json", false, "print every figure as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole benchmark to this file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	for _, sc := range splitList(*scenarios) {
		if !slices.Contains(speedbench.Scenarios(), sc) {
			return &usageError{fmt.Sprintf("scenarios: %q is none of %v", sc, speedbench.Scenarios())}
		}
	}
	levels, err := parseInts(*conns)
	if err != nil {
		return &usageError{"conns: " + err.Error()}
	}
	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	rep, err := speedbench.Run(ctx, speedbench.Config{
		PostgresURL: *dbURL, Scenarios: splitList(*scenarios), Duration: *duration, CreateRate: *rate, Runs: *runs,
		Concurrency: *concurrency, Streams: *streams, StreamRuns: *streamRuns, Conns: levels, Rounds: *rounds,
		ChildCommand: []string{self, "speed"}, Progress: stderr,
	})
	if err != nil {
		return err
	}
	if err := writeReport(stdout, rep, *asJSON); err != nil {
		return err
	}
	if !rep.Pass {
		return errors.New("speed: some targets were missed")
	}
	return nil
}
