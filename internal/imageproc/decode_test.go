package imageproc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

const testMaxPixels = 50_000_000

var (
	red   = color.NRGBA{255, 0, 0, 255}
	green = color.NRGBA{0, 255, 0, 255}
	blue  = color.NRGBA{0, 0, 255, 255}
	white = color.NRGBA{255, 255, 255, 255}
	black = color.NRGBA{0, 0, 0, 255}
)

func TestDecodeStdlibEncodings(t *testing.T) {
	t.Parallel()
	src := halves(40, 20, red, blue)
	var pngBuf, jpegBuf, gifBuf bytes.Buffer
	require.NoError(t, png.Encode(&pngBuf, src))
	require.NoError(t, jpeg.Encode(&jpegBuf, src, &jpeg.Options{Quality: 95}))
	pal := image.NewPaletted(src.Bounds(), color.Palette{red, blue})
	for y := range 20 {
		for x := range 40 {
			pal.Set(x, y, src.At(x, y))
		}
	}
	require.NoError(t, gif.Encode(&gifBuf, pal, nil))

	for _, tc := range []struct {
		format string
		data   []byte
		tol    int
	}{
		{"png", pngBuf.Bytes(), 0},
		{"jpeg", jpegBuf.Bytes(), 12},
		{"gif", gifBuf.Bytes(), 0},
	} {
		img, format, err := Decode(bytes.NewReader(tc.data), testMaxPixels)
		require.NoError(t, err, tc.format)
		require.Equal(t, tc.format, format)
		require.Equal(t, image.Rect(0, 0, 40, 20), img.Bounds())
		got := clone(img)
		requireNear(t, red, got.NRGBAAt(5, 10), tc.tol, tc.format)
		requireNear(t, blue, got.NRGBAAt(35, 10), tc.tol, tc.format)
	}
}

func TestDecodeGIFFirstFrame(t *testing.T) {
	t.Parallel()
	frame := func(c color.Color) *image.Paletted {
		m := image.NewPaletted(image.Rect(0, 0, 8, 8), palette.Plan9)
		for i := range m.Pix {
			m.Pix[i] = uint8(m.Palette.Index(c))
		}
		return m
	}
	var buf bytes.Buffer
	require.NoError(t, gif.EncodeAll(&buf, &gif.GIF{
		Image: []*image.Paletted{frame(red), frame(blue)},
		Delay: []int{10, 10},
	}))
	img, format, err := Decode(&buf, testMaxPixels)
	require.NoError(t, err)
	require.Equal(t, "gif", format)
	requireNear(t, red, clone(img).NRGBAAt(3, 3), 0, "first frame")
}

func TestDecodeRejectsNonImages(t *testing.T) {
	t.Parallel()
	for name, data := range map[string]string{
		"text":  "hello, this is definitely not an image\n",
		"empty": "",
		// Valid PNG signature and IHDR, then nothing: header passes, pixels fail.
		"truncated": string(pngHeader(t, 4, 4)),
		// A BMP: real image format, but not one uploads may use.
		"bmp": "BM" + strings.Repeat("\x00", 60),
	} {
		_, _, err := Decode(strings.NewReader(data), testMaxPixels)
		require.ErrorIs(t, err, ErrUnsupportedFormat, name)
	}
}

func TestDecodeRejectsHugeHeaderBeforeAllocating(t *testing.T) {
	t.Parallel()
	data := pngHeader(t, 100_000, 100_000) // 10 Gpx claimed in 33 bytes
	_, _, err := Decode(bytes.NewReader(data), testMaxPixels)
	require.ErrorIs(t, err, ErrTooLarge)
	require.NotErrorIs(t, err, ErrUnsupportedFormat)

	_, _, err = Decode(bytes.NewReader(data), 0)
	require.ErrorIs(t, err, ErrInvalidArgument)
}

func TestDecodeExactPixelBudget(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, solid(10, 10, red)))
	_, _, err := Decode(bytes.NewReader(buf.Bytes()), 100)
	require.NoError(t, err)
	_, _, err = Decode(bytes.NewReader(buf.Bytes()), 99)
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestDecodePassesReadErrorsThrough(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	_, _, err := Decode(iotest.ErrReader(boom), testMaxPixels)
	require.ErrorIs(t, err, boom)
	require.NotErrorIs(t, err, ErrUnsupportedFormat)

	// Failure after a valid header, mid-pixels.
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, photoLike(64, 64, 1)))
	r := iotest.DataErrReader(&failAfter{data: buf.Bytes()[:200], err: boom})
	_, _, err = Decode(r, testMaxPixels)
	require.ErrorIs(t, err, boom)
}

// failAfter returns data, then err instead of io.EOF.
type failAfter struct {
	data []byte
	err  error
}

