package imageproc

import (
	"image"
	"image/color"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCompositeOpacityMixes(t *testing.T) {
	t.Parallel()
	dst := solid(20, 20, blue)
	got := Composite(dst, solid(10, 10, red), image.Pt(5, 5), 0.5)
	require.Equal(t, image.Rect(0, 0, 20, 20), got.Bounds())
	requireNear(t, color.NRGBA{128, 0, 128, 255}, got.NRGBAAt(10, 10), 1, "half red, half blue")
	require.Equal(t, blue, got.NRGBAAt(2, 2), "outside the overlay")
	require.Equal(t, blue, got.NRGBAAt(15, 15), "just past the overlay")
	require.Equal(t, blue, dst.NRGBAAt(10, 10), "dst untouched")

	full := Composite(dst, solid(10, 10, red), image.Pt(5, 5), 1)
	require.Equal(t, red, full.NRGBAAt(10, 10))
	for _, op := range []float64{0, -1} {
		require.Equal(t, dst.Pix, Composite(dst, solid(10, 10, red), image.Pt(5, 5), op).Pix)
	}
	require.Equal(t, red, Composite(dst, solid(10, 10, red), image.Pt(5, 5), 7).NRGBAAt(10, 10), "clamped to 1")
}

func TestCompositeAlpha(t *testing.T) {
	t.Parallel()
	// Source alpha and opacity multiply: 50% alpha at 50% opacity is 25% red.
	got := Composite(solid(4, 4, white), solid(4, 4, color.NRGBA{255, 0, 0, 128}), image.Point{}, 0.5)
	requireNear(t, color.NRGBA{255, 191, 191, 255}, got.NRGBAAt(1, 1), 1, "quarter red over white")

	// Over a transparent destination the source keeps its own colour and
	// alpha instead of being darkened.
	got = Composite(solid(4, 4, color.NRGBA{}), solid(4, 4, color.NRGBA{255, 0, 0, 128}), image.Point{}, 1)
	requireNear(t, color.NRGBA{255, 0, 0, 128}, got.NRGBAAt(1, 1), 1, "over transparent")

	// Two half-transparent layers: alpha = 0.5 + 0.5·0.5.
	got = Composite(solid(4, 4, color.NRGBA{0, 0, 255, 128}), solid(4, 4, color.NRGBA{255, 0, 0, 128}), image.Point{}, 1)
	requireNear(t, color.NRGBA{170, 0, 85, 192}, got.NRGBAAt(1, 1), 1, "stacked alpha")
}

func TestCompositeClipsAndOffsets(t *testing.T) {
	t.Parallel()
	src := coords(10, 10)
	got := Composite(solid(8, 8, black), src, image.Pt(-3, 4), 1)
	// dst (0,4) shows src (3,0); dst (6,7) shows src (9,3).
	require.Equal(t, color.NRGBA{3, 0, 0, 255}, got.NRGBAAt(0, 4))
	require.Equal(t, color.NRGBA{9, 3, 0, 255}, got.NRGBAAt(6, 7))
	require.Equal(t, black, got.NRGBAAt(7, 7), "src ended at x=6")
	require.Equal(t, black, got.NRGBAAt(0, 3))

	// src with a non-zero origin: its Min lands at `at`.
	sub := src.SubImage(image.Rect(5, 5, 10, 10))
	got = Composite(solid(8, 8, black), sub, image.Pt(1, 1), 1)
	require.Equal(t, color.NRGBA{5, 5, 0, 255}, got.NRGBAAt(1, 1))

	// Entirely outside: unchanged.
	require.Equal(t, solid(8, 8, black).Pix, Composite(solid(8, 8, black), src, image.Pt(50, 50), 1).Pix)
}

func BenchmarkComposite12MP(b *testing.B) {
	dst := clone(photoLike(4000, 3000, 1))
	src := solid(4000, 3000, color.NRGBA{255, 255, 255, 100})
	defer cpuMeter(b)()
	for b.Loop() {
		compositeInto(dst, src, image.Point{}, 0.5)
	}
}
