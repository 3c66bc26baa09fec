package imageproc

import (
	"image"
	"math"
)

// Parameters of the portrait-enhancer pipeline. The sharpening is moderate on
// purpose: portraits are mostly skin, where a strong unsharp mask turns pores
// and JPEG noise into texture nobody wants; sigma 1 lifts eyes, lashes and
// hair at the original resolution, before the upscale spreads them out.
const (
	portraitSharpenSigma  = 1.0
	portraitSharpenAmount = 0.6
	portraitUpscale       = 2
)

// EnhancePortrait runs the built-in portrait-enhancer technique: AutoLevels,
// then Sharpen (sigma 1, amount 0.6), then a 2× Lanczos upscale.
//
// It is the hot path and is built to keep memory flat: levels and sharpening
// run in place on a single owned copy, the sharpen intermediate is 3 bytes
// per pixel, and the upscale writes its output directly with no full-size
// intermediate. For a 12 MP photo the live heap peaks at roughly
// 48 MB (copy) + 192 MB (output) plus small per-worker bands.
//
// The upscale is capped so the output never exceeds MaxOutputPixels: inputs
// above 16 MP are enlarged by less than 2× (and never shrunk), so the
// function cannot fail. An empty image yields an empty result.
func EnhancePortrait(img image.Image) *image.NRGBA {
	m := clone(img)
	w, h := m.Rect.Dx(), m.Rect.Dy()
	if w == 0 || h == 0 {
		return m
	}
	autoLevelsInPlace(m)
	sharpenInPlace(m, portraitSharpenSigma, portraitSharpenAmount)
	tw, th := portraitSize(w, h)
	if tw == w && th == h {
		return m
	}
	return resample(m, m.Rect, tw, th)
}

// portraitSize is the upscaled size: 2× when that fits in MaxOutputPixels,
// otherwise the largest scale ≥ 1 that does.
func portraitSize(w, h int) (int, int) {
	if int64(w)*int64(h)*portraitUpscale*portraitUpscale <= MaxOutputPixels {
		return w * portraitUpscale, h * portraitUpscale
	}
	s := math.Sqrt(float64(MaxOutputPixels) / (float64(w) * float64(h)))
	if s <= 1 {
		return w, h
	}
	tw, th := int(float64(w)*s), int(float64(h)*s)
	for int64(tw)*int64(th) > MaxOutputPixels { // float rounding guard
		tw, th = tw-1, th-1
	}
	return max(tw, w), max(th, h)
}
