// Package imageproc is the pure-Go image toolbox behind florad's image
// techniques: it decodes uploads safely (pixel budget checked from the header
// before any pixel memory is allocated, EXIF orientation applied), runs the
// pixel operations techniques are built from (levels, sharpening, resampling,
// cropping, colour adjustments, compositing, text) and encodes the result.
//
// Conventions shared by every function:
//
//   - Inputs are never modified. Every operation returns a new *image.NRGBA
//     whose bounds start at (0,0), so results can be chained freely and handed
//     to other goroutines.
//   - Arguments a technique receives from a request (sizes, ratios, angles)
//     are validated: bad ones yield an error wrapping ErrInvalidArgument, and
//     results larger than MaxOutputPixels yield ErrTooLarge instead of an
//     allocation that could take the server down. Purely tonal parameters
//     (percentages, opacity) are clamped to their documented range instead.
//   - Work on large images is split by rows across runtime.GOMAXPROCS
//     goroutines, and the hot path (EnhancePortrait) avoids full-size
//     intermediate copies so that a 12-megapixel photo stays far below 1 GiB.
//
// Nothing in the package holds mutable global state; all functions are safe
// for concurrent use.
package imageproc
