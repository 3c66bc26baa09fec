package imageproc

import (
	"image"
	"image/color"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRotateSwapsDimensionsAndMovesCorners(t *testing.T) {
	t.Parallel()
	src := solid(40, 20, white)
	src.SetNRGBA(0, 0, red)    // top-left
	src.SetNRGBA(39, 0, green) // top-right
	for _, tc := range []struct {
		deg        int
		size       image.Point
		red, green image.Point
	}{
		{90, image.Pt(20, 40), image.Pt(19, 0), image.Pt(19, 39)},
		{-270, image.Pt(20, 40), image.Pt(19, 0), image.Pt(19, 39)},
		{180, image.Pt(40, 20), image.Pt(39, 19), image.Pt(0, 19)},
		{270, image.Pt(20, 40), image.Pt(0, 39), image.Pt(0, 0)},
		{-90, image.Pt(20, 40), image.Pt(0, 39), image.Pt(0, 0)},
		{0, image.Pt(40, 20), image.Pt(0, 0), image.Pt(39, 0)},
		{720, image.Pt(40, 20), image.Pt(0, 0), image.Pt(39, 0)},
	} {
		got, err := Rotate(src, tc.deg)
		require.NoError(t, err)
		require.Equal(t, tc.size, got.Bounds().Size(), "%d°", tc.deg)
		require.Equal(t, red, got.NRGBAAt(tc.red.X, tc.red.Y), "%d° red", tc.deg)
		require.Equal(t, green, got.NRGBAAt(tc.green.X, tc.green.Y), "%d° green", tc.deg)
	}
	for _, deg := range []int{45, 1, -100} {
		_, err := Rotate(src, deg)
		require.ErrorIs(t, err, ErrInvalidArgument)
	}
}

func TestFlips(t *testing.T) {
	t.Parallel()
	src := coords(30, 20)
	h, v := FlipH(src), FlipV(src)
	for y := range 20 {
		for x := range 30 {
			require.Equal(t, src.NRGBAAt(x, y), h.NRGBAAt(29-x, y))
			require.Equal(t, src.NRGBAAt(x, y), v.NRGBAAt(x, 19-y))
		}
	}
}

func TestReorientMatchesPixelMapping(t *testing.T) {
	t.Parallel()
	// Large and odd-sized enough to cross tile boundaries, from a YCbCr
	// source with an offset origin like a decoded, sub-imaged JPEG.
	const w, h = 150, 70
	ycc := image.NewYCbCr(image.Rect(5, 3, 5+w, 3+h), image.YCbCrSubsampleRatio420)
	for i := range ycc.Y {
		ycc.Y[i] = uint8(i * 7)
	}
	for i := range ycc.Cb {
		ycc.Cb[i], ycc.Cr[i] = uint8(i*3), uint8(i*5)
	}
	ref := clone(ycc)
	mapping := map[int]func(x, y int) (int, int){
		orientFlipH:      func(x, y int) (int, int) { return w - 1 - x, y },
		orientRotate180:  func(x, y int) (int, int) { return w - 1 - x, h - 1 - y },
		orientFlipV:      func(x, y int) (int, int) { return x, h - 1 - y },
		orientTranspose:  func(x, y int) (int, int) { return y, x },
		orientRotate90CW: func(x, y int) (int, int) { return h - 1 - y, x },
		orientTransverse: func(x, y int) (int, int) { return h - 1 - y, w - 1 - x },
		orientRotate270:  func(x, y int) (int, int) { return y, w - 1 - x },
	}
	for o, f := range mapping {
		got := reorient(ycc, o)
		for y := range h {
			for x := range w {
				dx, dy := f(x, y)
				require.Equal(t, ref.NRGBAAt(x, y), got.NRGBAAt(dx, dy), "orientation %d at %d,%d", o, x, y)
			}
		}
	}
	require.Equal(t, image.Rectangle{}, reorient(image.NewNRGBA(image.Rectangle{}), orientRotate90CW).Bounds())
	require.Equal(t, color.NRGBA(ref.NRGBAAt(0, 0)), reorient(ycc, orientNormal).NRGBAAt(0, 0))
}

func BenchmarkRotate90YCbCr12MP(b *testing.B) {
	m := image.NewYCbCr(image.Rect(0, 0, 4000, 3000), image.YCbCrSubsampleRatio420)
	defer cpuMeter(b)()
	for b.Loop() {
		_, err := Rotate(m, 90)
		require.NoError(b, err)
	}
}
