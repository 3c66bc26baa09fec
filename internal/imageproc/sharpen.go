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
	dst := clone(img)
	sharpenInPlace(dst, sigma, amount)
	return dst
}

// gaussianKernel returns normalised weights for offsets -r..r.
func gaussianKernel(sigma float64) []float32 {
	r := int(math.Ceil(3 * sigma))
	k := make([]float32, 2*r+1)
	var sum float64
	w := make([]float64, len(k))
	for i := range w {
		x := float64(i - r)
		w[i] = math.Exp(-x * x / (2 * sigma * sigma))
		sum += w[i]
	}
	for i := range w {
		k[i] = float32(w[i] / sum)
	}
	return k
}

// sharpenInPlace applies Sharpen to an image the caller owns. The separable
// blur needs one intermediate (horizontal pass, RGB only, 3 bytes per pixel);
// the vertical pass then writes the sharpened pixels straight back into m,
// which is safe because each output pixel depends on m only at its own
// position once the intermediate exists.
func sharpenInPlace(m *image.NRGBA, sigma, amount float64) {
	sigma, amount = min(sigma, maxSharpenSigma), min(amount, maxSharpenAmount)
	w, h := m.Rect.Dx(), m.Rect.Dy()
	if !(sigma > 0) || !(amount > 0) || w == 0 || h == 0 {
		return
	}
	k := gaussianKernel(sigma)
	r := len(k) / 2
	tmp := make([]uint8, 3*w*h)
	parallelRows(h, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			blurRow(tmp[3*w*y:3*w*(y+1)], m.Pix[y*m.Stride:y*m.Stride+4*w], k)
		}
	})
	amt := float32(amount)
	parallelRows(h, func(lo, hi int) {
		acc := make([]float32, 3*w)
		for y := lo; y < hi; y++ {
			clear(acc)
			for i, kv := range k {
				yy := min(max(y+i-r, 0), h-1)
				src := tmp[3*w*yy : 3*w*(yy+1)]
				src = src[:len(acc)]
				for j, v := range src {
					acc[j] += kv * float32(v)
				}
			}
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := range w {
				p := row[4*x : 4*x+3 : 4*x+3]
				b := acc[3*x : 3*x+3 : 3*x+3]
				for c := range 3 {
					v := float32(p[c])
					p[c] = clampByte32(v + amt*(v-b[c]))
				}
			}
		}
	})
}

// blurRow convolves the RGB channels of one NRGBA row with k horizontally
// into dst (3 bytes per pixel), repeating edge pixels beyond the borders.
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
