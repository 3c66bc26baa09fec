package imageproc

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEncodeJPEGStripsDecodeLikeSerial(t *testing.T) {
	t.Parallel()
	// Sizes that are not MCU multiples, so the last strip is short and the
	// right edge is padded, plus a grey image (8×8 MCUs).
	photo := photoLike(1501, 1203, 17)
	grey := image.NewGray(image.Rect(0, 0, 1300, 1000))
	for i := range grey.Pix {
		grey.Pix[i] = uint8(i*31 + i/1300)
	}
	ycc := image.NewYCbCr(image.Rect(0, 0, 1200, 1000), image.YCbCrSubsampleRatio420)
	for i := range ycc.Y {
		ycc.Y[i] = uint8(i * 13)
	}
	for name, m := range map[string]stripImage{"rgba": photo, "gray": grey, "ycbcr": ycc} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var par, ser bytes.Buffer
			require.NoError(t, encodeJPEG(&par, m, 88))
			require.NoError(t, jpeg.Encode(&ser, m, &jpeg.Options{Quality: 88}))
			require.Contains(t, par.String(), "\xff\xdd\x00\x04", "restart interval present: the parallel path ran")

			a, err := jpeg.Decode(&par)
			require.NoError(t, err)
			b, err := jpeg.Decode(&ser)
			require.NoError(t, err)
			require.Equal(t, b.Bounds(), a.Bounds())
			// Same coefficients, so the decoders' output is bit-identical.
			require.Equal(t, clone(b).Pix, clone(a).Pix)
		})
	}
}

func TestEncodeJPEGSmallImagesStaySerial(t *testing.T) {
	t.Parallel()
	m := photoLike(300, 200, 3)
	var par, ser bytes.Buffer
	require.NoError(t, encodeJPEG(&par, m, 75))
	require.NoError(t, jpeg.Encode(&ser, m, &jpeg.Options{Quality: 75}))
	require.Equal(t, ser.Bytes(), par.Bytes())
}

func TestSplitJPEGRejectsForeignLayouts(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, photoLike(32, 16, 1), nil))
	l, ok := splitJPEG(buf.Bytes())
	require.True(t, ok)
	require.Equal(t, byte(0xda), l.header[l.sos+1])
	require.Equal(t, []byte{0, 16}, buf.Bytes()[l.sofHeight:l.sofHeight+2])

	// An APP segment (as other encoders write) is not the layout we stitch.
	withApp := withEXIFOrientation(buf.Bytes(), 1, binary.BigEndian)
	_, ok = splitJPEG(withApp)
	require.False(t, ok)
	_, ok = splitJPEG([]byte("not a jpeg"))
	require.False(t, ok)
	_, ok = splitJPEG(buf.Bytes()[:100])
	require.False(t, ok)
}

func TestEncodeJPEGRefusesOversizedDimensions(t *testing.T) {
	t.Parallel()
	// 70000×16 fits any pixel budget but not JPEG's 16-bit header fields.
	m := image.NewGray(image.Rect(0, 0, 70000, 16))
	var buf bytes.Buffer
	require.Error(t, encodeJPEG(&buf, m, 80))
}
