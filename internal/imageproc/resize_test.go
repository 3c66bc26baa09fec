package imageproc

import (
	"image"
	"image/color"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUpscaleMultipliesDimensions(t *testing.T) {
	t.Parallel()
	src := checkerboard(60, 40, 10, red, blue)
	for _, f := range []int{1, 2, 3, 4} {
		got, err := Upscale(src, f)
		require.NoError(t, err)
		require.Equal(t, image.Rect(0, 0, 60*f, 40*f), got.Bounds())
		// Cell centres, beyond the kernel's reach of the edges, keep their colour.
		requireNear(t, red, got.NRGBAAt(5*f, 5*f), 1, "red cell")
		requireNear(t, blue, got.NRGBAAt(15*f, 5*f), 1, "blue cell")
	}
	for _, f := range []int{0, -2, 5} {
		_, err := Upscale(src, f)
		require.ErrorIs(t, err, ErrInvalidArgument)
	}
	_, err := Upscale(image.NewNRGBA(image.Rectangle{}), 2)
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = Upscale(image.NewGray(image.Rect(0, 0, 3000, 3000)), 4)
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestUpscaleInterpolatesSmoothly(t *testing.T) {
	t.Parallel()
	got, err := Upscale(hGradient(64, 4, 0, 252), 2)
	require.NoError(t, err)
	// The new in-between samples fall between their neighbours: no blocky
	// nearest-neighbour duplication.
	for x := 8; x < 120; x++ {
		d := int(got.NRGBAAt(x+1, 3).R) - int(got.NRGBAAt(x, 3).R)
		require.InDelta(t, 2, d, 1, "x=%d", x)
	}
}

func TestResize(t *testing.T) {
	t.Parallel()
	src := halves(100, 50, red, blue)
	got, err := Resize(src, 37, 90)
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, 37, 90), got.Bounds())
	requireNear(t, red, got.NRGBAAt(3, 45), 2, "left")
	requireNear(t, blue, got.NRGBAAt(33, 45), 2, "right")

	same, err := Resize(src, 100, 50)
	require.NoError(t, err)
	require.Equal(t, src.Pix, same.Pix)

	for _, sz := range [][2]int{{0, 10}, {10, 0}, {-1, 5}} {
		_, err := Resize(src, sz[0], sz[1])
		require.ErrorIs(t, err, ErrInvalidArgument)
	}
	_, err = Resize(src, 100_000, 100_000)
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestFit(t *testing.T) {
	t.Parallel()
	src := solid(400, 300, red)
	for _, tc := range []struct{ maxW, maxH, w, h int }{
		{200, 200, 200, 150},
		{400, 100, 133, 100},
		{1000, 1000, 400, 300}, // never enlarges
		{400, 300, 400, 300},
		{1, 1000, 1, 1}, // never below one pixel
	} {
		got, err := Fit(src, tc.maxW, tc.maxH)
		require.NoError(t, err)
		require.Equal(t, image.Rect(0, 0, tc.w, tc.h), got.Bounds(), "%+v", tc)
	}
	_, err := Fit(src, 0, 100)
	require.ErrorIs(t, err, ErrInvalidArgument)
}

func TestFillCoversAndCentres(t *testing.T) {
	t.Parallel()
	// Wide image: red | green | blue thirds. A square fill keeps the centre.
	src := image.NewNRGBA(image.Rect(0, 0, 300, 100))
	for y := range 100 {
		for x := range 300 {
			c := []color.NRGBA{red, green, blue}[x/100]
			src.SetNRGBA(x, y, c)
		}
	}
	got, err := Fill(src, 50, 50)
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, 50, 50), got.Bounds())
	for y := range 50 {
		for x := range 50 {
			requireNear(t, green, got.NRGBAAt(x, y), 2, "centre third only")
		}
	}
	// Tall target from a wide source: full height kept is impossible, the
	// sides go, and output is exactly the requested size.
	got, err = Fill(src, 90, 160)
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, 90, 160), got.Bounds())
	// Same aspect and size as the centre crop: pure crop, no resampling.
	got, err = Fill(src, 100, 100)
	require.NoError(t, err)
	require.Equal(t, green, got.NRGBAAt(0, 0))

	_, err = Fill(src, 0, 1)
	require.ErrorIs(t, err, ErrInvalidArgument)
}

func BenchmarkUpscale2x12MP(b *testing.B) {
	src := clone(photoLike(4000, 3000, 9))
	defer cpuMeter(b)()
	for b.Loop() {
		_, err := Upscale(src, 2)
		require.NoError(b, err)
	}
}

func BenchmarkFitYCbCr12MPTo1080(b *testing.B) {
	src := image.NewYCbCr(image.Rect(0, 0, 4000, 3000), image.YCbCrSubsampleRatio420)
	defer cpuMeter(b)()
	for b.Loop() {
		_, err := Fit(src, 1920, 1080)
		require.NoError(b, err)
	}
}
