package imageproc

import (
	"fmt"
	"image"
	"image/color"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// maxTextSize caps the font size: glyph masks are rasterised at full size, so
// an absurd size from a request would otherwise allocate enormous masks.
const maxTextSize = 1024

// DrawText returns a copy of img with text drawn in colour c using the Go
// Regular font at size pixels (the em height). at is the top-left corner of
// the text block, measured from img's top-left corner; the first line's
// baseline sits one ascent below it. Lines
// are split on "\n" and spaced by the font's line height; there is no
// wrapping. Any UTF-8 is accepted: invalid bytes render as U+FFFD, and
// characters the font lacks as its placeholder box. size is clamped to 1024;
// a non-positive size or empty text returns an unchanged copy.
func DrawText(img image.Image, text string, at image.Point, size float64, c color.Color) *image.NRGBA {
	out := clone(img)
	lines := textLines(text)
	if !(size > 0) || len(lines) == 0 {
		return out
	}
	face, err := goFace(size)
	if err != nil {
		// Unreachable: the embedded font always parses. Returning the
		// image beats panicking in a request handler.
		return out
	}
	defer face.Close()
	d := font.Drawer{Dst: out, Src: image.NewUniform(c), Face: face}
	m := face.Metrics()
	for i, line := range lines {
		d.Dot = fixed.Point26_6{
			X: fixed.I(at.X),
			Y: fixed.I(at.Y) + m.Ascent + fixed.Int26_6(i)*m.Height,
		}
		d.DrawString(line)
	}
	return out
}

// MeasureText returns the size in pixels of the block DrawText would draw:
// the widest line's advance by the number of lines times the line height.
// Techniques use it to centre or right-align captions.
func MeasureText(text string, size float64) image.Point {
	lines := textLines(text)
	if !(size > 0) || len(lines) == 0 {
		return image.Point{}
	}
	face, err := goFace(size)
	if err != nil {
		return image.Point{}
	}
	defer face.Close()
	var w fixed.Int26_6
	for _, line := range lines {
		w = max(w, font.MeasureString(face, line))
	}
	return image.Pt(w.Ceil(), (face.Metrics().Height * fixed.Int26_6(len(lines))).Ceil())
}

// textLines normalises line endings and tabs (which the font has no glyph
// for) and splits text into lines; empty text has no lines.
func textLines(text string) []string {
	if text == "" {
		return nil
	}
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\t", "    ")
	return strings.Split(text, "\n")
}

// goFace parses the embedded Go Regular font and sizes it. Parsing per call
// (tens of microseconds) keeps the package free of shared state; a Face is not
// safe for concurrent use anyway.
func goFace(size float64) (font.Face, error) {
	f, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, fmt.Errorf("imageproc: parsing Go font: %w", err)
	}
	// DPI 72 makes the size argument mean pixels.
	return opentype.NewFace(f, &opentype.FaceOptions{
		Size:    min(size, maxTextSize),
		DPI:     72,
		Hinting: font.HintingFull,
	})
}
