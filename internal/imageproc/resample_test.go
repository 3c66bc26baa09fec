package imageproc

import (
	"image"
	"image/color"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAxisWeightsAreNormalisedAndInRange(t *testing.T) {
	t.Parallel()
	for _, sz := range [][2]int{{8, 4}, {16, 4}, {4, 16}, {7, 3}, {3, 7}, {1, 5}, {5, 1}, {100, 100}} {
		a := newAxisWeights(sz[0], sz[1])
		for i := range sz[0] {
			require.GreaterOrEqual(t, a.start[i], 0)
			require.LessOrEqual(t, a.end(i), sz[1])
			require.Greater(t, a.end(i), a.start[i])
			var sum float32
			for _, k := range a.taps(i) {
				sum += k
			}
			require.InDelta(t, 1, sum, 1e-5, "%v output %d", sz, i)
		}
	}
	// Same size is the identity after zero taps are trimmed.
	a := newAxisWeights(10, 10)
	for i := range 10 {
		require.Equal(t, i, a.start[i])
		require.Len(t, a.taps(i), 1)
	}
}

func TestResamplePreservesFlatColourAndAlpha(t *testing.T) {
	t.Parallel()
	c := color.NRGBA{200, 100, 50, 255}
	for _, sz := range [][2]int{{64, 48}, {7, 5}, {1, 1}, {200, 3}} {
		got := resample(imageRows(solid(20, 15, c), image.Rect(0, 0, 20, 15)), sz[0], sz[1])
		for y := range sz[1] {
			for x := range sz[0] {
				require.Equal(t, c, got.NRGBAAt(x, y))
			}
		}
	}
	// A transparent pixel's colour must not bleed into its neighbours.
	m := solid(8, 8, color.NRGBA{0, 0, 255, 255})
	for y := range 8 {
		m.SetNRGBA(0, y, color.NRGBA{255, 0, 0, 0})
	}
	got := resample(imageRows(m, m.Bounds()), 16, 16)
	for y := range 16 {
		require.Equal(t, uint8(0), got.NRGBAAt(4, y).R)
	}
}

func TestResampleReadsOnlyTheRegion(t *testing.T) {
	t.Parallel()
	m := halves(40, 20, red, blue)
	got := resample(imageRows(m, image.Rect(20, 0, 40, 20)), 10, 10)
	lo, hi := channelRange(got, 0)
	require.Equal(t, [2]uint8{0, 0}, [2]uint8{lo, hi}, "red from outside the region leaked in")
}

func TestResampleSmoothDownscaleOfCheckerboard(t *testing.T) {
	t.Parallel()
	// A 1-pixel checkerboard shrunk 4× must average to mid grey, not alias
	// into black or white blotches.
	src := checkerboard(256, 256, 1, black, white)
	got := resample(imageRows(src, src.Bounds()), 64, 64)
	for y := 4; y < 60; y++ {
		for x := 4; x < 60; x++ {
			requireNear(t, color.NRGBA{128, 128, 128, 255}, got.NRGBAAt(x, y), 3, "grey")
		}
	}
}
