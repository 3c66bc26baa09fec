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
// It is the hot path, so the three steps are fused rather than run one after
// another: after one read-only pass to measure the histograms, the levels
// mapping and the unsharp mask are computed on the fly, a few rows at a time,
// as the upscaler asks for source rows. The only full-size allocation is the
// output (192 MB for a 12 MP input), and img is never copied or modified.
//
// The upscale is capped so the output never exceeds MaxOutputPixels: inputs
// above 16 MP are enlarged by less than 2× (and never shrunk), so the
// function cannot fail. An empty image yields an empty result.
func EnhancePortrait(img image.Image) *image.NRGBA {
	b := img.Bounds()
	if b.Empty() {
		return image.NewNRGBA(image.Rectangle{})
	}
	src := enhanceRows(img, levelsLUTs(img), portraitSharpenSigma, portraitSharpenAmount)
	tw, th := portraitSize(b.Dx(), b.Dy())
	if tw == b.Dx() && th == b.Dy() {
		return materialize(src)
	}
	return resample(src, tw, th)
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