func (f *failAfter) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestDecodeAppliesEXIFOrientation(t *testing.T) {
	t.Parallel()
	// Stored sideways, as a phone held upright writes it: the red half is on
	// the left and the tag says "rotate 90° clockwise to display".
	src := halves(40, 20, red, blue)
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, src, &jpeg.Options{Quality: 95}))

	for _, order := range []byteOrder{binary.BigEndian, binary.LittleEndian} {
		data := withEXIFOrientation(buf.Bytes(), orientRotate90CW, order)
		img, format, err := Decode(bytes.NewReader(data), testMaxPixels)
		require.NoError(t, err)
		require.Equal(t, "jpeg", format)
		require.Equal(t, image.Rect(0, 0, 20, 40), img.Bounds())
		got := clone(img)
		requireNear(t, red, got.NRGBAAt(10, 5), 12, "top is the former left")
		requireNear(t, blue, got.NRGBAAt(10, 35), 12, "bottom is the former right")
	}
}

func TestDecodeWebPLossless(t *testing.T) {
	t.Parallel()
	img, format, err := Decode(bytes.NewReader(tinyWebP()), testMaxPixels)
	require.NoError(t, err)
	require.Equal(t, "webp", format)
	require.Equal(t, image.Rect(0, 0, 2, 2), img.Bounds())
	got := clone(img)
	require.Equal(t, color.NRGBA{255, 0, 128, 255}, got.NRGBAAt(0, 0))
	require.Equal(t, color.NRGBA{0, 255, 128, 255}, got.NRGBAAt(1, 0))
	require.Equal(t, color.NRGBA{255, 255, 128, 255}, got.NRGBAAt(0, 1))
	require.Equal(t, color.NRGBA{0, 0, 128, 255}, got.NRGBAAt(1, 1))
}

// pngHeader returns a PNG signature plus an IHDR chunk (8-bit RGBA) claiming
// w×h, with a correct CRC so decoders trust it, and no pixel data.
func pngHeader(t testing.TB, w, h uint32) []byte {
	t.Helper()
	var ihdr bytes.Buffer
	ihdr.WriteString("IHDR")
	require.NoError(t, binary.Write(&ihdr, binary.BigEndian, w))
	require.NoError(t, binary.Write(&ihdr, binary.BigEndian, h))
	ihdr.Write([]byte{8, 6, 0, 0, 0}) // depth 8, RGBA, deflate, filter 0, no interlace
	out := []byte("\x89PNG\r\n\x1a\n")
	out = binary.BigEndian.AppendUint32(out, uint32(ihdr.Len()-4))
	out = append(out, ihdr.Bytes()...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(ihdr.Bytes()))
}

// byteOrder is what binary.BigEndian and binary.LittleEndian both offer.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// withEXIFOrientation inserts an APP1 EXIF segment holding only the
// orientation tag right after the SOI marker of a JPEG.
func withEXIFOrientation(jpg []byte, orientation uint16, bo byteOrder) []byte {
	tiff := []byte("MM")
	if bo == binary.LittleEndian {
		tiff = []byte("II")
	}
	tiff = bo.AppendUint16(tiff, 42)
	tiff = bo.AppendUint32(tiff, 8) // IFD0 right after the header
	tiff = bo.AppendUint16(tiff, 1) // one entry
	tiff = bo.AppendUint16(tiff, 0x0112)
	tiff = bo.AppendUint16(tiff, 3) // SHORT
	tiff = bo.AppendUint32(tiff, 1) // count
	tiff = bo.AppendUint16(tiff, orientation)
	tiff = append(tiff, 0, 0)       // value field padding
	tiff = bo.AppendUint32(tiff, 0) // no next IFD
	payload := append([]byte("Exif\x00\x00"), tiff...)

	out := append([]byte{}, jpg[:2]...)
	out = append(out, 0xff, 0xe1)
	out = binary.BigEndian.AppendUint16(out, uint16(len(payload)+2))
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

// tinyWebP hand-assembles a 2×2 lossless (VP8L) WebP. Every prefix code is a
// "simple" code: green and red have two one-bit symbols {0, 255}, blue,
// alpha and distance have a single zero-bit symbol. Each pixel therefore costs
// exactly two bits, green then red (canonical codes give 0 to the smaller
// symbol). Pixels, row-major: (R,G) = (255,0), (0,255), (255,255), (0,0), all
// with B=128 and A=255.
func tinyWebP() []byte {
	var bw bitWriter
	bw.write(0x2f, 8) // VP8L signature
	bw.write(2-1, 14) // width-1
	bw.write(2-1, 14) // height-1
	bw.write(0, 1)    // alpha_is_used (hint only)
	bw.write(0, 3)    // version
	bw.write(0, 1)    // no transform
	bw.write(0, 1)    // no colour cache
	bw.write(0, 1)    // no meta prefix codes
	twoSymbols := func(a, b uint32) {
		bw.write(1, 1) // simple code
		bw.write(1, 1) // two symbols
		bw.write(1, 1) // first symbol uses 8 bits
		bw.write(a, 8)
		bw.write(b, 8)
	}
	oneSymbol := func(a uint32) {
		bw.write(1, 1) // simple code
		bw.write(0, 1) // one symbol
		bw.write(1, 1) // 8 bits
		bw.write(a, 8)
	}
	twoSymbols(0, 255) // green (also covers length prefixes and cache)
	twoSymbols(0, 255) // red
	oneSymbol(128)     // blue
	oneSymbol(255)     // alpha
	oneSymbol(0)       // distance
	for _, p := range [][2]uint32{{255, 0}, {0, 255}, {255, 255}, {0, 0}} {
		r, g := p[0]/255, p[1]/255
		bw.write(g, 1)
		bw.write(r, 1)
	}
	data := bw.bytes()
	if len(data)%2 == 1 {
		data = append(data, 0) // RIFF chunks are padded to even length
	}
	var out []byte
	out = append(out, "RIFF"...)
	out = binary.LittleEndian.AppendUint32(out, uint32(4+8+len(data)))
	out = append(out, "WEBPVP8L"...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(bw.bytes())))
	return append(out, data...)
}

