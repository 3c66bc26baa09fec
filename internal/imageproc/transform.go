package imageproc

import (
	"image"
)

// Rotate turns img clockwise by degrees, which must be a multiple of 90
// (negative values turn counter-clockwise; 0 and 360 return a copy). Other
// angles yield an error wrapping ErrInvalidArgument: arbitrary rotation needs
// resampling and a background colour, which no technique uses.
func Rotate(img image.Image, degrees int) (*image.NRGBA, error) {
	switch ((degrees % 360) + 360) % 360 {
	case 0:
		return clone(img), nil
	case 90:
		return reorient(img, orientRotate90CW), nil
	case 180:
		return reorient(img, orientRotate180), nil
	case 270:
		return reorient(img, orientRotate270), nil
	}
	return nil, invalidArg("rotation %d° is not a multiple of 90", degrees)
}

// FlipH mirrors img left to right.
func FlipH(img image.Image) *image.NRGBA { return reorient(img, orientFlipH) }

// FlipV mirrors img top to bottom.
func FlipV(img image.Image) *image.NRGBA { return reorient(img, orientFlipV) }

// reorientTile is the side of the square blocks reorient works in: 64×64
// NRGBA pixels (16 KiB) of source and destination both stay in L1/L2 cache
// while a block is transposed.
const reorientTile = 64

// reorient returns img transformed by one of the eight EXIF orientations
// (the symmetries of a rectangle).
//
// A rotation reads source rows and writes destination columns; done naively
// that walks memory with a stride of a whole row per pixel and is several
// times slower than a copy (decoded JPEGs also cost a colour conversion per
// pixel). Working in square tiles keeps both sides cache-resident, and reading
// through the scanner converts YCbCr rows directly, so a phone portrait is
// upright after one pass and one allocation.
func reorient(img image.Image, o int) *image.NRGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o >= orientTranspose {
		dw, dh = h, w
	}
	dst := image.NewNRGBA(image.Rect(0, 0, dw, dh))
	if w == 0 || h == 0 {
		return dst
	}
	// Destination pixel index = base + x*sx + y*sy for source pixel (x, y)
	// relative to b.Min; strides are in pixels of the destination.
	var base, sx, sy int
	switch o {
	case orientFlipH:
		base, sx, sy = w-1, -1, dw
	case orientRotate180:
		base, sx, sy = (h-1)*dw+w-1, -1, -dw
	case orientFlipV:
		base, sx, sy = (h-1)*dw, 1, -dw
	case orientTranspose:
		base, sx, sy = 0, dw, 1
	case orientRotate90CW:
		base, sx, sy = h-1, dw, -1
	case orientTransverse:
		base, sx, sy = (w-1)*dw+h-1, -dw, -1
	case orientRotate270:
		base, sx, sy = (w-1)*dw, -dw, 1
	default:
		return toNRGBA(img, b)
	}
	s := newScanner(img)
	tileRows := (h + reorientTile - 1) / reorientTile
	parallelRows(tileRows, func(lo, hi int) {
		buf := make([]uint8, 4*reorientTile)
		for ty := lo; ty < hi; ty++ {
			y0, y1 := ty*reorientTile, min((ty+1)*reorientTile, h)
			for x0 := 0; x0 < w; x0 += reorientTile {
				x1 := min(x0+reorientTile, w)
				for y := y0; y < y1; y++ {
					row := s.row(b.Min.Y+y, b.Min.X+x0, b.Min.X+x1, buf)
					d := base + x0*sx + y*sy
					for i := 0; i+4 <= len(row); i += 4 {
						*(*[4]byte)(dst.Pix[4*d : 4*d+4]) = [4]byte(row[i : i+4])
						d += sx
					}
				}
			}
		}
	})
	return dst
}
