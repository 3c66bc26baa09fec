package imageproc

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
	"io"
)

// Below this many pixels a plain serial encode is fast enough that splitting
// is not worth the goroutines.
const minParallelJPEGPixels = 1 << 20

// stripImage is what the encoder's fast-path types (*image.RGBA,
// *image.YCbCr, *image.Gray) have in common.
type stripImage interface {
	image.Image
	SubImage(image.Rectangle) image.Image
}

// encodeJPEG writes m as a baseline JPEG using every core.
//
// The standard encoder is single-threaded and takes over a second for the
// 48 MP output of EnhancePortrait. JPEG's restart markers make a parallel
// encode possible without a new encoder: the image is cut into horizontal
// strips whose height is a whole number of MCU rows, each strip is encoded
// independently by image/jpeg (which always emits the same quantisation and
// Huffman tables for a given quality), and the entropy-coded strips are joined
// with RSTn markers under a DRI segment whose interval is one strip. A restart
// resets the DC predictors and byte-aligns, exactly the state in which each
// strip's encoding began, so the result decodes to the same pixels as a serial
// encode. Anything unexpected in the strips' headers falls back to a serial
// encode.
func encodeJPEG(w io.Writer, m stripImage, quality int) error {
	opts := &jpeg.Options{Quality: quality}
	b := m.Bounds()
	mcu := 16 // 4:2:0 colour
	if _, ok := m.(*image.Gray); ok {
		mcu = 8
	}
	mcuCols := (b.Dx() + mcu - 1) / mcu
	mcuRows := (b.Dy() + mcu - 1) / mcu
	p := procs()
	// JPEG sizes are 16-bit; let the serial encoder report oversized images.
	tooBig := b.Dx() > 0xffff || b.Dy() > 0xffff
	if p < 2 || b.Dx()*b.Dy() < minParallelJPEGPixels || tooBig {
		return jpeg.Encode(w, m, opts)
	}
	// Several strips per core even out uneven encode costs (detailed areas
	// compress slower); the restart interval field caps a strip's MCUs.
	stripRows := min(max((mcuRows+4*p-1)/(4*p), 1), 0xffff/mcuCols)
	nStrips := (mcuRows + stripRows - 1) / stripRows
	if nStrips < 2 {
		return jpeg.Encode(w, m, opts)
	}

	parts := make([][]byte, nStrips)
	errs := make([]error, nStrips)
	forEachChunk(mcuRows, stripRows, func(next func() (int, int, bool)) {
		for lo, hi, ok := next(); ok; lo, hi, ok = next() {
			i := lo / stripRows
			y0, y1 := b.Min.Y+lo*mcu, min(b.Min.Y+hi*mcu, b.Max.Y)
			var buf bytes.Buffer
			errs[i] = jpeg.Encode(&buf, m.SubImage(image.Rect(b.Min.X, y0, b.Max.X, y1)), opts)
			parts[i] = buf.Bytes()
		}
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}

	first, ok := splitJPEG(parts[0])
	if !ok {
		return jpeg.Encode(w, m, opts)
	}
	scans := make([][]byte, nStrips)
	for i, p := range parts {
		l, ok := splitJPEG(p)
		if !ok || !l.sameTables(first) {
			return jpeg.Encode(w, m, opts)
		}
		scans[i] = p[len(l.header) : len(p)-2] // entropy-coded data, without EOI
	}

	// Write straight from the strip buffers: concatenating them first
	// would double the compressed size in memory.
	head := append([]byte{}, first.header[:first.sos]...)
	binary.BigEndian.PutUint16(head[first.sofHeight:], uint16(b.Dy()))
	head = append(head, 0xff, 0xdd, 0x00, 0x04) // DRI: restart every strip
	head = binary.BigEndian.AppendUint16(head, uint16(stripRows*mcuCols))
	head = append(head, first.header[first.sos:]...)
	if _, err := w.Write(head); err != nil {
		return err
	}
	for i, s := range scans {
		if _, err := w.Write(s); err != nil {
			return err
		}
		marker := []byte{0xff, 0xd9} // EOI after the last strip
		if i < len(scans)-1 {
			marker[1] = 0xd0 + byte(i%8) // RST0..RST7, cycling
		}
		if _, err := w.Write(marker); err != nil {
			return err
		}
	}
	return nil
}

// jpegLayout locates the parts of a JPEG written by image/jpeg that
// encodeJPEG stitches together.
type jpegLayout struct {
	header    []byte // everything up to and including the SOS segment
	sofHeight int    // offset of the height field in the SOF0 segment
	sos       int    // offset of the SOS marker
}

// splitJPEG parses the simple layout image/jpeg writes (SOI, DQT, SOF0, DHT,
// SOS, data, EOI); ok is false for anything else.
func splitJPEG(p []byte) (l jpegLayout, ok bool) {
	if len(p) < 4 || p[0] != 0xff || p[1] != 0xd8 || p[len(p)-2] != 0xff || p[len(p)-1] != 0xd9 {
		return l, false
	}
	for i := 2; i+4 <= len(p); {
		if p[i] != 0xff {
			return l, false
		}
		end := i + 2 + int(binary.BigEndian.Uint16(p[i+2:]))
		if end > len(p) {
			return l, false
		}
		switch p[i+1] {
		case 0xc0: // SOF0: marker, length, precision, then height
			l.sofHeight = i + 5
		case 0xda:
			l.header, l.sos = p[:end], i
			return l, l.sofHeight > 0
		case 0xdb, 0xc4: // DQT, DHT
		default:
			return l, false
		}
		i = end
	}
	return l, false
}

// sameTables reports whether two strips share every header byte except the
// image height, which differs for the last strip.
func (l jpegLayout) sameTables(o jpegLayout) bool {
	a, b, h := l.header, o.header, l.sofHeight
	return len(a) == len(b) && h == o.sofHeight &&
		bytes.Equal(a[:h], b[:h]) && bytes.Equal(a[h+2:], b[h+2:])
}
