package api

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRateLimiter(t *testing.T) {
	t.Parallel()
	l := newRateLimiter(2, 3)
	t0 := time.Unix(1_800_000_000, 0)

	for i := range 3 {
		ok, _ := l.allow("ws_a", t0)
		require.True(t, ok, "request %d of the burst", i+1)
	}
	ok, wait := l.allow("ws_a", t0)
	require.False(t, ok, "the burst is spent")
	require.Equal(t, 500*time.Millisecond, wait, "one token every half second at 2/s")
	ok, _ = l.allow("ws_a", t0)
	require.False(t, ok, "a refused request spends nothing, and gets nothing either")

	ok, _ = l.allow("ws_b", t0)
	require.True(t, ok, "each workspace has its own bucket")

	ok, _ = l.allow("ws_a", t0.Add(500*time.Millisecond))
	require.True(t, ok, "a token came back")
	ok, wait = l.allow("ws_a", t0.Add(600*time.Millisecond))
	require.False(t, ok)
	require.Equal(t, 400*time.Millisecond, wait)
}

func TestRateLimiterForgetsRefilledBuckets(t *testing.T) {
	t.Parallel()
	l := newRateLimiter(10, 0)
	require.Equal(t, 20, l.burst, "the default burst is two seconds' worth")
	t0 := time.Unix(1_800_000_000, 0)
	ok, _ := l.allow("ws_idle", t0)
	require.True(t, ok)
	for range 20 {
		l.allow("ws_busy", t0.Add(rateSweepEvery-time.Second))
	}
	ok, _ = l.allow("ws_busy", t0.Add(rateSweepEvery))
	require.True(t, ok, "a second at 10/s refilled ten tokens")
	// The sweep ran on that call: the idle bucket was full and is gone,
	// the busy one is not full yet and stays.
	require.NotContains(t, l.buckets, "ws_idle")
	require.Contains(t, l.buckets, "ws_busy")
}

func TestRateLimiterOff(t *testing.T) {
	t.Parallel()
	require.Nil(t, newRateLimiter(0, 40))
	require.Nil(t, newRateLimiter(-1, 40))
}
