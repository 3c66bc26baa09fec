package imageproc

import (
	"image"
	"image/color"
)

// scanner converts rows of any image.Image to non-premultiplied RGBA bytes.
// The generic image.Image path boxes a color.Color per pixel, which costs an
// allocation each; the decoders' concrete types get loops over their raw
// buffers instead, which is what keeps conversion of a 12 MP photo in the tens
// of milliseconds.
type scanner struct {
	img     image.Image
	palette []color.NRGBA // only for *image.Paletted
}

func newScanner(img image.Image) *scanner {
	s := &scanner{img: img}
	if p, ok := img.(*image.Paletted); ok {
		s.palette = make([]color.NRGBA, len(p.Palette))
		for i, c := range p.Palette {
			s.palette[i] = color.NRGBAModel.Convert(c).(color.NRGBA)
		}
	}
	return s
}

// row returns pixels [x0, x1) of row y (absolute coordinates inside the
// image's bounds) as NRGBA bytes. For *image.NRGBA it returns a slice of the
// image itself, which callers must treat as read-only; otherwise it fills
// and returns buf, which must hold 4*(x1-x0) bytes.
func (s *scanner) row(y, x0, x1 int, buf []uint8) []uint8 {
	n := x1 - x0
	dst := buf[:4*n]
	switch m := s.img.(type) {
	case *image.NRGBA:
		i := m.PixOffset(x0, y)
		return m.Pix[i : i+4*n : i+4*n]
	case *image.RGBA:
		i := m.PixOffset(x0, y)
		unpremultiply(dst, m.Pix[i:i+4*n])
	case *image.YCbCr:
		scanYCbCr(m, y, x0, x1, dst)
	case *image.NYCbCrA:
		scanYCbCr(&m.YCbCr, y, x0, x1, dst)
		ai := m.AOffset(x0, y)
		for x, a := range m.A[ai : ai+n] {
			// The colour planes are straight (not premultiplied), so alpha
			// is simply attached.
			dst[4*x+3] = a
		}
	case *image.Gray:
		i := m.PixOffset(x0, y)
		for x, v := range m.Pix[i : i+n] {
			d := dst[4*x : 4*x+4 : 4*x+4]
			d[0], d[1], d[2], d[3] = v, v, v, 0xff
		}
	case *image.Paletted:
		i := m.PixOffset(x0, y)
		for x, idx := range m.Pix[i : i+n] {
			var c color.NRGBA // out-of-range indices render transparent, as in image.Paletted.At
			if int(idx) < len(s.palette) {
				c = s.palette[idx]
			}
			d := dst[4*x : 4*x+4 : 4*x+4]
			d[0], d[1], d[2], d[3] = c.R, c.G, c.B, c.A
		}
	case *image.CMYK:
		i := m.PixOffset(x0, y)
		for x := range n {
			p := m.Pix[i+4*x : i+4*x+4 : i+4*x+4]
			r, g, b := color.CMYKToRGB(p[0], p[1], p[2], p[3])
			d := dst[4*x : 4*x+4 : 4*x+4]
			d[0], d[1], d[2], d[3] = r, g, b, 0xff
		}
	default:
		for x := range n {
			c := color.NRGBAModel.Convert(m.At(x0+x, y)).(color.NRGBA)
			d := dst[4*x : 4*x+4 : 4*x+4]
			d[0], d[1], d[2], d[3] = c.R, c.G, c.B, c.A
		}
	}
	return dst
}

// unpremultiply converts premultiplied RGBA bytes to NRGBA with the same
// rounding as color.NRGBAModel, so results match the standard library.
func unpremultiply(dst, src []uint8) {
	for i := 0; i+4 <= len(src); i += 4 {
		s := src[i : i+4 : i+4]
		d := dst[i : i+4 : i+4]
		switch a := uint32(s[3]); a {
		case 0xff:
			d[0], d[1], d[2], d[3] = s[0], s[1], s[2], 0xff
		case 0:
			d[0], d[1], d[2], d[3] = 0, 0, 0, 0
		default:
			a16 := a * 0x101
			d[0] = uint8((uint32(s[0]) * 0x101 * 0xffff / a16) >> 8)
			d[1] = uint8((uint32(s[1]) * 0x101 * 0xffff / a16) >> 8)
			d[2] = uint8((uint32(s[2]) * 0x101 * 0xffff / a16) >> 8)
			d[3] = uint8(a)
		}
	}
}

// scanYCbCr converts one row of a YCbCr image to opaque NRGBA bytes.
func scanYCbCr(m *image.YCbCr, y, x0, x1 int, dst []uint8) {
	// Chroma subsampling divisors; integer division (not shifts) mirrors
	// image.YCbCr.COffset exactly, including for negative coordinates.
	hd, vd := 1, 1
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		hd = 2
	case image.YCbCrSubsampleRatio420:
		hd, vd = 2, 2
	case image.YCbCrSubsampleRatio440:
		vd = 2
	case image.YCbCrSubsampleRatio411:
		hd = 4
	case image.YCbCrSubsampleRatio410:
		hd, vd = 4, 2
	}
	yi := m.YOffset(x0, y)
	crow := (y/vd - m.Rect.Min.Y/vd) * m.CStride
	cx0 := m.Rect.Min.X / hd
	for x := x0; x < x1; x++ {
		ci := crow + x/hd - cx0
		r, g, b := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
		d := dst[4*(x-x0) : 4*(x-x0)+4 : 4*(x-x0)+4]
		d[0], d[1], d[2], d[3] = r, g, b, 0xff
		yi++
	}
}

// toNRGBA copies region r (absolute coordinates, assumed inside img's
// bounds) of img into a new NRGBA image at the origin. It is the single place
// where operations take ownership of pixels they are about to modify.
func toNRGBA(img image.Image, r image.Rectangle) *image.NRGBA {
	dst := image.NewNRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	if r.Empty() {
		return dst
	}
	s := newScanner(img)
	parallelRows(r.Dy(), func(lo, hi int) {
		for y := lo; y < hi; y++ {
			d := dst.Pix[y*dst.Stride : y*dst.Stride+4*r.Dx()]
			if src := s.row(r.Min.Y+y, r.Min.X, r.Max.X, d); &src[0] != &d[0] {
				copy(d, src)
			}
		}
	})
	return dst
}

// clone is toNRGBA over the whole image.
func clone(img image.Image) *image.NRGBA {
	return toNRGBA(img, img.Bounds())
}

// isOpaque reports whether every pixel of m has alpha 255. It runs in
// parallel because encoders call it on 48 MP outputs.
func isOpaque(m *image.NRGBA) bool {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	if w == 0 || h == 0 {
		return true
	}
	opaque := make([]bool, h) // one flag per row: goroutines never write the same variable
	parallelRows(h, func(lo, hi int) {
		for y := lo; y < hi; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			ok := true
			for i := 3; i < len(row); i += 4 {
				if row[i] != 0xff {
					ok = false
					break
				}
			}
			opaque[y] = ok
		}
	})
	for _, ok := range opaque {
		if !ok {
			return false
		}
	}
	return true
}
