package imageproc

import (
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"strings"
)

// DefaultJPEGQuality is used when Encode is given a quality of 0 or less:
// visually lossless for photos at about a third of quality 100's size.
const DefaultJPEGQuality = 90

// Encode writes img to w as "jpeg" (or "jpg") or "png", case-insensitively,
// and returns the Content-Type to serve it with. Other formats yield an error
// wrapping ErrUnsupportedFormat.
//
// quality (1–100) applies to JPEG only; values above 100 are clamped and
// values of 0 or less select DefaultJPEGQuality, so an unset request
// parameter does the sensible thing. JPEG has no alpha channel: translucent
// pixels are flattened onto white, which is what product shots and text
// overlays expect, rather than the black a plain conversion would give. PNG
// uses fast compression, trading ~10% larger files for much lower latency on
// big images.
func Encode(w io.Writer, img image.Image, format string, quality int) (contentType string, err error) {
	if img == nil || w == nil {
		return "", errors.New("imageproc: Encode needs an image and a writer")
	}
	switch strings.ToLower(format) {
	case "jpeg", "jpg":
		if quality <= 0 {
			quality = DefaultJPEGQuality
		}
		err = encodeJPEG(w, jpegSource(img), min(quality, 100))
		if err != nil {
			return "", fmt.Errorf("imageproc: encoding jpeg: %w", err)
		}
		return "image/jpeg", nil
	case "png":
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		if err := enc.Encode(w, pngSource(img)); err != nil {
			return "", fmt.Errorf("imageproc: encoding png: %w", err)
		}
		return "image/png", nil
	}
	return "", fmt.Errorf("%w: cannot encode %q, want jpeg or png", ErrUnsupportedFormat, format)
}

// jpegSource returns an image the standard JPEG encoder handles on its fast
// paths (*image.RGBA, *image.YCbCr, *image.Gray); anything else would go
// through image.Image.At per pixel, which allocates and is several times
// slower.
func jpegSource(img image.Image) stripImage {
	switch m := img.(type) {
	case *image.YCbCr:
		return m
	case *image.Gray:
		return m
	case *image.RGBA:
		return m
	case *image.NRGBA:
		if isOpaque(m) {
			// Opaque NRGBA and RGBA have identical bytes, so the 48 MP output
			// of EnhancePortrait is encoded without a copy.
			return &image.RGBA{Pix: m.Pix, Stride: m.Stride, Rect: m.Rect}
		}
		return flattenOnWhite(m)
	}
	return flattenOnWhite(clone(img))
}

// pngSource converts types the PNG encoder would read pixel by pixel through
// image.Image.At (notably *image.YCbCr from JPEG uploads) to NRGBA, which it
// writes row by row.
func pngSource(img image.Image) image.Image {
	switch img.(type) {
	case *image.NRGBA, *image.RGBA, *image.Gray, *image.Paletted:
		return img
	}
	return clone(img)
}

// flattenOnWhite composites m over opaque white into a new RGBA image.
func flattenOnWhite(m *image.NRGBA) *image.RGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	parallelRows(h, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			s := m.Pix[y*m.Stride : y*m.Stride+4*w]
			d := dst.Pix[y*dst.Stride : y*dst.Stride+4*w]
			for i := 0; i+4 <= len(s); i += 4 {
				a := uint32(s[i+3])
				bg := 255 * (255 - a) // white, weighted by the uncovered part
				d[i+0] = uint8((uint32(s[i+0])*a + bg + 127) / 255)
				d[i+1] = uint8((uint32(s[i+1])*a + bg + 127) / 255)
				d[i+2] = uint8((uint32(s[i+2])*a + bg + 127) / 255)
				d[i+3] = 0xff
			}
		}
	})
	return dst
}
