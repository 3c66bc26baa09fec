package imageproc

import (
	"image"
	"sync"
)

// levelsClip is the fraction of pixels clipped at each end of every channel.
// Clipping a little of both tails is what makes auto-levels useful on real
// photos: a handful of specular highlights or noisy black pixels would
// otherwise pin the range at 0..255 and turn the operation into a no-op.
const levelsClip = 0.005

// AutoLevels stretches each colour channel independently so that, after
// ignoring the darkest and brightest 0.5% of its pixels, it spans the full
// 0..255 range; the clipped tails saturate to 0 and 255.
//
// Because of the clipping this is not a no-op on images that already touch 0
// and 255: their tails are still clipped and the rest stretched slightly,
// which is the usual "auto contrast" look. Stretching channels separately also
// neutralises colour casts (a yellowish indoor photo gets its blue channel
// lifted). A channel whose unclipped values are all equal is left unchanged
// rather than amplified into posterised noise. Fully transparent pixels do not
// count towards the histograms; alpha is preserved.
func AutoLevels(img image.Image) *image.NRGBA {
	return materialize(enhanceRows(img, levelsLUTs(img), 0, 0))
}

// toneLUT maps each colour channel's values (R, G, B); alpha is never
// remapped.
type toneLUT [3][256]uint8

// levelsLUTs measures img's histograms and returns the AutoLevels mapping,
// or nil when it would change nothing.
func levelsLUTs(img image.Image) *toneLUT {
	b := img.Bounds()
	var (
		mu   sync.Mutex
		hist [3][256]uint64
	)
	parallelRows(b.Dy(), func(lo, hi int) {
		s := newScanner(img)
		buf := make([]uint8, 4*b.Dx())
		var local [3][256]uint64
		for y := lo; y < hi; y++ {
			row := s.row(b.Min.Y+y, b.Min.X, b.Max.X, buf)
			for i := 0; i+4 <= len(row); i += 4 {
				p := row[i : i+4 : i+4]
				if p[3] == 0 {
					continue
				}
				local[0][p[0]]++
				local[1][p[1]]++
				local[2][p[2]]++
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for c := range local {
			for v, n := range local[c] {
				hist[c][v] += n
			}
		}
	})

	var lut toneLUT
	identity := true
	for c := range hist {
		lut[c] = levelsLUT(&hist[c])
		for v, o := range lut[c] {
			identity = identity && int(o) == v
		}
	}
	if identity {
		return nil
	}
	return &lut
}

// levelsLUT builds the lookup table that maps the clipped range of one
// channel's histogram onto 0..255.
func levelsLUT(hist *[256]uint64) [256]uint8 {
	var lut [256]uint8
	for v := range lut {
		lut[v] = uint8(v)
	}
	var total uint64
	for _, n := range hist {
		total += n
	}
	if total == 0 {
		return lut
	}
	clip := uint64(float64(total) * levelsClip)
	lo, hi := 0, 255
	// Advance past values whose cumulative count is within the clip budget.
	for cum := hist[0]; lo < 255 && cum <= clip; cum += hist[lo] {
		lo++
	}
	for cum := hist[255]; hi > 0 && cum <= clip; cum += hist[hi] {
		hi--
	}
	if hi <= lo {
		return lut
	}
	scale := 255 / float64(hi-lo)
	for v := range lut {
		lut[v] = clampByte(float64(v-lo) * scale)
	}
	return lut
}
