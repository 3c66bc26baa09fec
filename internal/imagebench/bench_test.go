package imagebench

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/imageproc"
)

func TestPhotoIsDeterministicAndHasTails(t *testing.T) {
	t.Parallel()
	a, b := Photo(300, 200, 7), Photo(300, 200, 7)
	require.Equal(t, image.Rect(0, 0, 300, 200), a.Bounds())
	require.Equal(t, a.Pix, b.Pix, "same seed, same picture")
	require.NotEqual(t, a.Pix, Photo(300, 200, 8).Pix)

	// Auto-levels is only worth timing when it has something to clip and
	// stretch: neither flat nor already spanning the range.
	for c, h := range histograms(a) {
		lo, hi, ok := clipRange(h)
		require.True(t, ok, "band %d", c)
		require.Greater(t, lo, 0, "band %d", c)
		require.Less(t, hi, 255, "band %d", c)
	}
}

// The vips chain's levels step must do what imageproc.AutoLevels does, or
// the comparison is between different operations.
func TestClipRangeMatchesAutoLevels(t *testing.T) {
	t.Parallel()
	src := Photo(240, 160, 3)
	a, b, _, _ := levelsFromHists(histograms(src))
	want := imageproc.AutoLevels(src)
	for i := 0; i < len(src.Pix); i += 4 {
		for c := range 3 {
			got := clamp(a[c]*float64(src.Pix[i+c]) + b[c])
			require.Equal(t, want.Pix[i+c], got, "pixel %d band %d", i/4, c)
		}
	}
}

func TestClipRangeEdgeCases(t *testing.T) {
	t.Parallel()
	flat := make([]uint64, 256)
	flat[100] = 1000
	_, _, ok := clipRange(flat)
	require.False(t, ok, "one value: nothing to stretch")
	_, _, ok = clipRange(make([]uint64, 256))
	require.False(t, ok, "empty")

	two := make([]uint64, 256)
	two[10], two[200] = 500, 500
	lo, hi, ok := clipRange(two)
	require.True(t, ok)
	require.Equal(t, [2]int{10, 200}, [2]int{lo, hi})

	// An alpha band is passed through whatever its histogram says.
	a, b, _, _ := levelsFromHists([][]uint64{two, two, two, two})
	require.Equal(t, 1.0, a[3])
	require.Equal(t, 0.0, b[3])
	require.InDelta(t, 255.0/190, a[0], 1e-9)
}

func TestReadVipsHist(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := make([]byte, 64+256*3*4)
	copy(data, []byte{0xb6, 0xa6, 0xf2, 0x08})
	le := binary.LittleEndian
	le.PutUint32(data[4:], 256)
	le.PutUint32(data[8:], 1)
	le.PutUint32(data[12:], 3)
	le.PutUint32(data[20:], 4) // uint
	le.PutUint32(data[64+4*(5*3+1):], 42)
	p := filepath.Join(dir, "h.v")
	require.NoError(t, os.WriteFile(p, data, 0o644))
	h, err := readVipsHist(p)
	require.NoError(t, err)
	require.Len(t, h, 3)
	require.Equal(t, uint64(42), h[1][5])
	require.Zero(t, h[0][5])

	le.PutUint32(data[4:], 65536) // a 16-bit image's histogram
	require.NoError(t, os.WriteFile(p, data, 0o644))
	_, err = readVipsHist(p)
	require.ErrorContains(t, err, "8-bit")
	require.NoError(t, os.WriteFile(p, []byte("not vips"), 0o644))
	_, err = readVipsHist(p)
	require.ErrorContains(t, err, "not a little-endian vips image")
}

func TestDist(t *testing.T) {
	t.Parallel()
	require.Equal(t, Dist{Median: 2, Min: 1, Max: 9, Samples: []float64{9, 1, 2}}, dist([]float64{9, 1, 2}))
	require.Equal(t, 2.5, dist([]float64{4, 1, 2, 3}).Median)
	require.Equal(t, Dist{}, dist(nil))
}

