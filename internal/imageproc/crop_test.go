package imageproc

import (
	"image"
	"image/color"
	"testing"

	"github.com/stretchr/testify/require"
)

// coords encodes each pixel's position (x, y < 4096) in its colour, so
// geometry can be checked pixel by pixel: R and G hold the low bytes of x and
// y, B their high nibbles.
func coords(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			i := m.PixOffset(x, y)
			m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = uint8(x), uint8(y), uint8(x>>8|(y>>8)<<4), 255
		}
	}
	return m
}

// coordsAt decodes the position stored by coords.
func coordsAt(c color.NRGBA) image.Point {
	return image.Pt(int(c.R)|int(c.B&15)<<8, int(c.G)|int(c.B>>4)<<8)
}

func TestCrop(t *testing.T) {
	t.Parallel()
	src := coords(100, 80)
	got, err := Crop(src, image.Rect(10, 20, 40, 30))
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, 30, 10), got.Bounds())
	require.Equal(t, image.Pt(10, 20), coordsAt(got.NRGBAAt(0, 0)))
	require.Equal(t, image.Pt(39, 29), coordsAt(got.NRGBAAt(29, 9)))

	// Clipped to the image; reversed corners are accepted.
	got, err = Crop(src, image.Rect(120, 90, 90, 70))
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, 10, 10), got.Bounds())
	require.Equal(t, image.Pt(90, 70), coordsAt(got.NRGBAAt(0, 0)))

	_, err = Crop(src, image.Rect(200, 200, 300, 300))
	require.ErrorIs(t, err, ErrInvalidArgument)
}

func TestCropToAspectIsExactLargestAndCentred(t *testing.T) {
	t.Parallel()
	src := coords(1200, 900)
	for _, ratio := range [][2]int{{1, 1}, {4, 5}, {9, 16}, {16, 9}, {3, 2}, {1920, 1080}, {1200, 900}} {
		got, err := CropToAspect(src, ratio[0], ratio[1])
		require.NoError(t, err)
		w, h := got.Rect.Dx(), got.Rect.Dy()
		require.Equal(t, w*ratio[1], h*ratio[0], "ratio %v exact: %dx%d", ratio, w, h)
		// Largest: one more ratio unit would not fit.
		ua, ub, _ := aspectUnit(ratio[0], ratio[1])
		require.True(t, w+ua > 1200 || h+ub > 900, "ratio %v not largest: %dx%d", ratio, w, h)
		// Centred to within a pixel.
		p0 := coordsAt(got.NRGBAAt(0, 0))
		require.InDelta(t, (1200-w)/2, p0.X, 1, "ratio %v", ratio)
		require.InDelta(t, (900-h)/2, p0.Y, 1, "ratio %v", ratio)
	}
	sq, err := CropToAspect(src, 1, 1)
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, 900, 900), sq.Bounds())
	require.Equal(t, image.Pt(150, 0), coordsAt(sq.NRGBAAt(0, 0)))
	p, err := CropToAspect(src, 9, 16)
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, 504, 896), p.Bounds())
}

func TestCropToAspectRejects(t *testing.T) {
	t.Parallel()
	_, err := CropToAspect(coords(10, 10), 0, 1)
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = CropToAspect(coords(10, 10), 17, 3) // 17 wide needed
	require.ErrorIs(t, err, ErrInvalidArgument)
}