// bitWriter packs values least-significant bit first, as VP8L requires.
type bitWriter struct {
	buf   []byte
	nbits uint
}

func (w *bitWriter) write(v uint32, n uint) {
	for i := range n {
		if w.nbits%8 == 0 {
			w.buf = append(w.buf, 0)
		}
		w.buf[len(w.buf)-1] |= byte((v>>i)&1) << (w.nbits % 8)
		w.nbits++
	}
}

func (w *bitWriter) bytes() []byte { return w.buf }

func BenchmarkDecodeJPEG12MP(b *testing.B) {
	var buf bytes.Buffer
	require.NoError(b, jpeg.Encode(&buf, photoLike(4000, 3000, 7), &jpeg.Options{Quality: 90}))
	b.SetBytes(int64(buf.Len()))
	defer cpuMeter(b)()
	for b.Loop() {
		_, _, err := Decode(bytes.NewReader(buf.Bytes()), testMaxPixels)
		require.NoError(b, err)
	}
}

// fuzzMaxPixels is the budget FuzzDecode decodes under: small, so that an
// input claiming huge dimensions is refused, not decoded.
const fuzzMaxPixels = 1 << 16

// FuzzDecode feeds arbitrary bytes to Decode. It must never panic; an image
// it returns is non-empty, within the pixel budget and readable pixel by
// pixel, and the same whether the bytes arrive at once or one at a time;
// anything else is refused as an unsupported format or too large.
func FuzzDecode(f *testing.F) {
	src := halves(8, 4, red, blue)
	var pngBuf, jpegBuf, gifBuf bytes.Buffer
	require.NoError(f, png.Encode(&pngBuf, src))
	require.NoError(f, jpeg.Encode(&jpegBuf, src, &jpeg.Options{Quality: 90}))
	pal := image.NewPaletted(src.Bounds(), color.Palette{red, blue})
	require.NoError(f, gif.Encode(&gifBuf, pal, nil))
	gray := image.NewGray16(image.Rect(0, 0, 3, 5))
	var grayBuf bytes.Buffer
	require.NoError(f, png.Encode(&grayBuf, gray))
	for _, seed := range [][]byte{pngBuf.Bytes(), jpegBuf.Bytes(), gifBuf.Bytes(), grayBuf.Bytes(), tinyWebP(),
		pngHeader(f, 1<<20, 1<<20), pngHeader(f, 0, 5), jpegBuf.Bytes()[:jpegBuf.Len()/2], []byte("GIF89a"), nil} {
		f.Add(seed)
	}
	for o := uint16(0); o <= 9; o++ {
		f.Add(withEXIFOrientation(jpegBuf.Bytes(), o, binary.BigEndian))
		f.Add(withEXIFOrientation(jpegBuf.Bytes(), o, binary.LittleEndian))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		img, format, err := Decode(bytes.NewReader(data), fuzzMaxPixels)
		img2, format2, err2 := Decode(iotest.OneByteReader(bytes.NewReader(data)), fuzzMaxPixels)
		require.Equal(t, err == nil, err2 == nil, "at once: %v; byte by byte: %v", err, err2)
		if err != nil {
			require.True(t, errors.Is(err, ErrUnsupportedFormat) || errors.Is(err, ErrTooLarge), "error %v", err)
			require.Equal(t, errors.Is(err, ErrTooLarge), errors.Is(err2, ErrTooLarge))
			require.Nil(t, img)
			return
		}
		require.Contains(t, []string{"jpeg", "png", "gif", "webp"}, format)
		require.Equal(t, format, format2)
		b := img.Bounds()
		require.Equal(t, b, img2.Bounds())
		require.Positive(t, b.Dx())
		require.Positive(t, b.Dy())
		require.LessOrEqual(t, b.Dx()*b.Dy(), fuzzMaxPixels)
		got := clone(img)
		require.Equal(t, b.Size(), got.Bounds().Size())
		require.Equal(t, got.Pix, clone(img2).Pix)
	})
}
