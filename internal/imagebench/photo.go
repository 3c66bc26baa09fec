package imagebench

import (
	"bufio"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
)

// Photo returns a deterministic w×h portrait-like test image.
//
// A synthetic benchmark input has to cost what a real photo costs: JPEG
// encode and decode time depend on how much high-frequency detail there is,
// and auto-levels is only worth measuring when the histogram has tails to
// clip. So the picture has a smooth lit background, a skin-toned face with
// soft shading, dark eyes, fine hair strands, sensor noise, a few specular
// highlights and deep shadows, rather than flat colour or pure noise.
func Photo(w, h int, seed uint64) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	if w <= 0 || h <= 0 {
		return m
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	fw, fh := float64(w), float64(h)
	s := math.Min(fw, fh)
	face := struct{ cx, cy, rx, ry float64 }{fw * (0.45 + 0.1*rng.Float64()), fh * 0.5, s * 0.28, s * 0.36}
	type spot struct{ x, y, r, v float64 }
	// Specular highlights and shadow pockets: small, so they land in the
	// clipped tails of the histogram rather than shifting its body.
	spots := make([]spot, 40)
	for i := range spots {
		v := 255.0
		if i%2 == 1 {
			v = -255
		}
		spots[i] = spot{rng.Float64() * fw, rng.Float64() * fh, s * (0.002 + 0.01*rng.Float64()), v}
	}
	strandPhase := rng.Float64() * 2 * math.Pi

	rows := func(lo, hi int) {
		noise := rand.New(rand.NewPCG(seed+uint64(lo)*0x9e3779b97f4a7c15, uint64(hi)))
		for y := lo; y < hi; y++ {
			fy := float64(y)
			for x := range w {
				fx := float64(x)
				// Background: a warm-to-cool lit wall, slightly dull so the
				// stretch has something to do.
				u, v := fx/fw, fy/fh
				r := 70 + 90*u + 10*math.Sin(9*v)
				g := 65 + 60*v + 25*u
				b := 80 + 40*math.Sin(3*u+2*v)

				dx, dy := (fx-face.cx)/face.rx, (fy-face.cy)/face.ry
				d := dx*dx + dy*dy
				switch {
				case d < 1:
					// Skin, lit from the upper left.
					shade := 0.75 + 0.25*(1-d) - 0.15*dx - 0.1*dy
					r, g, b = 205*shade, 160*shade, 135*shade
					for _, ex := range [2]float64{-0.38, 0.38} {
						ex, ey := dx-ex, dy+0.2
						if e := (ex*ex)/0.012 + (ey*ey)/0.004; e < 1 {
							r, g, b = 40+30*e, 30+25*e, 25+20*e
						}
					}
				case d < 1.45 && dy < 0.35:
					// Hair: dark strands a few pixels apart, the detail
					// that unsharp masking and JPEG both work hardest on.
					t := 0.5 + 0.5*math.Sin(fx*0.9+7*math.Sin(fy*0.01)+strandPhase)
					r, g, b = 45+60*t, 32+40*t, 22+25*t
				}
				for _, sp := range spots {
					ddx, ddy := fx-sp.x, fy-sp.y
					if q := (ddx*ddx + ddy*ddy) / (sp.r * sp.r); q < 1 {
						f := 1 - q
						r, g, b = r+sp.v*f, g+sp.v*f, b+sp.v*f
					}
				}
				n := noise.NormFloat64() * 3
				i := m.PixOffset(x, y)
				m.Pix[i+0] = clamp(r + n)
				m.Pix[i+1] = clamp(g + n + noise.NormFloat64())
				m.Pix[i+2] = clamp(b + n + noise.NormFloat64())
				m.Pix[i+3] = 0xff
			}
		}
	}

	// Row bands in parallel: 12 MP takes a few seconds on one core.
	var wg sync.WaitGroup
	step := max((h+4*runtime.GOMAXPROCS(0)-1)/(4*runtime.GOMAXPROCS(0)), 1)
	for lo := 0; lo < h; lo += step {
		wg.Go(func() { rows(lo, min(lo+step, h)) })
	}
	wg.Wait()
	return m
}

func clamp(v float64) uint8 {
	return uint8(math.Min(math.Max(v, 0), 255) + 0.5)
}

// WriteJPEG writes img to path as a JPEG of the given quality.
func WriteJPEG(path string, img image.Image, quality int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := jpeg.Encode(bw, img, &jpeg.Options{Quality: quality}); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
