package imageproc

import (
	"image"
)

// Composite returns a copy of dst with src drawn over it ("source over"
// alpha compositing), src's top-left corner placed at offset at from dst's
// top-left. src's alpha is multiplied by opacity, clamped to [0, 1] (0 leaves
// dst unchanged, 0.5 mixes an opaque src half and half). Parts of src falling
// outside dst are clipped; the result has dst's size.
func Composite(dst, src image.Image, at image.Point, opacity float64) *image.NRGBA {
	out := clone(dst)
	compositeInto(out, src, at, opacity)
	return out
}

// compositeInto draws src over m (which must have its origin at (0,0)) in
// place. Blending is done in straight (non-premultiplied) float arithmetic on
// the overlapping rows only, in parallel.
func compositeInto(m *image.NRGBA, src image.Image, at image.Point, opacity float64) {
	if !(opacity > 0) { // also catches NaN
		return
	}
	op := float32(min(opacity, 1))
	sb := src.Bounds()
	r := image.Rectangle{Min: at, Max: at.Add(sb.Size())}.Intersect(m.Rect)
	if r.Empty() {
		return
	}
	sc := newScanner(src)
	parallelRows(r.Dy(), func(lo, hi int) {
		buf := make([]uint8, 4*r.Dx())
		sx0 := sb.Min.X + r.Min.X - at.X
		for y := r.Min.Y + lo; y < r.Min.Y+hi; y++ {
			s := sc.row(sb.Min.Y+y-at.Y, sx0, sx0+r.Dx(), buf)
			i := m.PixOffset(r.Min.X, y)
			d := m.Pix[i : i+len(s)]
			blendRow(d, s, op)
		}
	})
}

// blendRow composites NRGBA row s over NRGBA row d with extra opacity op.
func blendRow(d, s []uint8, op float32) {
	for i := 0; i+4 <= len(s); i += 4 {
		sp := s[i : i+4 : i+4]
		dp := d[i : i+4 : i+4]
		sa := float32(sp[3]) * op / 255
		switch {
		case sa <= 0:
			continue
		case sa >= 1:
			dp[0], dp[1], dp[2], dp[3] = sp[0], sp[1], sp[2], 0xff
			continue
		}
		// Porter-Duff "over" in straight alpha: the destination shows
		// through with weight da·(1−sa).
		da := float32(dp[3]) / 255
		f := da * (1 - sa)
		oa := sa + f
		inv := 1 / oa
		dp[0] = clampByte32((float32(sp[0])*sa + float32(dp[0])*f) * inv)
		dp[1] = clampByte32((float32(sp[1])*sa + float32(dp[1])*f) * inv)
		dp[2] = clampByte32((float32(sp[2])*sa + float32(dp[2])*f) * inv)
		dp[3] = clampByte32(oa * 255)
	}
}
