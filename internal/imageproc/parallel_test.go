package imageproc

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParallelRowsCoversEachRowOnce(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 2, 3, 7, 1000} {
		var mu sync.Mutex
		seen := make([]int, n)
		parallelRows(n, func(lo, hi int) {
			require.LessOrEqual(t, lo, hi)
			mu.Lock()
			defer mu.Unlock()
			for y := lo; y < hi; y++ {
				seen[y]++
			}
		})
		for y, c := range seen {
			require.Equal(t, 1, c, "n=%d row %d", n, y)
		}
	}
}
