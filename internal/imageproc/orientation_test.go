package imageproc

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestJPEGOrientationParsing(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, solid(8, 8, red), nil))
	plain := buf.Bytes()
	require.Equal(t, orientNormal, jpegOrientation(plain))
	for o := orientNormal; o <= orientRotate270; o++ {
		require.Equal(t, o, jpegOrientation(withEXIFOrientation(plain, uint16(o), binary.BigEndian)))
		require.Equal(t, o, jpegOrientation(withEXIFOrientation(plain, uint16(o), binary.LittleEndian)))
	}
	// Out-of-range values and garbage are ignored, never fatal.
	require.Equal(t, orientNormal, jpegOrientation(withEXIFOrientation(plain, 9, binary.BigEndian)))
	require.Equal(t, orientNormal, jpegOrientation(nil))
	require.Equal(t, orientNormal, jpegOrientation([]byte{0xff, 0xd8, 0xff, 0xe1, 0xff}))
	exif := withEXIFOrientation(plain, 6, binary.BigEndian)
	for n := range 60 { // every truncation of the EXIF segment
		require.NotPanics(t, func() { jpegOrientation(exif[:n]) })
	}
}

func TestApplyOrientation(t *testing.T) {
	t.Parallel()
	// A 3×2 image with a unique colour in the top-left corner; each
	// orientation must move that corner to where a viewer would show it.
	src := solid(3, 2, white)
	src.SetNRGBA(0, 0, red)
	corner := map[int]image.Point{
		orientNormal:     {0, 0},
		orientFlipH:      {2, 0},
		orientRotate180:  {2, 1},
		orientFlipV:      {0, 1},
		orientTranspose:  {0, 0},
		orientRotate90CW: {1, 0},
		orientTransverse: {1, 2},
		orientRotate270:  {0, 2},
	}
	for o, p := range corner {
		got := clone(applyOrientation(src, o))
		if o >= orientTranspose {
			require.Equal(t, image.Rect(0, 0, 2, 3), got.Bounds(), "orientation %d", o)
		} else {
			require.Equal(t, image.Rect(0, 0, 3, 2), got.Bounds(), "orientation %d", o)
		}
		require.Equal(t, color.NRGBA(red), got.NRGBAAt(p.X, p.Y), "orientation %d", o)
	}
}
