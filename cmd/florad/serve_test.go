package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseBytes(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"0": 0, "1024": 1024, "50MiB": 50 << 20, "1GiB": 1 << 30, "1 GB": 1 << 30,
		"4KiB": 4 << 10, "2T": 2 << 40, "7B": 7} {
		got, err := parseBytes(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "-1", "1.5GiB", "lots", "GiB", "99999999999TiB"} {
		_, err := parseBytes(in)
		require.Error(t, err, in)
	}
}

func TestParseDays(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"0": 0, "30d": 30 * 24 * time.Hour, "720h": 720 * time.Hour, "90m": 90 * time.Minute} {
		got, err := parseDays(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "-1h", "xd", "1w"} {
		_, err := parseDays(in)
		require.Error(t, err, in)
	}
}
