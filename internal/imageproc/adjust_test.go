package imageproc

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBrightness(t *testing.T) {
	t.Parallel()
	src := solid(4, 4, color.NRGBA{100, 150, 200, 77})
	requireNear(t, color.NRGBA{151, 201, 251, 77}, Brightness(src, 20).NRGBAAt(1, 1), 1, "+20%")
	requireNear(t, color.NRGBA{49, 99, 149, 77}, Brightness(src, -20).NRGBAAt(1, 1), 1, "-20%")
	require.Equal(t, color.NRGBA{255, 255, 255, 77}, Brightness(src, 1000).NRGBAAt(1, 1), "clamped to +100")
	require.Equal(t, src.Pix, Brightness(src, 0).Pix)
	require.Equal(t, src.Pix, Brightness(src, math.NaN()).Pix)
}

func TestContrast(t *testing.T) {
	t.Parallel()
	src := hGradient(256, 2, 0, 255)
	more, less := Contrast(src, 50), Contrast(src, -50)
	dark, light := src.NRGBAAt(64, 0).R, src.NRGBAAt(192, 0).R
	require.Less(t, more.NRGBAAt(64, 0).R, dark)
	require.Greater(t, more.NRGBAAt(192, 0).R, light)
	require.Greater(t, less.NRGBAAt(64, 0).R, dark)
	require.Less(t, less.NRGBAAt(192, 0).R, light)
	lo, hi := channelRange(Contrast(src, -100), 0)
	require.InDelta(t, 128, int(lo), 1)
	require.InDelta(t, 128, int(hi), 1)
}

func TestSaturationAndGrayscale(t *testing.T) {
	t.Parallel()
	src := solid(4, 4, color.NRGBA{200, 100, 100, 255})
	spread := func(m *image.NRGBA) int {
		c := m.NRGBAAt(0, 0)
		return int(max(c.R, c.G, c.B)) - int(min(c.R, c.G, c.B))
	}
	require.Greater(t, spread(Saturation(src, 50)), spread(src))
	require.Less(t, spread(Saturation(src, -50)), spread(src))
	require.Equal(t, 0, spread(Saturation(src, -100)))

	g := Grayscale(src).NRGBAAt(0, 0)
	require.Equal(t, g.R, g.G)
	require.Equal(t, g.G, g.B)
	require.InDelta(t, 0.299*200+0.587*100+0.114*100, float64(g.R), 1)
}

func BenchmarkBrightness12MP(b *testing.B) {
	src := photoLike(4000, 3000, 4)
	defer cpuMeter(b)()
	for b.Loop() {
		_ = Brightness(src, 10)
	}
}
