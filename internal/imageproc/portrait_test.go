package imageproc

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEnhancePortrait(t *testing.T) {
	t.Parallel()
	src := hGradient(120, 80, 90, 160) // dull
	before := src.Pix[0]
	got := EnhancePortrait(src)
	require.Equal(t, image.Rect(0, 0, 240, 160), got.Bounds())
	lo, hi := channelRange(got, 1)
	require.LessOrEqual(t, lo, uint8(3), "levels stretched")
	require.GreaterOrEqual(t, hi, uint8(252), "levels stretched")
	require.Equal(t, before, src.Pix[0], "input untouched")

	require.Equal(t, image.Rectangle{}, EnhancePortrait(image.NewNRGBA(image.Rectangle{})).Bounds())
}

func TestEnhancePortraitSharpensEdges(t *testing.T) {
	t.Parallel()
	// Dark and bright margins keep auto-levels from saturating the two
	// mid-tone plateaus, so the sharpening overshoot stays measurable.
	src := image.NewNRGBA(image.Rect(0, 0, 128, 16))
	for y := range 16 {
		for x := range 128 {
			v := 10.0
			switch {
			case x >= 96:
				v = 245
			case x >= 64:
				v = 100 + 50*min(float64(x-63)/4, 1) // soft edge 100 -> 150
			case x >= 32:
				v = 100
			}
			src.SetNRGBA(x, y, color.NRGBA{clampByte(v), clampByte(v), clampByte(v), 255})
		}
	}
	got := EnhancePortrait(src)
	require.Equal(t, image.Rect(0, 0, 256, 32), got.Bounds())
	plain, err := Upscale(AutoLevels(src), 2)
	require.NoError(t, err)

	undershoot := func(m *image.NRGBA) int {
		plateau := int(m.NRGBAAt(96, 16).R) // x=48 in the source
		lo := 255
		for x := 112; x < 128; x++ { // just before the edge
			lo = min(lo, int(m.NRGBAAt(x, 16).R))
		}
		return plateau - lo
	}
	require.LessOrEqual(t, undershoot(plain), 1, "no halo without sharpening")
	require.GreaterOrEqual(t, undershoot(got), 4, "sharpening darkens the near side of the edge")
}

func TestPortraitSizeCapsOutput(t *testing.T) {
	t.Parallel()
	w, h := portraitSize(4000, 3000)
	require.Equal(t, [2]int{8000, 6000}, [2]int{w, h})
	w, h = portraitSize(6000, 4000) // 24 MP: 2× would be 96 MP
	require.LessOrEqual(t, int64(w)*int64(h), int64(MaxOutputPixels))
	require.Greater(t, w, 6000)
	require.InDelta(t, 1.5, float64(w)/float64(h), 0.01)
	w, h = portraitSize(10000, 8000) // already beyond the cap: never shrink
	require.Equal(t, [2]int{10000, 8000}, [2]int{w, h})
}

// BenchmarkEnhancePortrait12MP measures the portrait-enhancer request path:
// decode a 12 MP JPEG, enhance (levels, sharpen, 2× upscale to 48 MP),
// encode as JPEG quality 90. cpu-ms/op is process CPU time (about twice
// ms/op when both cores are busy); peak-heap-MB is the largest heap (live
// plus not-yet-collected) seen by a 1 ms sampler; peak-rss-MB is the process
// high-water mark over the timed loop, when the kernel lets us reset it.
func BenchmarkEnhancePortrait12MP(b *testing.B) {
	var src bytes.Buffer
	require.NoError(b, jpeg.Encode(&src, photoLike(4000, 3000, 42), &jpeg.Options{Quality: 92}))
	data := src.Bytes()
	rssReset := resetPeakRSS()

	peak, stop := sampleHeap()
	cpu := cpuMeter(b)
	b.ResetTimer()
	for b.Loop() {
		img, _, err := Decode(bytes.NewReader(data), 50_000_000)
		require.NoError(b, err)
		out := EnhancePortrait(img)
		_, err = Encode(io.Discard, out, "jpeg", 90)
		require.NoError(b, err)
	}
	b.StopTimer()
	cpu()
	stop()
	b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MB")
	if rss, ok := peakRSS(); ok && rssReset {
		b.ReportMetric(float64(rss)/(1<<20), "peak-rss-MB")
	}
}

func BenchmarkEnhancePortraitOnly12MP(b *testing.B) {
	img, _, err := Decode(bytes.NewReader(mustJPEG(b, photoLike(4000, 3000, 42))), 50_000_000)
	require.NoError(b, err)
	defer cpuMeter(b)()
	for b.Loop() {
		_ = EnhancePortrait(img)
	}
}

func mustJPEG(tb testing.TB, m image.Image) []byte {
	var buf bytes.Buffer
	require.NoError(tb, jpeg.Encode(&buf, m, &jpeg.Options{Quality: 92}))
	return buf.Bytes()
}

func TestEnhancePortraitEqualsStepByStep(t *testing.T) {
	t.Parallel()
	src := photoLike(130, 170, 21)
	step, err := Upscale(Sharpen(AutoLevels(src), portraitSharpenSigma, portraitSharpenAmount), 2)
	require.NoError(t, err)
	require.Equal(t, step.Pix, EnhancePortrait(src).Pix, "fusing the steps must not change the result")
}
