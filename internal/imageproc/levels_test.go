package imageproc

import (
	"image"
	"image/color"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAutoLevelsStretchesLowContrast(t *testing.T) {
	t.Parallel()
	src := hGradient(256, 64, 100, 150)
	got := AutoLevels(src)
	for c := range 3 {
		lo, hi := channelRange(got, c)
		require.LessOrEqual(t, lo, uint8(3), "channel %d", c)
		require.GreaterOrEqual(t, hi, uint8(252), "channel %d", c)
	}
	// Monotonic: a stretch must never reorder tones.
	for x := 1; x < 256; x++ {
		require.GreaterOrEqual(t, got.NRGBAAt(x, 0).R, got.NRGBAAt(x-1, 0).R)
	}
	// The input is untouched.
	require.Equal(t, uint8(100), src.NRGBAAt(0, 0).R)
}

func TestAutoLevelsClipsTailsOfFullRangeImage(t *testing.T) {
	t.Parallel()
	// Mostly mid-tones with 0.2% pure black and white specks: the range
	// already spans 0..255, yet the specks must not stop the stretch.
	src := hGradient(1000, 100, 60, 190)
	for i := range 200 {
		src.SetNRGBA(i*5%1000, i/10, black)
		src.SetNRGBA(i*5%1000, 50+i/10, white)
	}
	got := AutoLevels(src)
	mid := got.NRGBAAt(250, 30).R
	require.Less(t, mid, src.NRGBAAt(250, 30).R, "quarter tone must darken")
	lo, hi := channelRange(got, 0)
	require.Equal(t, uint8(0), lo)
	require.Equal(t, uint8(255), hi)
}

func TestAutoLevelsPerChannelRemovesCast(t *testing.T) {
	t.Parallel()
	// A yellow cast: blue compressed into 40..90 while red/green span wide.
	src := image.NewNRGBA(image.Rect(0, 0, 200, 10))
	for y := range 10 {
		for x := range 200 {
			v := uint8(20 + x)
			src.SetNRGBA(x, y, color.NRGBA{v, v, uint8(40 + x/4), 255})
		}
	}
	got := AutoLevels(src)
	lo, hi := channelRange(got, 2)
	require.LessOrEqual(t, lo, uint8(3))
	require.GreaterOrEqual(t, hi, uint8(252))
}

func TestAutoLevelsLeavesFlatAndTransparentAlone(t *testing.T) {
	t.Parallel()
	flat := solid(50, 50, color.NRGBA{120, 130, 140, 255})
	require.Equal(t, flat.Pix, AutoLevels(flat).Pix)

	// Transparent pixels must not widen the histogram.
	m := hGradient(100, 10, 100, 150)
	for y := range 10 {
		m.SetNRGBA(0, y, color.NRGBA{0, 0, 0, 0})
		m.SetNRGBA(99, y, color.NRGBA{255, 255, 255, 0})
	}
	got := AutoLevels(m)
	lo, hi := channelRange(got.SubImage(image.Rect(1, 0, 99, 10)).(*image.NRGBA), 0)
	require.LessOrEqual(t, lo, uint8(3))
	require.GreaterOrEqual(t, hi, uint8(252))
	require.Equal(t, uint8(0), got.NRGBAAt(0, 0).A)

	require.Equal(t, image.Rectangle{}, AutoLevels(image.NewNRGBA(image.Rectangle{})).Bounds())
}

func BenchmarkAutoLevels12MP(b *testing.B) {
	src := clone(photoLike(4000, 3000, 3))
	b.SetBytes(int64(len(src.Pix)))
	defer cpuMeter(b)()
	for b.Loop() {
		_ = AutoLevels(src)
	}
}
