package imageproc

import (
	"image"
	"image/color"
)

// PadToAspect places img, unscaled and centred, on the smallest canvas of
// colour bg whose width:height is exactly aw:ah, as product-shot techniques do
// to square up a cut-out without cropping it. Translucent pixels of img are
// composited over bg, so a transparent PNG lands cleanly on the background.
// It fails with ErrInvalidArgument for a non-positive ratio or empty image,
// and ErrTooLarge if the canvas would exceed MaxOutputPixels.
func PadToAspect(img image.Image, aw, ah int, bg color.Color) (*image.NRGBA, error) {
	ua, ub, err := aspectUnit(aw, ah)
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	if b.Empty() {
		return nil, invalidArg("empty image")
	}
	// Smallest whole multiple of the reduced ratio that holds the image.
	k := max((b.Dx()+ua-1)/ua, (b.Dy()+ub-1)/ub)
	w, h := k*ua, k*ub
	if err := checkOutputSize(w, h); err != nil {
		return nil, err
	}
	canvas := filled(w, h, bg)
	compositeInto(canvas, img, image.Pt((w-b.Dx())/2, (h-b.Dy())/2), 1)
	return canvas, nil
}

// filled returns a w×h image of colour c.
func filled(w, h int, c color.Color) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	if n == (color.NRGBA{}) {
		return m
	}
	px := []uint8{n.R, n.G, n.B, n.A}
	parallelRows(h, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			// Doubling copies fill a row in log(w) calls.
			copy(row, px)
			for filled := 4; filled < len(row); filled *= 2 {
				copy(row[filled:], row[:filled])
			}
		}
	})
	return m
}
