// Command florad-bench measures florad on this machine: the API's
// throughput and latency against bare baselines (internal/loadbench),
// portrait-enhancer's time and memory on a 12-megapixel JPEG next to vips
// (internal/imagebench), what users wait for: pickup, runs per second,
// open streams, POST on PostgreSQL (internal/speedbench), and thousands of
// runs waiting on a slow fake provider (internal/providerbench). It is its own binary so that the product binary,
// cmd/florad, does not link the benchmark harnesses.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `florad-bench: measure florad on this machine

Usage:
  florad-bench api [flags]     the API's throughput and latency against bare baselines
  florad-bench image [flags]   portrait-enhancer on a 12 MP JPEG next to vips
  florad-bench speed [flags]   what users wait for: pickup, runs/s beside bare River, 10,000 streams,
                               POST on PostgreSQL beside a bare handler
  florad-bench providers [flags]  10,000 runs waiting on a slow fake provider at once

Each exits 1 when a target is missed. 'florad-bench COMMAND -h' lists a
command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "florad-bench:", err)
		}
		var ue *usageError
		if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	switch args[0] {
	case "api":
		return cmdAPI(ctx, args[1:], stdout, stderr)
	case "image":
		return cmdImage(ctx, args[1:], stdout, stderr)
	case "speed":
		return cmdSpeed(ctx, args[1:], stdout, stderr)
	case "providers":
		return cmdProviders(ctx, args[1:], stdout, stderr)
	}
	return &usageError{fmt.Sprintf("unknown command %q; see 'florad-bench help'", args[0])}
}

// parseFlags parses fs and refuses positional arguments: neither command
// takes any.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}

// writeReport prints a benchmark's report as indented JSON or as its text.
func writeReport(w io.Writer, rep interface{ WriteText(io.Writer) error }, asJSON bool) error {
	if asJSON {
		return printJSON(w, rep)
	}
	return rep.WriteText(w)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
