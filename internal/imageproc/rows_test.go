package imageproc

import (
	"image"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMaterializeImageRowsIsACopy(t *testing.T) {
	t.Parallel()
	src := coords(130, 150)
	r := image.Rect(7, 9, 107, 149)
	got := materialize(imageRows(src, r))
	require.Equal(t, image.Rect(0, 0, 100, 140), got.Bounds())
	for y := range 140 {
		for x := range 100 {
			require.Equal(t, src.NRGBAAt(x+7, y+9), got.NRGBAAt(x, y))
		}
	}
	require.True(t, imageRows(src, r).opaque)
}

func TestForEachChunkCoversEachRowOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range [][2]int{{0, 4}, {1, 4}, {7, 3}, {64, 64}, {1000, 64}, {5, 0}} {
		var mu sync.Mutex
		seen := make([]int, tc[0])
		forEachChunk(tc[0], tc[1], func(next func() (int, int, bool)) {
			for lo, hi, ok := next(); ok; lo, hi, ok = next() {
				require.Less(t, lo, hi)
				mu.Lock()
				for y := lo; y < hi; y++ {
					seen[y]++
				}
				mu.Unlock()
			}
		})
		for y, c := range seen {
			require.Equal(t, 1, c, "%v row %d", tc, y)
		}
	}
}
