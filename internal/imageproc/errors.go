package imageproc

import (
	"errors"
	"fmt"
)

// ErrUnsupportedFormat is wrapped by errors for input that is not a decodable
// JPEG, PNG, GIF or WebP image, and for encode formats other than JPEG and
// PNG. API handlers map it to 415 Unsupported Media Type.
var ErrUnsupportedFormat = errors.New("imageproc: unsupported or corrupt image format")

// ErrTooLarge is wrapped by errors for images whose pixel count exceeds the
// caller's budget (Decode) or MaxOutputPixels (operations that enlarge). API
// handlers map it to 413 Content Too Large.
var ErrTooLarge = errors.New("imageproc: image too large")

// ErrInvalidArgument is wrapped by errors for geometric parameters that make
// no sense (non-positive sizes, angles that are not multiples of 90, empty
// crops). Technique parameters usually come from requests, so these are
// client errors (400), not bugs.
var ErrInvalidArgument = errors.New("imageproc: invalid argument")

// invalidArg keeps the sentinel first in the message so logs group well.
func invalidArg(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
}
