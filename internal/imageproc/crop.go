package imageproc

import "image"

// Crop returns the part of img inside r, given in img's own coordinates (for
// images from this package and from Decode, (0,0) is the top-left pixel). r is
// clipped to the image; a crop that misses the image entirely yields an error
// wrapping ErrInvalidArgument.
func Crop(img image.Image, r image.Rectangle) (*image.NRGBA, error) {
	c := r.Canon().Intersect(img.Bounds())
	if c.Empty() {
		return nil, invalidArg("crop %v does not overlap image %v", r, img.Bounds())
	}
	return toNRGBA(img, c), nil
}

// CropToAspect returns the largest centred crop of img whose width:height is
// exactly aw:ah (for example 1:1, 4:5 or 9:16). Exactness is kept by using a
// whole multiple of the reduced ratio, so up to aw-1 (or ah-1) pixels beyond
// the ideal crop may be lost. It fails with ErrInvalidArgument for a
// non-positive ratio or an image too small to hold even one ratio unit.
func CropToAspect(img image.Image, aw, ah int) (*image.NRGBA, error) {
	ua, ub, err := aspectUnit(aw, ah)
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	k := min(b.Dx()/ua, b.Dy()/ub)
	if k == 0 {
		return nil, invalidArg("%dx%d image is too small for aspect %d:%d", b.Dx(), b.Dy(), aw, ah)
	}
	w, h := k*ua, k*ub
	x0, y0 := b.Min.X+(b.Dx()-w)/2, b.Min.Y+(b.Dy()-h)/2
	return toNRGBA(img, image.Rect(x0, y0, x0+w, y0+h)), nil
}
