package imageproc

import "fmt"

// MaxOutputPixels caps the size of any image an operation creates from
// caller-supplied dimensions or factors. 64 Mi pixels is 256 MiB as NRGBA:
// enough for a 2× upscale of a 16-megapixel photo while keeping a worst-case
// request well inside a 1 GiB server.
const MaxOutputPixels = 1 << 26

// checkOutputSize validates a requested output size before anything is
// allocated, so a hostile parameter cannot trigger a huge allocation.
func checkOutputSize(w, h int) error {
	if w <= 0 || h <= 0 {
		return invalidArg("output size %dx%d is empty", w, h)
	}
	if int64(w)*int64(h) > MaxOutputPixels {
		return fmt.Errorf("%w: output %dx%d exceeds %d pixels", ErrTooLarge, w, h, MaxOutputPixels)
	}
	return nil
}
