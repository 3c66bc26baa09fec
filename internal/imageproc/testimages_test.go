package imageproc

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// Generated media shared by the tests and benchmarks. Everything is
// deterministic so failures reproduce.

// solid returns a w×h image filled with c.
func solid(w, h int, c color.NRGBA) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(m.Pix); i += 4 {
		m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return m
}

// hGradient runs each colour channel from lo at the left edge to hi at the
// right edge.
func hGradient(w, h int, lo, hi uint8) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := uint8(float64(lo) + float64(hi-lo)*float64(x)/float64(max(w-1, 1)) + 0.5)
			m.SetNRGBA(x, y, color.NRGBA{v, v, v, 0xff})
		}
	}
	return m
}

// checkerboard alternates a and b in cell×cell squares, a at the top left.
func checkerboard(w, h, cell int, a, b color.NRGBA) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := a
			if (x/cell+y/cell)%2 == 1 {
				c = b
			}
			m.SetNRGBA(x, y, c)
		}
	}
	return m
}

// halves paints the left half of a w×h image left and the right half right.
func halves(w, h int, left, right color.NRGBA) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := left
			if x >= w/2 {
				c = right
			}
			m.SetNRGBA(x, y, c)
		}
	}
	return m
}

// photoLike imitates a portrait photo: smooth lighting gradients, a few soft
// blobs with edges, and sensor noise, so that JPEG sizes and decode costs
// resemble real uploads rather than flat test patterns.
func photoLike(w, h int, seed uint64) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	type blob struct{ cx, cy, r, cr, cg, cb float64 }
	blobs := make([]blob, 12)
	for i := range blobs {
		blobs[i] = blob{
			cx: rng.Float64() * float64(w), cy: rng.Float64() * float64(h),
			r:  (0.05 + 0.2*rng.Float64()) * float64(min(w, h)),
			cr: rng.Float64() * 120, cg: rng.Float64() * 120, cb: rng.Float64() * 120,
		}
	}
	parallelRows(h, func(lo, hi int) {
		noise := rand.New(rand.NewPCG(seed+uint64(lo), uint64(hi)))
		for y := lo; y < hi; y++ {
			fy := float64(y) / float64(h)
			for x := range w {
				fx := float64(x) / float64(w)
				r, g, b := 60+80*fx, 50+70*fy, 70+40*math.Sin(6*fx+3*fy)
				for _, bl := range blobs {
					dx, dy := float64(x)-bl.cx, float64(y)-bl.cy
					if d := math.Sqrt(dx*dx+dy*dy) / bl.r; d < 1 {
						f := 1 - d*d
						r, g, b = r+bl.cr*f, g+bl.cg*f, b+bl.cb*f
					}
				}
				n := noise.NormFloat64() * 4
				i := m.PixOffset(x, y)
				m.Pix[i+0] = clampByte(r + n)
				m.Pix[i+1] = clampByte(g + n)
				m.Pix[i+2] = clampByte(b + n)
				m.Pix[i+3] = 0xff
			}
		}
	})
	return m
}

// requireNear asserts two colours agree within tol per channel.
func requireNear(t *testing.T, want, got color.NRGBA, tol int, where string) {
	t.Helper()
	d := func(a, b uint8) int { return int(math.Abs(float64(int(a) - int(b)))) }
	ok := d(want.R, got.R) <= tol && d(want.G, got.G) <= tol && d(want.B, got.B) <= tol && d(want.A, got.A) <= tol
	require.Truef(t, ok, "%s: want %v got %v (tol %d)", where, want, got, tol)
}

// channelRange returns the min and max of channel c (0=R) within m's bounds.
func channelRange(m *image.NRGBA, c int) (lo, hi uint8) {
	lo, hi = 255, 0
	b := m.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			v := m.Pix[m.PixOffset(x, y)+c]
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	return lo, hi
}
