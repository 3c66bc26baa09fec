package app_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/app"
)

// TestRateLimit drives the per-workspace limit over HTTP: the burst passes,
// the next request gets 429 rate_limited with retry-after and creates
// nothing, other workspaces are not held back, and a token comes back with
// time.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	// 1 a second, 3 at once: the four requests below must come within a
	// second, which leaves a slow machine room.
	b := setupWith(t, setupOpts{configure: func(c *app.Config) { c.RateLimit = 1; c.RateBurst = 3 }})
	ctx := context.Background()
	otherWS, _, otherKey := b.newWorkspace(t, 100)

	w, err := b.client.Workspace(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, w.Limits["requests_per_second"])
	require.EqualValues(t, 3, w.Limits["request_burst"])

	for range 2 {
		_, err := b.client.Runs.Create(ctx, "prompt-expander", promptRun("within the burst"))
		require.NoError(t, err)
	}
	_, err = b.client.Runs.Create(ctx, "prompt-expander", promptRun("over the limit"))
	e := apiError(t, err, http.StatusTooManyRequests, "rate_limited")
	retry, err := strconv.Atoi(e.Header.Get("retry-after"))
	require.NoError(t, err, "retry-after is whole seconds")
	require.Equal(t, 1, retry, "under a second rounds up to one")
	require.Empty(t, e.Header.Get("retry-after-ms"), "whole seconds only: see errRateLimited")
	require.Contains(t, e.Message, "limit is 1 requests per second, 3 at once")
	require.Equal(t, 2, b.countRuns(t, b.wsID), "the refused create made nothing")

	_, err = b.newClient(otherKey).Techniques.List(ctx, nil)
	require.NoError(t, err, "workspace %s has its own bucket", otherWS)

	time.Sleep(time.Duration(retry) * time.Second)
	_, err = b.client.Runs.Create(ctx, "prompt-expander", promptRun("after waiting"))
	require.NoError(t, err, "a token came back")
}

// TestRateLimitOffByDefault: an app.Config without a limit sets none (the
// CLI's default is the contract's 20 a second).
func TestRateLimitOffByDefault(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	w, err := b.client.Workspace(ctx)
	require.NoError(t, err)
	require.NotContains(t, w.Limits, "requests_per_second")
	for range 60 {
		_, err := b.client.Techniques.List(ctx, nil)
		require.NoError(t, err)
	}
}
