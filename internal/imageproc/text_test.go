package imageproc

import (
	"image"
	"image/color"
	"testing"

	"github.com/stretchr/testify/require"
)

// changedBox returns the bounding box of pixels that differ between a and b.
func changedBox(a, b *image.NRGBA) image.Rectangle {
	var r image.Rectangle
	for y := range a.Rect.Dy() {
		for x := range a.Rect.Dx() {
			if a.NRGBAAt(x, y) != b.NRGBAAt(x, y) {
				r = r.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return r
}

func TestDrawTextChangesPixelsInExpectedBox(t *testing.T) {
	t.Parallel()
	src := solid(400, 200, white)
	at := image.Pt(30, 40)
	got := DrawText(src, "Hello, florad", at, 32, black)

	size := MeasureText("Hello, florad", 32)
	require.Greater(t, size.X, 100)
	require.InDelta(t, 37, size.Y, 6, "line height of a 32 px font")
	box := image.Rectangle{Min: at, Max: at.Add(size)}

	changed := changedBox(src, got)
	require.False(t, changed.Empty(), "text drew nothing")
	require.True(t, changed.In(box.Inset(-2)), "changed %v outside expected %v", changed, box)
	// The ink covers most of the measured width, and goes properly dark.
	require.Greater(t, changed.Dx(), size.X*8/10)
	var darkest uint8 = 255
	for y := changed.Min.Y; y < changed.Max.Y; y++ {
		for x := changed.Min.X; x < changed.Max.X; x++ {
			darkest = min(darkest, got.NRGBAAt(x, y).R)
		}
	}
	require.Less(t, darkest, uint8(40))
	require.Equal(t, white, src.NRGBAAt(at.X+5, at.Y+20), "input untouched")
}

func TestDrawTextUTF8AndLines(t *testing.T) {
	t.Parallel()
	src := solid(300, 200, black)
	text := "Grüße, Ωμέγα\nпривет ✓\t€"
	got := DrawText(src, text, image.Pt(10, 10), 24, color.NRGBA{255, 255, 0, 255})
	size := MeasureText(text, 24)
	one := MeasureText("Grüße, Ωμέγα", 24)
	require.Equal(t, 2*one.Y, size.Y, "two lines")

	changed := changedBox(src, got)
	require.True(t, changed.In(image.Rectangle{Min: image.Pt(10, 10), Max: image.Pt(10, 10).Add(size)}.Inset(-2)))
	require.Greater(t, changed.Max.Y, 10+one.Y, "second line drawn below the first")

	// Invalid UTF-8 must not panic and still renders something.
	bad := DrawText(src, "ok\xff\xfe", image.Pt(10, 10), 24, white)
	require.False(t, changedBox(src, bad).Empty())
}

func TestDrawTextNoOps(t *testing.T) {
	t.Parallel()
	src := solid(50, 50, white)
	for _, size := range []float64{0, -3} {
		require.Equal(t, src.Pix, DrawText(src, "x", image.Pt(1, 1), size, black).Pix)
	}
	require.Equal(t, src.Pix, DrawText(src, "", image.Pt(1, 1), 20, black).Pix)
	require.Equal(t, image.Point{}, MeasureText("", 20))
	// Off-image and huge text are clipped, not fatal.
	require.Equal(t, src.Pix, DrawText(src, "far away", image.Pt(500, 500), 20, black).Pix)
	require.NotPanics(t, func() { DrawText(src, "W", image.Pt(0, 0), 1e9, black) })
}

func BenchmarkDrawText(b *testing.B) {
	src := solid(1080, 1080, white)
	defer cpuMeter(b)()
	for b.Loop() {
		_ = DrawText(src, "Summer sale — 30% off", image.Pt(40, 900), 64, black)
	}
}
