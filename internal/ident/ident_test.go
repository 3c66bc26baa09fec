package ident

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNewSortsByTimeAndIsUnique(t *testing.T) {
	t.Parallel()
	t0 := time.UnixMilli(1_700_000_000_000)
	seen := map[string]bool{}
	prev := ""
	for i := range 1000 {
		id := New("run_", t0.Add(time.Duration(i)*time.Millisecond))
		require.True(t, strings.HasPrefix(id, "run_"))
		require.Len(t, id, 4+26)
		require.Greater(t, id, prev)
		require.False(t, seen[id])
		seen[id] = true
		prev = id
	}
}

func TestRandomLength(t *testing.T) {
	t.Parallel()
	a, b := Random("sk_live_", 24), Random("sk_live_", 24)
	require.NotEqual(t, a, b)
	require.Len(t, a, len("sk_live_")+39)
}
