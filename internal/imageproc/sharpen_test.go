package imageproc

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// softEdge is a vertical edge from 80 to 170 with a short ramp, like a
// slightly out-of-focus photo.
func softEdge(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			t := min(max(float64(x-w/2+2)/4, 0), 1)
			v := uint8(80 + 90*t)
			m.SetNRGBA(x, y, color.NRGBA{v, v, v, 255})
		}
	}
	return m
}

func TestSharpenIncreasesEdgeContrast(t *testing.T) {
	t.Parallel()
	src := softEdge(64, 16)
	got := Sharpen(src, 1.5, 1)
	edgeContrast := func(m *image.NRGBA) int {
		// Steepest step across the edge.
		best := 0
		for x := 1; x < 64; x++ {
			best = max(best, int(m.NRGBAAt(x, 8).R)-int(m.NRGBAAt(x-1, 8).R))
		}
		return best
	}
	require.Greater(t, edgeContrast(got), edgeContrast(src)+5)
	// Unsharp masking overshoots on both sides of the edge...
	lo, hi := channelRange(got, 0)
	require.Less(t, lo, uint8(80))
	require.Greater(t, hi, uint8(170))
	// ...but leaves flat regions alone.
	require.Equal(t, src.NRGBAAt(2, 8), got.NRGBAAt(2, 8))
	require.Equal(t, src.NRGBAAt(61, 8), got.NRGBAAt(61, 8))
	require.Equal(t, uint8(255), got.NRGBAAt(32, 8).A)
}

func TestSharpenAmountScalesEffect(t *testing.T) {
	t.Parallel()
	src := softEdge(64, 16)
	overshoot := func(amount float64) int {
		lo, _ := channelRange(Sharpen(src, 1.5, amount), 0)
		return 80 - int(lo)
	}
	require.Less(t, overshoot(0.3), overshoot(1))
	require.Less(t, overshoot(1), overshoot(2))
}

func TestSharpenNoOpArguments(t *testing.T) {
	t.Parallel()
	src := softEdge(32, 8)
	for _, args := range [][2]float64{{0, 1}, {1, 0}, {-1, 1}, {1, -2}, {math.NaN(), 1}} {
		require.Equal(t, src.Pix, Sharpen(src, args[0], args[1]).Pix, "%v", args)
	}
	// Huge sigma is clamped, not a multi-gigabyte kernel.
	require.Len(t, gaussianKernel(maxSharpenSigma), 2*150+1)
	require.NotPanics(t, func() { Sharpen(src, 1e12, 1e12) })
	// Images narrower than the kernel exercise the clamped edge path.
	got := Sharpen(checkerboard(3, 2, 1, black, white), 2, 1)
	require.Equal(t, image.Rect(0, 0, 3, 2), got.Bounds())
}

func TestGaussianKernelIsNormalisedAndSymmetric(t *testing.T) {
	t.Parallel()
	k := gaussianKernel(1.3)
	var sum float32
	for i, v := range k {
		sum += v
		require.InDelta(t, v, k[len(k)-1-i], 1e-7)
	}
	require.InDelta(t, 1, sum, 1e-5)
}

func BenchmarkSharpen12MP(b *testing.B) {
	src := clone(photoLike(4000, 3000, 5))
	b.SetBytes(int64(len(src.Pix)))
	defer cpuMeter(b)()
	for b.Loop() {
		_ = Sharpen(src, portraitSharpenSigma, portraitSharpenAmount)
	}
}

func TestSharpenMatchesReferenceAndIgnoresChunking(t *testing.T) {
	t.Parallel()
	src := clone(photoLike(90, 150, 8)) // taller than one 64-row chunk
	const sigma, amount = 1.4, 0.8
	got := Sharpen(src, sigma, amount)

	// Straightforward float64 reference: separable Gaussian with repeated
	// edges, then the unsharp formula.
	w, h := 90, 150
	k := gaussianKernel(sigma)
	r := len(k) / 2
	at := func(x, y, c int) float64 {
		x, y = min(max(x, 0), w-1), min(max(y, 0), h-1)
		return float64(src.Pix[src.PixOffset(x, y)+c])
	}
	hblur := make([]float64, w*h*3)
	for y := range h {
		for x := range w {
			for c := range 3 {
				var s float64
				for i, kv := range k {
					s += float64(kv) * at(x+i-r, y, c)
				}
				hblur[(y*w+x)*3+c] = s
			}
		}
	}
	for y := range h {
		for x := range w {
			for c := range 3 {
				var s float64
				for i, kv := range k {
					yy := min(max(y+i-r, 0), h-1)
					s += float64(kv) * hblur[(yy*w+x)*3+c]
				}
				v := at(x, y, c)
				want := clampByte(v + amount*(v-s))
				require.InDelta(t, want, got.Pix[got.PixOffset(x, y)+c], 1, "pixel %d,%d channel %d", x, y, c)
			}
		}
	}

	// One reader call for all rows gives the very same bytes as the
	// chunked materialisation.
	whole := image.NewNRGBA(src.Rect)
	enhanceRows(src, nil, sigma, amount).newReader()(0, h, func(y int, row []uint8) {
		copy(whole.Pix[y*whole.Stride:], row)
	})
	require.Equal(t, whole.Pix, got.Pix)
}
