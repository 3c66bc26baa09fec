package processor_test

import (
	"bytes"
	"image"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/imageproc"
	"github.com/florad/florad/internal/processor"
)

func decodeSize(t *testing.T, data []byte) image.Point {
	t.Helper()
	img, _, err := imageproc.Decode(bytes.NewReader(data), 100_000_000)
	require.NoError(t, err)
	return img.Bounds().Size()
}

func TestImageOpsGeometry(t *testing.T) {
	t.Parallel()
	in := pngOf(t, 200, 100)
	tests := []struct {
		name string
		op   map[string]any
		want image.Point
	}{
		{"crop", map[string]any{"crop": map[string]any{"x": 10, "y": 10, "width": 50, "height": 40}}, image.Pt(50, 40)},
		{"crop_aspect 1:1", map[string]any{"crop_aspect": map[string]any{"ratio": "1:1"}}, image.Pt(100, 100)},
		{"crop_aspect 4:5", map[string]any{"crop_aspect": map[string]any{"ratio": "4:5"}}, image.Pt(80, 100)},
		{"crop_aspect 9:16", map[string]any{"crop_aspect": map[string]any{"ratio": "9:16"}}, image.Pt(54, 96)},
		{"pad_aspect 1:1", map[string]any{"pad_aspect": map[string]any{"ratio": "1:1", "background": "#ffffff"}}, image.Pt(200, 200)},
		{"rotate 90", map[string]any{"rotate": map[string]any{"degrees": 90}}, image.Pt(100, 200)},
		{"flip", map[string]any{"flip": map[string]any{"direction": "vertical"}}, image.Pt(200, 100)},
		{"grayscale", map[string]any{"grayscale": map[string]any{}}, image.Pt(200, 100)},
		{"brightness", map[string]any{"brightness": map[string]any{"percent": 20}}, image.Pt(200, 100)},
		{"contrast", map[string]any{"contrast": map[string]any{"percent": -20}}, image.Pt(200, 100)},
		{"saturation", map[string]any{"saturation": map[string]any{"percent": 50}}, image.Pt(200, 100)},
		{"text", map[string]any{"text": map[string]any{"text": "Sale", "x": 5, "y": 5, "size": 20, "color": "#ff0000"}}, image.Pt(200, 100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			params := map[string]any{"ops": ops(tt.op), "format": "png"}
			require.NoError(t, processor.ImagePipeline{}.CheckParams(params))
			out, err := processor.ImagePipeline{}.Run(t.Context(), &processor.Call{
				Inputs: map[string]processor.Value{"image": imageValue(in)}, Params: params})
			require.NoError(t, err)
			got := decodeSize(t, out["image"].Data)
			// Exact ratios may drop up to a few pixels, never more.
			require.InDelta(t, tt.want.X, got.X, 2, "width")
			require.InDelta(t, tt.want.Y, got.Y, 2, "height")
		})
	}
}

func TestImageOpsRejectBadArguments(t *testing.T) {
	t.Parallel()
	for _, op := range []map[string]any{
		{"crop": map[string]any{"x": -1, "y": 0, "width": 5, "height": 5}},
		{"crop_aspect": map[string]any{"ratio": "wide"}},
		{"pad_aspect": map[string]any{"ratio": "1:1", "background": "white"}},
		{"rotate": map[string]any{"degrees": 45}},
		{"flip": map[string]any{"direction": "diagonal"}},
		{"brightness": map[string]any{"percent": 500}},
		{"text": map[string]any{"text": ""}},
		{"grayscale": map[string]any{"amount": 1}},
	} {
		require.Error(t, processor.ImagePipeline{}.CheckParams(map[string]any{"ops": ops(op)}), "%v", op)
	}
}

func TestImageCompositeLaysOverlayOnBase(t *testing.T) {
	t.Parallel()
	base, overlay := pngOf(t, 120, 80), pngOf(t, 40, 20)
	m := processor.ImageComposite{}
	params := map[string]any{"x": 10, "y": 10, "opacity": 0.5, "overlay_width": 60}
	require.NoError(t, m.CheckParams(params))
	require.Error(t, m.CheckParams(map[string]any{"opacity": 2}))
	out, err := m.Run(t.Context(), &processor.Call{Params: params, Inputs: map[string]processor.Value{
		"base": imageValue(base), "overlay": imageValue(overlay)}})
	require.NoError(t, err)
	require.Equal(t, "image/png", out["image"].ContentType)
	require.Equal(t, image.Pt(120, 80), decodeSize(t, out["image"].Data))

	_, err = m.Run(t.Context(), &processor.Call{Params: params, Inputs: map[string]processor.Value{
		"base": imageValue([]byte("not an image")), "overlay": imageValue(overlay)}})
	var pe *processor.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, processor.CodeInputInvalid, pe.Code)
}
