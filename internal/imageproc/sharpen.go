package imageproc

import (
	"image"
	"math"
)

// Limits that keep Sharpen's cost bounded whatever a request asks for: the
// kernel has 2*ceil(3*sigma)+1 taps per pass.
const (
	maxSharpenSigma  = 50
	maxSharpenAmount = 10
)

// Sharpen applies an unsharp mask: out = in + amount × (in − blur(in, sigma)).
// sigma is the Gaussian radius in pixels (about 1 for fine detail, 2–3 for
// local contrast) and amount the strength (0.5–1.5 is typical). sigma is
// clamped to 50 and amount to [0, 10]; a non-positive sigma or amount returns
// an unchanged copy. Colour channels are filtered without alpha weighting and
// alpha is preserved, so the result is meant for opaque photos.
func Sharpen(img image.Image, sigma, amount float64) *image.NRGBA {
	return materialize(enhanceRows(img, nil, sigma, amount))
}

// gaussianKernel returns normalised weights for offsets -r..r.
func gaussianKernel(sigma float64) []float32 {
	r := int(math.Ceil(3 * sigma))
	w := make([]float64, 2*r+1)
	var sum float64
	for i := range w {
		x := float64(i - r)
		w[i] = math.Exp(-x * x / (2 * sigma * sigma))
		sum += w[i]
	}
	k := make([]float32, len(w))
	for i := range w {
		k[i] = float32(w[i] / sum)
	}
	return k
}

// enhanceRows is img with an optional tone mapping (lut, may be nil) followed
// by an optional unsharp mask, computed row by row.
//
// Each reader call for rows [y0, y1) maps and horizontally blurs the rows
// [y0-r, y1+r) it needs into its own scratch, then blurs vertically and
// sharpens one output row at a time. Nothing full-size is allocated: the
// price is recomputing 2r rows per call, under 10% for the 64-row chunks
// callers use.
func enhanceRows(img image.Image, lut *toneLUT, sigma, amount float64) rowSource {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	sigma, amount = min(sigma, maxSharpenSigma), min(amount, maxSharpenAmount)
	var k []float32
	if sigma > 0 && amount > 0 { // false for NaN too
		k = gaussianKernel(sigma)
	}
	if lut == nil && k == nil {
		return imageRows(img, b)
	}
	r := len(k) / 2
	amt := float32(amount)
	return rowSource{
		w: w, h: h,
		opaque: opaqueRegion(img, b),
		newReader: func() rowReader {
			s := newScanner(img)
			scan := make([]uint8, 4*w)
			out := make([]uint8, 4*w)
			acc := make([]float32, 3*w)
			taps := make([][]uint8, len(k))
			var mapped, blurred []uint8
			return func(y0, y1 int, emit func(int, []uint8)) {
				a, z := max(y0-r, 0), min(y1+r, h) // rows the chunk depends on
				mapped = grow(mapped, 4*w*(z-a))
				if k != nil {
					blurred = grow(blurred, 3*w*(z-a))
				}
				for y := a; y < z; y++ {
					row := s.row(b.Min.Y+y, b.Min.X, b.Max.X, scan)
					m := mapped[4*w*(y-a) : 4*w*(y-a+1)]
					if lut != nil {
						applyLUT(m, row, lut)
					} else {
						copy(m, row)
					}
					if k != nil {
						blurRow(blurred[3*w*(y-a):3*w*(y-a+1)], m, k)
					}
				}
				for y := y0; y < y1; y++ {
					m := mapped[4*w*(y-a) : 4*w*(y-a+1)]
					if k == nil {
						emit(y, m)
						continue
					}
					for i := range k {
						yy := min(max(y+i-r, 0), h-1) - a // edge rows repeat
						taps[i] = blurred[3*w*yy : 3*w*(yy+1)]
					}
					weightedRowSum(acc, taps, k)
					unsharpRow(out, m, acc, amt)
					emit(y, out)
				}
			}
		},
	}
}

// grow returns b resized to n bytes, reallocating only when it must.
func grow(b []uint8, n int) []uint8 {
	if cap(b) < n {
		return make([]uint8, n)
	}
	return b[:n]
}

// applyLUT maps the colour channels of an NRGBA row, copying alpha.
func applyLUT(dst, src []uint8, lut *toneLUT) {
	for i := 0; i+4 <= len(src); i += 4 {
		s := src[i : i+4 : i+4]
		d := dst[i : i+4 : i+4]
		d[0], d[1], d[2], d[3] = lut[0][s[0]], lut[1][s[1]], lut[2][s[2]], s[3]
	}
}

// unsharpRow writes in + amt·(in − blurred) for the colour channels of an
// NRGBA row; blurred holds 3 floats per pixel. Alpha is copied.
func unsharpRow(dst, in []uint8, blurred []float32, amt float32) {
	for x := range len(in) / 4 {
		p := in[4*x : 4*x+4 : 4*x+4]
		bl := blurred[3*x : 3*x+3 : 3*x+3]
		d := dst[4*x : 4*x+4 : 4*x+4]
		for c := range 3 {
			v := float32(p[c])
			d[c] = clampByte32(v + amt*(v-bl[c]))
		}
		d[3] = p[3]
	}
}

// blurRow convolves the RGB channels of one NRGBA row with k horizontally
// into dst (3 bytes per pixel), repeating edge pixels beyond the borders.
// Rounding the blur to bytes loses under half a level, which the unsharp
// mask's amount scales to well under one output level, and keeps the scratch
// small.
func blurRow(dst, src []uint8, k []float32) {
	w := len(src) / 4
	r := len(k) / 2
	for x := range w {
		var sr, sg, sb float32
		if x >= r && x+r < w {
			// Interior: no clamping in the inner loop.
			s := src[4*(x-r) : 4*(x+r+1)]
			for i, kv := range k {
				p := s[4*i : 4*i+3 : 4*i+3]
				sr += kv * float32(p[0])
				sg += kv * float32(p[1])
				sb += kv * float32(p[2])
			}
		} else {
			for i, kv := range k {
				xx := min(max(x+i-r, 0), w-1)
				p := src[4*xx : 4*xx+3 : 4*xx+3]
				sr += kv * float32(p[0])
				sg += kv * float32(p[1])
				sb += kv * float32(p[2])
			}
		}
		d := dst[3*x : 3*x+3 : 3*x+3]
		d[0], d[1], d[2] = clampByte32(sr), clampByte32(sg), clampByte32(sb)
	}
}
