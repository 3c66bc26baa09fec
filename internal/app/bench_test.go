package app_test

import (
	"context"
	"testing"

	"github.com/florad/florad/internal/app"
	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/technique"
)

// The service-level costs under the HTTP API, one caller at a time, on the
// SQLite default with serve's FULL synchronous: what a single connection
// waits for per request, without the HTTP layer. `florad-bench api` measures
// the API over loopback against bare baselines.

func benchRunParams(wsID string) *run.CreateParams {
	return &run.CreateParams{WorkspaceID: wsID, Technique: "prompt-expander", Mode: "async",
		Inputs: []technique.RequestInput{{ID: "prompt", Type: "text",
			Value: "a cat on a mat, photographed in the evening light with a long lens"}}}
}

func benchBundle(b *testing.B) *testBundle {
	b.Helper()
	return setupWith(b, setupOpts{credits: 1 << 40, configure: func(c *app.Config) {
		c.Workers = false
		c.SQLiteSynchronous = "FULL"
	}})
}

// BenchmarkRunCreate is one run creation: the run, its event, the credit
// reservation and the River job, committed durably.
func BenchmarkRunCreate(b *testing.B) {
	tb := benchBundle(b)
	ctx := context.Background()
	p := benchRunParams(tb.wsID)
	for b.Loop() {
		if _, _, err := tb.app.Runs.Create(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRunGet reads runs by id, spread over 5,000 of them.
func BenchmarkRunGet(b *testing.B) {
	tb := benchBundle(b)
	ctx := context.Background()
	p := benchRunParams(tb.wsID)
	ids := make([]string, 5000)
	for i := range ids {
		r, _, err := tb.app.Runs.Create(ctx, p)
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = r.ID
	}
	i := 0
	for b.Loop() {
		if _, err := tb.app.Store.RunGet(ctx, tb.wsID, ids[(i*7919)%len(ids)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
