package app_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/app"
)

// TestRateLimit drives the per-workspace limit over HTTP: the burst passes,
// the next request gets 429 rate_limited with retry-after and creates
// nothing, and other workspaces are not held back. (Tokens coming back with
// time are TestRateLimiter's, on explicit times: here a slow machine would
// refill the bucket between requests.)
func TestRateLimit(t *testing.T) {
	t.Parallel()
	// One token every 100 s, 3 at once: nothing refills during the test.
	b := setupWith(t, setupOpts{configure: func(c *app.Config) { c.RateLimit = 0.01; c.RateBurst = 3 }})
	ctx := context.Background()
	otherWS, _, otherKey := b.newWorkspace(t, 100)

	w, err := b.client.Workspace(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 0.01, w.Limits["requests_per_second"])
	require.EqualValues(t, 3, w.Limits["request_burst"])

	for range 2 {
		_, err := b.client.Runs.Create(ctx, "prompt-expander", promptRun("within the burst"))
		require.NoError(t, err)
	}
	_, err = b.client.Runs.Create(ctx, "prompt-expander", promptRun("over the limit"))
	e := apiError(t, err, http.StatusTooManyRequests, "rate_limited")
	retry, err := strconv.Atoi(e.Header.Get("retry-after"))
	require.NoError(t, err, "retry-after is whole seconds")
	require.InDelta(t, 95, retry, 5, "the next token is about 100 s away")
	require.Empty(t, e.Header.Get("retry-after-ms"), "whole seconds only: see errRateLimited")
	require.Contains(t, e.Message, "limit is 0.01 requests per second, 3 at once")
	require.Equal(t, 2, b.countRuns(t, b.wsID), "the refused create made nothing")

	_, err = b.newClient(otherKey).Techniques.List(ctx, nil)
	require.NoError(t, err, "workspace %s has its own bucket", otherWS)
	_, err = b.client.Techniques.List(ctx, nil)
	apiError(t, err, http.StatusTooManyRequests, "rate_limited")
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
