package imageproc

import (
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"testing"

	"github.com/stretchr/testify/require"
)

// scanCases builds one image of every type the scanner special-cases, plus
// one (Gray16) that takes the generic path, all with non-zero origins to catch
// offset mistakes.
func scanCases() map[string]image.Image {
	r := image.Rect(3, 5, 3+17, 5+11)
	cases := map[string]image.Image{}

	nrgba := image.NewNRGBA(r)
	rgba := image.NewRGBA(r)
	gray := image.NewGray(r)
	gray16 := image.NewGray16(r)
	cmyk := image.NewCMYK(r)
	pal := image.NewPaletted(r, palette.Plan9)
	nycbcra := image.NewNYCbCrA(r, image.YCbCrSubsampleRatio420)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			v := uint8(x*13 + y*7)
			a := uint8(x*29 + y*3)
			nrgba.SetNRGBA(x, y, color.NRGBA{v, v ^ 0x55, 255 - v, a})
			rgba.Set(x, y, color.NRGBA{v, v ^ 0x55, 255 - v, a})
			gray.SetGray(x, y, color.Gray{v})
			gray16.SetGray16(x, y, color.Gray16{uint16(v) * 257})
			cmyk.SetCMYK(x, y, color.CMYK{v, 255 - v, v / 2, v / 3})
			pal.SetColorIndex(x, y, v)
			nycbcra.A[nycbcra.AOffset(x, y)] = a
		}
	}
	for i := range nycbcra.Y {
		nycbcra.Y[i] = uint8(i * 7)
	}
	for i := range nycbcra.Cb {
		nycbcra.Cb[i], nycbcra.Cr[i] = uint8(i*11), uint8(255-i*5)
	}
	cases["nrgba"], cases["rgba"], cases["gray"], cases["gray16"] = nrgba, rgba, gray, gray16
	cases["cmyk"], cases["paletted"], cases["nycbcra"] = cmyk, pal, nycbcra

	for _, ratio := range []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	} {
		m := image.NewYCbCr(r, ratio)
		for i := range m.Y {
			m.Y[i] = uint8(i * 3)
		}
		for i := range m.Cb {
			m.Cb[i], m.Cr[i] = uint8(i*17), uint8(i*23)
		}
		cases["ycbcr"+ratio.String()] = m
	}
	return cases
}

func TestScannerMatchesColorModel(t *testing.T) {
	t.Parallel()
	for name, img := range scanCases() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := img.Bounds()
			s := newScanner(img)
			buf := make([]uint8, 4*b.Dx())
			for y := b.Min.Y; y < b.Max.Y; y++ {
				// Scan a partial row too, to exercise x offsets.
				for _, x0 := range []int{b.Min.X, b.Min.X + 3} {
					row := s.row(y, x0, b.Max.X, buf)
					for x := x0; x < b.Max.X; x++ {
						// Compare premultiplied: the colour of a transparent
						// pixel is irrelevant, and NYCbCrA keeps straight
						// colour more precisely than a premultiplied round trip.
						want := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
						i := 4 * (x - x0)
						got := color.RGBAModel.Convert(color.NRGBA{row[i], row[i+1], row[i+2], row[i+3]}).(color.RGBA)
						// YCbCr's 16-bit RGBA() may round one step away from
						// the 8-bit YCbCrToRGB the decoders themselves use.
						requireNear(t, color.NRGBA(want), color.NRGBA(got), 1, fmt.Sprintf("pixel %d,%d", x, y))
					}
				}
			}
		})
	}
}

func TestToNRGBAIsAnIndependentCopyAtOrigin(t *testing.T) {
	t.Parallel()
	src := checkerboard(20, 10, 2, color.NRGBA{255, 0, 0, 255}, color.NRGBA{0, 0, 255, 255})
	sub := src.SubImage(image.Rect(4, 2, 14, 8))
	got := toNRGBA(sub, sub.Bounds())
	require.Equal(t, image.Rect(0, 0, 10, 6), got.Bounds())
	for y := range 6 {
		for x := range 10 {
			require.Equal(t, src.NRGBAAt(x+4, y+2), got.NRGBAAt(x, y))
		}
	}
	got.Pix[0] = 7
	require.NotEqual(t, uint8(7), src.Pix[src.PixOffset(4, 2)])
	require.Equal(t, image.Rectangle{}, toNRGBA(src, image.Rectangle{}).Bounds())
}

func TestIsOpaque(t *testing.T) {
	t.Parallel()
	m := solid(300, 200, color.NRGBA{1, 2, 3, 255})
	require.True(t, isOpaque(m))
	m.SetNRGBA(299, 199, color.NRGBA{1, 2, 3, 254})
	require.False(t, isOpaque(m))
	require.True(t, isOpaque(image.NewNRGBA(image.Rectangle{})))
}

func BenchmarkToNRGBAFromYCbCr12MP(b *testing.B) {
	m := image.NewYCbCr(image.Rect(0, 0, 4000, 3000), image.YCbCrSubsampleRatio420)
	b.SetBytes(4000 * 3000 * 4)
	defer cpuMeter(b)()
	for b.Loop() {
		_ = clone(m)
	}
}
