package imageproc

import (
	"image"
	"image/color"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPadToAspect(t *testing.T) {
	t.Parallel()
	src := solid(300, 200, red)
	got, err := PadToAspect(src, 1, 1, white)
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, 300, 300), got.Bounds())
	require.Equal(t, white, got.NRGBAAt(150, 10), "band above")
	require.Equal(t, red, got.NRGBAAt(150, 150), "image centred")
	require.Equal(t, white, got.NRGBAAt(150, 290), "band below")
	require.Equal(t, red, got.NRGBAAt(0, 50), "first image row")
	require.Equal(t, white, got.NRGBAAt(0, 49))

	for _, ratio := range [][2]int{{4, 5}, {9, 16}, {16, 9}, {3, 1}} {
		got, err := PadToAspect(src, ratio[0], ratio[1], black)
		require.NoError(t, err)
		w, h := got.Rect.Dx(), got.Rect.Dy()
		require.Equal(t, w*ratio[1], h*ratio[0], "exact %v", ratio)
		require.GreaterOrEqual(t, w, 300)
		require.GreaterOrEqual(t, h, 200)
		require.Less(t, min(w-300, h-200), max(ratio[0], ratio[1]), "smallest canvas for %v", ratio)
	}
}

func TestPadToAspectCompositesTransparency(t *testing.T) {
	t.Parallel()
	src := solid(10, 20, color.NRGBA{0, 0, 0, 0})
	src.SetNRGBA(5, 10, color.NRGBA{255, 0, 0, 128})
	got, err := PadToAspect(src, 1, 1, white)
	require.NoError(t, err)
	require.Equal(t, white, got.NRGBAAt(10, 2), "transparent pixels show the background")
	requireNear(t, color.NRGBA{255, 127, 127, 255}, got.NRGBAAt(10, 10), 1, "half red on white")
}

func TestPadToAspectRejects(t *testing.T) {
	t.Parallel()
	_, err := PadToAspect(solid(4, 4, red), 0, 1, white)
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = PadToAspect(image.NewNRGBA(image.Rectangle{}), 1, 1, white)
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = PadToAspect(solid(9000, 1, red), 1, 1000, white)
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestFilled(t *testing.T) {
	t.Parallel()
	for _, w := range []int{1, 2, 3, 5, 64, 1001} {
		m := filled(w, 3, color.NRGBA{1, 2, 3, 4})
		for y := range 3 {
			for x := range w {
				require.Equal(t, color.NRGBA{1, 2, 3, 4}, m.NRGBAAt(x, y))
			}
		}
	}
}