// TestRunFloradAlone drives the whole benchmark through child processes
// (this test binary standing in for florad) on a small generated image.
func TestRunFloradAlone(t *testing.T) {
	t.Parallel()
	rep, err := Run(context.Background(), Config{
		Self: []string{os.Args[0]}, Dir: t.TempDir(), Width: 320, Height: 240, Runs: 2, Warmup: 1,
	})
	require.NoError(t, err)
	require.True(t, rep.Input.Generated)
	require.Equal(t, [2]int{320, 240}, [2]int{rep.Input.Width, rep.Input.Height})
	require.Equal(t, [2]int{640, 480}, [2]int{rep.Florad.OutWidth, rep.Florad.OutHeight}, "portrait-enhancer upscales 2×")
	require.Len(t, rep.Florad.WallMS.Samples, 2, "the warm-up is not counted")
	require.Positive(t, rep.Florad.WallMS.Min)
	require.Positive(t, rep.Florad.PeakRSS)
	require.True(t, rep.Pass)
	require.Nil(t, rep.Vips)
	require.Equal(t, "not requested", rep.VipsSkipped)

	var out bytes.Buffer
	require.NoError(t, rep.WriteText(&out))
	require.Contains(t, out.String(), "florad portrait-enhancer")
	require.Contains(t, out.String(), "PASS")
	require.Contains(t, out.String(), "vips not measured")
}

func TestChildMainRejectsBadArguments(t *testing.T) {
	t.Parallel()
	err := ChildMain(context.Background(), []string{"nope"}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "bad arguments")
}

func lookVips(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("vips")
	if err != nil {
		t.Skip("vips not installed (Debian: libvips-tools)")
	}
	return p
}

// TestVipsLevelsMatchAutoLevels checks the vips half of the levels step on
// a lossless input, where both tools see the same pixels: vips' histogram
// is read correctly and `vips linear` rounds as imageproc's table does.
func TestVipsLevelsMatchAutoLevels(t *testing.T) {
	t.Parallel()
	vips := lookVips(t)
	dir := t.TempDir()
	src := Photo(200, 150, 5)
	in := filepath.Join(dir, "in.png")
	writePNG(t, in, src)

	ctx := context.Background()
	run := func(args ...string) {
		out, err := exec.CommandContext(ctx, vips, args...).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	hist := filepath.Join(dir, "hist.v")
	run("hist_find", in, hist)
	got, err := readVipsHist(hist)
	require.NoError(t, err)
	require.Equal(t, histograms(src), got[:3], "PNG from Photo is opaque RGB(A)")

	a, b, _, _, err := levelsFromVipsHist(hist)
	require.NoError(t, err)
	lev := filepath.Join(dir, "lev.png")
	run("linear", "--uchar", in, lev, floats(a), "--", floats(b))
	f, err := os.Open(lev)
	require.NoError(t, err)
	defer f.Close()
	m, err := png.Decode(f)
	require.NoError(t, err)

	want := imageproc.AutoLevels(src)
	worst := 0
	for y := range 150 {
		for x := range 200 {
			r, g, bl, _ := m.At(x, y).RGBA()
			i := want.PixOffset(x, y)
			for c, v := range [3]uint32{r >> 8, g >> 8, bl >> 8} {
				worst = max(worst, abs(int(v)-int(want.Pix[i+c])))
			}
		}
	}
	require.LessOrEqual(t, worst, 1, "vips linear against imageproc.AutoLevels")
}

// TestRunWithVips runs the comparison end to end on a small image.
func TestRunWithVips(t *testing.T) {
	t.Parallel()
	vips := lookVips(t)
	rep, err := Run(context.Background(), Config{
		Self: []string{os.Args[0]}, Dir: t.TempDir(), Width: 160, Height: 120, Runs: 1, Warmup: 0, Vips: vips,
	})
	require.NoError(t, err)
	require.NotNil(t, rep.Vips)
	require.NotEmpty(t, rep.VipsVersion)
	require.Equal(t, [2]int{320, 240}, [2]int{rep.Vips.OutWidth, rep.Vips.OutHeight}, "same output size as florad")
	require.Len(t, rep.Vips.Steps, 5, "hist_find, thresholds, linear, sharpen, resize")
	require.Positive(t, rep.Vips.PeakRSS)
	require.Positive(t, rep.Ratio)
	require.Len(t, rep.VipsLo, 3)

	var out bytes.Buffer
	require.NoError(t, rep.WriteText(&out))
	require.Contains(t, out.String(), "vips resize vips-sharpened.v 'vips-out.jpg[Q=90,subsample-mode=on]' 2 --vscale 2 --kernel lanczos3")
}

func histograms(m *image.RGBA) [][]uint64 {
	h := [][]uint64{make([]uint64, 256), make([]uint64, 256), make([]uint64, 256)}
	for i := 0; i < len(m.Pix); i += 4 {
		for c := range 3 {
			h[c][m.Pix[i+c]]++
		}
	}
	return h
}

func writePNG(t *testing.T, path string, m image.Image) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, m))
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

func abs(v int) int { return max(v, -v) }
