package imageproc

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEncodeRoundTrips(t *testing.T) {
	t.Parallel()
	src := halves(64, 32, red, blue)
	for _, tc := range []struct {
		format, contentType string
		tol                 int
	}{
		{"jpeg", "image/jpeg", 12},
		{"JPG", "image/jpeg", 12},
		{"png", "image/png", 0},
	} {
		var buf bytes.Buffer
		ct, err := Encode(&buf, src, tc.format, 90)
		require.NoError(t, err)
		require.Equal(t, tc.contentType, ct)
		img, _, err := Decode(&buf, testMaxPixels)
		require.NoError(t, err)
		got := clone(img)
		requireNear(t, red, got.NRGBAAt(8, 16), tc.tol, tc.format)
		requireNear(t, blue, got.NRGBAAt(56, 16), tc.tol, tc.format)
	}
}

func TestEncodeJPEGQuality(t *testing.T) {
	t.Parallel()
	src := photoLike(256, 256, 11)
	size := func(q int) int {
		var buf bytes.Buffer
		_, err := Encode(&buf, src, "jpeg", q)
		require.NoError(t, err)
		return buf.Len()
	}
	require.Less(t, size(30), size(90))
	require.Equal(t, size(DefaultJPEGQuality), size(0), "0 selects the default")
	require.Equal(t, size(100), size(1000), "clamped")
}

func TestEncodeJPEGFlattensAlphaOnWhite(t *testing.T) {
	t.Parallel()
	src := solid(32, 32, color.NRGBA{0, 0, 0, 0})
	for y := range 32 {
		for x := 16; x < 32; x++ {
			src.SetNRGBA(x, y, color.NRGBA{255, 0, 0, 128})
		}
	}
	var buf bytes.Buffer
	_, err := Encode(&buf, src, "jpeg", 95)
	require.NoError(t, err)
	img, err := jpeg.Decode(&buf)
	require.NoError(t, err)
	got := clone(img)
	requireNear(t, white, got.NRGBAAt(4, 16), 4, "transparent becomes white")
	requireNear(t, color.NRGBA{255, 127, 127, 255}, got.NRGBAAt(28, 16), 6, "half red on white is pink")
}

func TestEncodeJPEGOfOpaqueNRGBAIsExact(t *testing.T) {
	t.Parallel()
	// The zero-copy RGBA view must encode exactly like a real RGBA copy.
	src := clone(photoLike(96, 64, 2))
	var viaView, viaCopy bytes.Buffer
	_, err := Encode(&viaView, src, "jpeg", 85)
	require.NoError(t, err)
	rgba := image.NewRGBA(src.Bounds())
	copy(rgba.Pix, src.Pix)
	require.NoError(t, jpeg.Encode(&viaCopy, rgba, &jpeg.Options{Quality: 85}))
	require.Equal(t, viaCopy.Bytes(), viaView.Bytes())
}

func TestEncodePNGKeepsAlpha(t *testing.T) {
	t.Parallel()
	src := solid(8, 8, color.NRGBA{10, 20, 30, 40})
	var buf bytes.Buffer
	_, err := Encode(&buf, src, "png", 0)
	require.NoError(t, err)
	img, err := png.Decode(&buf)
	require.NoError(t, err)
	require.Equal(t, color.NRGBA{10, 20, 30, 40}, clone(img).NRGBAAt(3, 3))
}

func TestEncodePNGFromYCbCr(t *testing.T) {
	t.Parallel()
	ycc := image.NewYCbCr(image.Rect(0, 0, 16, 16), image.YCbCrSubsampleRatio420)
	for i := range ycc.Y {
		ycc.Y[i] = uint8(i)
	}
	for i := range ycc.Cb {
		ycc.Cb[i], ycc.Cr[i] = 128, 128
	}
	var buf bytes.Buffer
	_, err := Encode(&buf, ycc, "png", 0)
	require.NoError(t, err)
	img, err := png.Decode(&buf)
	require.NoError(t, err)
	require.Equal(t, clone(ycc).Pix, clone(img).Pix, "lossless")
}

func TestEncodeRejects(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	_, err := Encode(&buf, solid(2, 2, red), "webp", 90)
	require.ErrorIs(t, err, ErrUnsupportedFormat)
	_, err = Encode(&buf, nil, "png", 0)
	require.Error(t, err)

	boom := errors.New("disk full")
	_, err = Encode(failWriter{boom}, solid(2, 2, red), "png", 0)
	require.ErrorIs(t, err, boom)
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func BenchmarkEncodeJPEG48MP(b *testing.B) {
	src := clone(photoLike(8000, 6000, 13))
	var n int64
	defer cpuMeter(b)()
	for b.Loop() {
		cw := countingWriter{}
		_, err := Encode(&cw, src, "jpeg", 90)
		require.NoError(b, err)
		n = cw.n
	}
	b.ReportMetric(float64(n)/(1<<20), "jpeg-MB")
}
