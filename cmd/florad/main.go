// Command florad serves FLORA's public Techniques API: technique runs that
// are paid for with workspace credits, executed by durable River jobs, and
// polled over HTTP. See the README for the commands.
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
	"strings"
	"syscall"
)

const usage = `florad: a self-hostable implementation of FLORA's Techniques API

Usage:
  florad serve [flags]                               start the API and its workers
  florad serve --no-workers                          the API only
  florad worker [--concurrency N]                    workers only (with --database-url)
  florad workspace create --name NAME [--credits N]  create a workspace
  florad workspace list                              list workspaces
  florad workspace link --workspace ws_... --clerk-subject org_...
                                                     Clerk keys of that subject speak for the workspace
  florad key create --workspace ws_... [--scopes runs:read,...] [--max-credits-per-day N]
                                                     issue an API key (shown once)
  florad key update KEY_ID [--scopes ...] [--max-credits-per-day N|none]
                                                     change a key's scopes or daily cap
  florad key revoke KEY_ID                           revoke an API key at once
  florad key rotate-webhook-secret --workspace ws_... [--overlap 24h]
                                                     new webhook secret; the old one signs during the overlap
  florad credits grant --workspace ws_... --credits N
  florad credits balance --workspace ws_...
  florad techniques list [--workspace ws_...]        list the techniques (public, or a workspace's view)
  florad techniques apply FILE [--workspace ws_...]  add or update a technique (a new version)
  florad techniques validate FILE                    check a technique file without applying it

Every command takes --data DIR (env FLORA_DATA_DIR, default ./data) or
--database-url postgres://... (env FLORA_DATABASE_URL); admin
commands take --json for machine-readable output. 'florad COMMAND -h' lists a
command's flags. The benchmarks are a command of their own: florad-bench.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "florad:", err)
		}
		os.Exit(exitCode(err))
	}
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var ue *usageError
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve", "worker":
		return cmdServe(ctx, cmd, rest, stdout, stderr)
	}
	nouns := adminNouns()
	if !nouns[cmd] {
		return &usageError{fmt.Sprintf("unknown command %q; see 'florad help'", cmd)}
	}
	if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
		return &usageError{fmt.Sprintf("%s needs a subcommand; see 'florad help'", cmd)}
	}
	return cmdAdmin(ctx, cmd+" "+rest[0], rest[1:], stdout, stderr)
}

// parseInterspersed parses flags that may come before or after positional
// arguments ("key revoke KEY --json") and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			// An unknown or malformed flag is a usage error: exit code 2.
			return nil, &usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
