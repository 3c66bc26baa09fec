package loadbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/florad/florad/internal/app"
)

// grantCredits is enough that no benchmark runs out: 10^9 runs.
const grantCredits = 1_000_000_000

// Florad is the real application, wired as 'florad serve' wires it, on a
// free loopback port.
type Florad struct {
	App         *app.App
	Key         string
	WorkspaceID string
	cancel      context.CancelFunc
	done        chan error
}

// FloradOptions chooses how florad runs under load.
type FloradOptions struct {
	Synchronous string
	// Workers executes the runs POST creates, in the same process.
	Workers bool
	// AccessLog encodes the JSON access log of every request, as
	// 'florad serve' does, into io.Discard: its CPU is counted, no I/O is.
	AccessLog bool
}

// StartFlorad starts florad on a fresh data folder, with a workspace holding
// grantCredits and one API key.
func StartFlorad(ctx context.Context, dir string, o FloradOptions) (*Florad, error) {
	logger := slog.New(slog.DiscardHandler)
	if o.AccessLog {
		logger = slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	a, err := app.New(ctx, app.Config{
		Addr: "127.0.0.1:0", DataDir: dir, SQLiteSynchronous: o.Synchronous, Workers: o.Workers,
		ShutdownTimeout: 10 * time.Second, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	f := &Florad{App: a, done: make(chan error, 1)}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.cancel = cancel
	go func() { f.done <- a.Run(runCtx) }()
	if err := f.setUp(ctx); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return f, nil
}

func (f *Florad) setUp(ctx context.Context) error {
	w, err := f.App.Workspaces.Create(ctx, "bench", grantCredits)
	if err != nil {
		return err
	}
	k, err := f.App.Workspaces.CreateKey(ctx, w.ID)
	if err != nil {
		return err
	}
	f.WorkspaceID, f.Key = w.ID, k.Key
	return WaitHealthy(ctx, f.URL())
}

// URL is florad's base URL.
func (f *Florad) URL() string { return "http://" + f.App.Addr() }

// Close stops florad, draining as 'florad serve' does on SIGTERM.
func (f *Florad) Close() error {
	f.cancel()
	return <-f.done
}

// PendingJobs counts run jobs not yet finished, so that a benchmark with
// workers can wait for the backlog POST left before measuring anything else.
func (f *Florad) PendingJobs(ctx context.Context) (int, error) {
	return f.App.OpenJobs(ctx)
}

// WaitHealthy polls /healthz until it answers 200, for at most 15 s.
func WaitHealthy(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("florad did not become healthy at %s: %w", base, context.Cause(ctx))
		case <-time.After(20 * time.Millisecond):
		}
	}
}
