package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/florad/florad/internal/providerbench"
)

// cmdProviders runs internal/providerbench: many runs waiting on a
// slow fake provider at once. It exits 1 when a run did not complete, the
// runs did not all wait at once, or peak RSS reached 500 MiB.
func cmdProviders(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("providers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runs := fs.Int("runs", 10000, "runs waiting on the provider at once")
	concurrency := fs.Int("concurrency", 8, "florad's worker slots")
	providerTime := fs.Duration("provider-time", 150*time.Second, "how long the fake provider takes over each request; longer than creating and submitting every run")
	poll := fs.Duration("poll", 30*time.Second, "florad's wait between two polls of a request")
	createConns := fs.Int("create-conns", 16, "connections creating runs")
	getConns := fs.Int("get-conns", 4, "connections polling runs through the API meanwhile")
	getRate := fs.Float64("get-rate", 200, "GETs a second sent meanwhile, over --get-conns")
	sync := fs.String("sqlite-synchronous", "FULL", "SQLite synchronous mode: FULL or NORMAL")
	asJSON := fs.Bool("json", false, "print every figure as JSON")
	florad := fs.String("florad", "", "the florad binary to measure (default: built from ./cmd/florad with go build)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	bin := *florad
	if bin == "" {
		dir, err := os.MkdirTemp("", "florad-bench-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		bin = filepath.Join(dir, "florad")
		fmt.Fprintln(stderr, "building florad from ./cmd/florad")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/florad")
		build.Stdout, build.Stderr = stderr, stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building florad (or pass --florad): %w", err)
		}
	}
	rep, err := providerbench.Run(ctx, providerbench.Config{Bin: bin, Runs: *runs, Concurrency: *concurrency,
		ProviderTime: *providerTime, Poll: *poll, CreateConns: *createConns, GetConns: *getConns, GetRate: *getRate,
		Synchronous: strings.ToUpper(*sync), Progress: stderr})
	if err != nil {
		return err
	}
	if *asJSON {
		if err := printJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, `runs                 %d on %d worker slots (SQLite, synchronous %s)
completed / failed   %d / %d
waiting at once      %d (peak of requests held by the provider)
provider             %d submits, %d polls; %.0f s per request, polled every %.0f s
created in           %.1f s; all submitted after %.1f s; all done after %.1f s
florad peak RSS      %.0f MiB (target < 500)
GET under load       %d requests at %.0f/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms, %d errors
`, rep.Runs, rep.Concurrency, strings.ToUpper(*sync), rep.Completed, rep.Failed, rep.MaxWaitingAtOnce, rep.Submits,
			rep.Polls, rep.ProviderSeconds, rep.PollSeconds, rep.CreateSeconds, rep.SubmitSeconds, rep.TotalSeconds,
			rep.PeakRSSMiB, rep.Gets, rep.GetRate, rep.GetP50Ms, rep.GetP99Ms, rep.GetMaxMs, rep.GetErrors)
	}
	if !rep.Pass() {
		return fmt.Errorf("providers: targets missed (completed %d of %d, %d waiting at once, peak RSS %.0f MiB)",
			rep.Completed, rep.Runs, rep.MaxWaitingAtOnce, rep.PeakRSSMiB)
	}
	return nil
}
