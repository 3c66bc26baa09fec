package imageproc

import (
	"image"

	"github.com/disintegration/imaging"
)

// The colour adjustments delegate to imaging, whose row-parallel lookup-table
// implementations are already as fast as these operations get. Percentages
// are clamped to [-100, 100], so a wild request parameter degrades to the
// strongest effect instead of an error.

// Brightness shifts every colour channel by pct percent of full scale:
// -100 gives black, 0 the original, 100 white. Alpha is preserved.
func Brightness(img image.Image, pct float64) *image.NRGBA {
	return imaging.AdjustBrightness(img, clampPct(pct))
}

// Contrast scales tones away from (pct > 0) or towards (pct < 0) mid-grey:
// -100 gives flat grey, 0 the original, 100 maximal contrast.
func Contrast(img image.Image, pct float64) *image.NRGBA {
	return imaging.AdjustContrast(img, clampPct(pct))
}

// Saturation scales colour saturation (in HSL) by 1 + pct/100: -100 gives
// greyscale, 0 the original, 100 doubles saturation.
func Saturation(img image.Image, pct float64) *image.NRGBA {
	return imaging.AdjustSaturation(img, clampPct(pct))
}

// Grayscale converts img to grey using Rec. 601 luma weights (0.299 R +
// 0.587 G + 0.114 B), keeping alpha. The result is still NRGBA so it can flow
// into any other operation.
func Grayscale(img image.Image) *image.NRGBA {
	return imaging.Grayscale(img)
}

// clampPct also maps NaN to 0, which imaging would otherwise propagate into
// every pixel.
func clampPct(p float64) float64 {
	if !(p == p) {
		return 0
	}
	return min(max(p, -100), 100)
}
