package imageproc

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/webp"
)

// decoderFor returns the decoder of a format Decode accepts, or nil. Other
// packages in the binary may register more formats with the image package;
// they are deliberately not reachable from uploads.
func decoderFor(format string) func(io.Reader) (image.Image, error) {
	switch format {
	case "jpeg":
		return jpeg.Decode
	case "png":
		return png.Decode
	case "gif":
		// gif.Decode stops after the first frame, so animations cost one
		// frame of memory.
		return gif.Decode
	case "webp":
		return webp.Decode
	}
	return nil
}

// Decode reads a JPEG, PNG, GIF (first frame) or WebP image and returns it
// with its format name ("jpeg", "png", "gif" or "webp").
//
// The header is parsed first and images with more than maxPixels pixels are
// refused with an error wrapping ErrTooLarge before any pixel memory is
// allocated, so a small upload claiming huge dimensions cannot exhaust memory.
// maxPixels must be positive. Input that is not a decodable image of those
// formats, including truncated or corrupt data, yields an error wrapping
// ErrUnsupportedFormat; read errors from r are returned as they are.
//
// JPEG EXIF orientation is applied, so phone portraits come out upright; the
// returned image then has the displayed dimensions. The concrete type is the
// decoder's (typically *image.YCbCr for JPEG), or *image.NRGBA when an
// orientation was applied. Bounds start at (0,0), except that a GIF's first
// frame keeps its offset within the GIF's canvas; every function in this
// package accepts either.
func Decode(r io.Reader, maxPixels int) (image.Image, string, error) {
	if maxPixels <= 0 {
		return nil, "", invalidArg("maxPixels %d must be positive", maxPixels)
	}
	src := &errReader{r: r}
	// The header bytes consumed while sniffing are kept and replayed, so r
	// need not be seekable. That is usually a few KiB, but JPEG metadata
	// before the frame header is deliberately not capped: phone portraits
	// can carry megabytes of depth map in XMP there, and the upload size
	// already bounds it.
	var head bytes.Buffer
	cfg, format, err := image.DecodeConfig(io.TeeReader(src, &head))
	if err != nil {
		return nil, "", src.classify(err)
	}
	decode := decoderFor(format)
	if decode == nil {
		return nil, "", fmt.Errorf("%w: %s", ErrUnsupportedFormat, format)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, "", fmt.Errorf("%w: %s image has no pixels", ErrUnsupportedFormat, format)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > int64(maxPixels) {
		return nil, "", fmt.Errorf("%w: %dx%d %s is %d pixels, limit %d",
			ErrTooLarge, cfg.Width, cfg.Height, format, px, maxPixels)
	}
	img, err := decode(io.MultiReader(bytes.NewReader(head.Bytes()), src))
	if err != nil {
		return nil, "", src.classify(err)
	}
	if format == "jpeg" {
		img = applyOrientation(img, jpegOrientation(head.Bytes()))
	}
	return img, format, nil
}

// errReader remembers the first real read error of the underlying reader, so
// that Decode can tell a failing network body from a malformed image: decoders
// report both as generic errors.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// classify turns a decoder error into the error Decode returns.
func (e *errReader) classify(err error) error {
	if e.err != nil {
		return fmt.Errorf("imageproc: reading image: %w", e.err)
	}
	if errors.Is(err, image.ErrFormat) {
		return fmt.Errorf("%w: not a JPEG, PNG, GIF or WebP image", ErrUnsupportedFormat)
	}
	return fmt.Errorf("%w: %w", ErrUnsupportedFormat, err)
}
