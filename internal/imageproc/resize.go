package imageproc

import (
	"image"
)

// Upscale enlarges img by an integer factor from 1 to 4 with a Lanczos-3
// filter (factor 1 returns a copy). It fails with ErrInvalidArgument for other
// factors or an empty image, and with ErrTooLarge when the result would exceed
// MaxOutputPixels (so a 4× upscale accepts at most 4 MP of input).
func Upscale(img image.Image, factor int) (*image.NRGBA, error) {
	if factor < 1 || factor > 4 {
		return nil, invalidArg("upscale factor %d, want 1 to 4", factor)
	}
	b := img.Bounds()
	if b.Empty() {
		return nil, invalidArg("empty image")
	}
	return Resize(img, b.Dx()*factor, b.Dy()*factor)
}

// Resize scales img to exactly w×h with a Lanczos-3 filter, ignoring aspect
// ratio (see Fit and Fill for aspect-preserving variants).
func Resize(img image.Image, w, h int) (*image.NRGBA, error) {
	b := img.Bounds()
	if b.Empty() {
		return nil, invalidArg("empty image")
	}
	if err := checkOutputSize(w, h); err != nil {
		return nil, err
	}
	if w == b.Dx() && h == b.Dy() {
		return clone(img), nil
	}
	return resample(imageRows(img, b), w, h), nil
}

// Fit scales img down, preserving its aspect ratio, so that it fits within
// maxW×maxH. Images that already fit are returned as an unscaled copy: Fit
// never enlarges, because upscaling is a deliberate technique step (Upscale),
// not a side effect of a size limit.
func Fit(img image.Image, maxW, maxH int) (*image.NRGBA, error) {
	b := img.Bounds()
	if b.Empty() {
		return nil, invalidArg("empty image")
	}
	if maxW <= 0 || maxH <= 0 {
		return nil, invalidArg("fit box %dx%d is empty", maxW, maxH)
	}
	w, h := b.Dx(), b.Dy()
	if w <= maxW && h <= maxH {
		return clone(img), nil
	}
	// Compare the ratios by cross-multiplication to pick the binding side
	// exactly, then round the other side, never below one pixel.
	if int64(w)*int64(maxH) >= int64(h)*int64(maxW) {
		h = max(int((int64(h)*int64(maxW)+int64(w)/2)/int64(w)), 1)
		w = maxW
	} else {
		w = max(int((int64(w)*int64(maxH)+int64(h)/2)/int64(h)), 1)
		h = maxH
	}
	return Resize(img, w, h)
}

// Fill scales and centre-crops img so that it covers exactly w×h ("cover" in
// CSS terms): the largest centred region of img with the target aspect ratio
// is resampled in a single pass, so no intermediate image is made.
func Fill(img image.Image, w, h int) (*image.NRGBA, error) {
	b := img.Bounds()
	if b.Empty() {
		return nil, invalidArg("empty image")
	}
	if err := checkOutputSize(w, h); err != nil {
		return nil, err
	}
	sw, sh := b.Dx(), b.Dy()
	cw, ch := sw, sh
	if int64(sw)*int64(h) > int64(sh)*int64(w) {
		cw = max(int((int64(sh)*int64(w)+int64(h)/2)/int64(h)), 1) // too wide: trim the sides
	} else {
		ch = max(int((int64(sw)*int64(h)+int64(w)/2)/int64(w)), 1) // too tall: trim top and bottom
	}
	x0, y0 := b.Min.X+(sw-cw)/2, b.Min.Y+(sh-ch)/2
	region := image.Rect(x0, y0, x0+cw, y0+ch)
	if cw == w && ch == h {
		return toNRGBA(img, region), nil
	}
	return resample(imageRows(img, region), w, h), nil
}
