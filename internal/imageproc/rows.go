package imageproc

import (
	"image"
	"sync"
	"sync/atomic"
)

// rowReader produces rows [y0, y1) of a rowSource, in order, calling emit
// with each row as NRGBA bytes. The slice passed to emit is only valid during
// the call. A reader keeps scratch buffers between calls and belongs to one
// goroutine.
type rowReader func(y0, y1 int, emit func(y int, row []uint8))

// rowSource is an image computed row by row on demand. Filters expressed as
// row sources (levels, sharpening) can feed the resampler directly, so a
// pipeline such as EnhancePortrait never materialises its intermediate
// stages: only the final image is allocated at full size.
type rowSource struct {
	w, h      int
	opaque    bool             // every pixel has alpha 255
	newReader func() rowReader // one per goroutine
}

// imageRows reads region r of img (absolute coordinates inside its bounds)
// through a scanner; rows are numbered from 0.
func imageRows(img image.Image, r image.Rectangle) rowSource {
	return rowSource{
		w: r.Dx(), h: r.Dy(),
		opaque: opaqueRegion(img, r),
		newReader: func() rowReader {
			s := newScanner(img)
			buf := make([]uint8, 4*r.Dx())
			return func(y0, y1 int, emit func(int, []uint8)) {
				for y := y0; y < y1; y++ {
					emit(y, s.row(r.Min.Y+y, r.Min.X, r.Max.X, buf))
				}
			}
		},
	}
}

// materializeChunk is how many rows a worker asks a reader for at once:
// enough to amortise a filter's overlap rows, small enough that the reader's
// scratch stays in the low megabytes.
const materializeChunk = 64

// materialize computes every row of src into a new image, in parallel.
func materialize(src rowSource) *image.NRGBA {
	dst := image.NewNRGBA(image.Rect(0, 0, src.w, src.h))
	forEachChunk(src.h, materializeChunk, func(next func() (int, int, bool)) {
		read := src.newReader()
		for lo, hi, ok := next(); ok; lo, hi, ok = next() {
			read(lo, hi, func(y int, row []uint8) {
				copy(dst.Pix[y*dst.Stride:y*dst.Stride+4*src.w], row)
			})
		}
	})
	return dst
}

// forEachChunk splits [0, n) into chunks of size rows and runs worker on
// GOMAXPROCS goroutines; each worker pulls chunks with next until it reports
// false. Pulling (rather than static bands) lets every worker set up its
// scratch once and keeps the cores balanced when chunk costs differ.
func forEachChunk(n, size int, worker func(next func() (lo, hi int, ok bool))) {
	if n <= 0 {
		return
	}
	size = max(size, 1)
	chunks := (n + size - 1) / size
	var counter atomic.Int64
	next := func() (int, int, bool) {
		c := int(counter.Add(1) - 1)
		if c >= chunks {
			return 0, 0, false
		}
		return c * size, min((c+1)*size, n), true
	}
	workers := min(procs(), chunks)
	if workers == 1 {
		worker(next)
		return
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { worker(next) })
	}
	wg.Wait()
}
