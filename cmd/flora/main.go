// Command flora is the user's command line for a Techniques API (florad's,
// or FLORA's own): list techniques, run one with local files as inputs,
// follow its progress, download its outputs, read the run history, the
// workspace and its webhook deliveries. It is built on the repository's
// client package, reads the key from FLORA_API_KEY and the server from
// FLORA_BASE_URL as FLORA's SDKs do, and ends with an exit code scripts can
// rely on (see exitUsage and the README).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/florad/florad/client"
)

const usage = `flora: run FLORA techniques from the command line

Usage:
  flora techniques                                   list the techniques you can run
  flora run SLUG --input ID=VALUE|@FILE ... [--wait] [--download DIR]
                                                     start a run; @FILE uploads a local file as an asset
  flora runs list [--status S] [--technique SLUG] [--limit N]
  flora runs get SLUG RUN_ID                         one run, with its outputs
  flora runs cancel SLUG RUN_ID                      cancel a pending or running run (refunded)
  flora workspace                                    the workspace, its credit balance and limits
  flora deliveries [--run RUN_ID] [--state S]        webhook deliveries and their attempts

Environment: FLORA_API_KEY (required), FLORA_BASE_URL (default
http://127.0.0.1:8080/api/v1; with or without /api/v1). Every command takes
--json (machine-readable output on stdout; errors stay text on stderr).

Exit codes: 0 ok, 1 the run failed, 2 usage, 3 authentication or permission,
4 not found or invalid input, 5 server or network error, 6 insufficient
credits, 130 interrupted.
`

// Exit codes, the contract scripts rely on.
const (
	exitOK          = 0
	exitRunFailed   = 1
	exitUsage       = 2
	exitAuth        = 3
	exitInput       = 4
	exitServer      = 5
	exitCredits     = 6
	exitInterrupted = 130
)

// BaseURLDefault is where florad listens by default.
const BaseURLDefault = "http://127.0.0.1:8080/api/v1"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is the process environment, a parameter so tests can set it.
type env func(string) string

// cli is one invocation's settings and output streams.
type cli struct {
	c *client.Client
	// connect makes c from the key and base URL, after flags are parsed.
	connect func() error
	stdout  io.Writer
	stderr  io.Writer
	json    bool
}

func run(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	err := dispatch(ctx, args, getenv, stdout, stderr)
	code := exitCode(ctx, err)
	if err != nil && !errors.Is(err, flag.ErrHelp) && !errors.Is(err, errRunFailed) {
		fmt.Fprintln(stderr, "flora:", message(ctx, err))
	}
	return code
}

func dispatch(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	cmd, rest := args[0], args[1:]
	if cmd == "runs" {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return usageErrorf("runs needs a subcommand: list, get or cancel")
		}
		cmd, rest = "runs "+rest[0], rest[1:]
	}
	var h func(ctx context.Context, x *cli, fs *flag.FlagSet, args []string) error
	switch cmd {
	case "techniques":
		h = cmdTechniques
	case "run":
		h = cmdRun
	case "runs list":
		h = cmdRunsList
	case "runs get":
		h = cmdRunsGet
	case "runs cancel":
		h = cmdRunsCancel
	case "workspace":
		h = cmdWorkspace
	case "deliveries":
		h = cmdDeliveries
	default:
		return usageErrorf("unknown command %q; see 'flora help'", cmd)
	}
	fs := flag.NewFlagSet("flora "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	x := &cli{stdout: stdout, stderr: stderr}
	fs.BoolVar(&x.json, "json", false, "machine-readable JSON on stdout")
	baseURL := fs.String("base-url", getenv("FLORA_BASE_URL"), "API base URL (env FLORA_BASE_URL, default "+BaseURLDefault+")")
	// The handler adds its flags, parses, and only then connects, so that
	// -h and usage errors need no key.
	x.connect = func() error {
		key := getenv("FLORA_API_KEY")
		if key == "" {
			return &authError{"FLORA_API_KEY is not set; export the workspace's API key (sk_live_...)"}
		}
		x.c = client.New(apiRoot(*baseURL), key, &http.Client{})
		return nil
	}
	return h(ctx, x, fs, rest)
}

// apiRoot turns FLORA_BASE_URL (FLORA's SDKs include /api/v1 in it) into
// the client's base, the server's root.
func apiRoot(base string) string {
	if base == "" {
		base = BaseURLDefault
	}
	base = strings.TrimRight(base, "/")
	return strings.TrimSuffix(base, "/api/v1")
}

// parse parses flags that may come before or after positional arguments
// and returns the positionals, checking their number.
func parse(fs *flag.FlagSet, args []string, minPos, maxPos int, what string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageErrorf("%s", err.Error())
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) < minPos || len(pos) > maxPos {
		return nil, usageErrorf("usage: %s %s", fs.Name(), what)
	}
	return pos, nil
}

// Errors with their own exit codes.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

type authError struct{ msg string }

func (e *authError) Error() string { return e.msg }

// inputError is bad input found before any request (a missing file).
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

// errRunFailed ends a command whose run ended failed; the run was printed.
var errRunFailed = errors.New("run failed")

// exitCode maps how a command ended to the documented codes.
func exitCode(ctx context.Context, err error) int {
	var (
		ue *usageError
		ae *authError
		ie *inputError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp), errors.As(err, &ue):
		return exitUsage
	case ctx.Err() != nil:
		return exitInterrupted
	case errors.Is(err, errRunFailed):
		return exitRunFailed
	case errors.As(err, &ae):
		return exitAuth
	case errors.As(err, &ie):
		return exitInput
	}
	if e := client.AsAPIError(err); e != nil {
		switch {
		case e.Status == http.StatusUnauthorized, e.Status == http.StatusForbidden:
			return exitAuth
		case e.Status == http.StatusPaymentRequired:
			return exitCredits
		case e.Status >= 500, e.Status == http.StatusTooManyRequests:
			return exitServer
		case e.Status >= 400:
			return exitInput
		}
	}
	return exitServer
}

// message is what stderr says about err.
func message(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return "interrupted"
	}
	e := client.AsAPIError(err)
	if e == nil {
		return err.Error()
	}
	msg := e.Message
	if e.Code != "" {
		msg = e.Code + ": " + msg
	}
	for _, f := range e.Fields {
		if !strings.Contains(msg, f.Message) {
			msg += "\n  " + f.Field + ": " + f.Message
		}
	}
	if e.Required != nil && e.Available != nil {
		msg += fmt.Sprintf(" (required %d, available %d)", *e.Required, *e.Available)
	}
	return msg
}

// printJSONOr prints v as JSON with --json, else calls human.
func (x *cli) printJSONOr(v any, human func()) error {
	if x.json {
		return printJSON(x.stdout, v)
	}
	human()
	return nil
}

// formatTime renders unix milliseconds for people.
func formatTime(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05Z")
}
