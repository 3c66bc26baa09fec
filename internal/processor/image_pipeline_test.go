package processor_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/technique"
	"github.com/florad/florad/techniques"
)

// pngOf encodes a w×h gradient, so levels and sharpening have something
// to work on.
func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(40 + 150*x/w), G: uint8(60 + 120*y/h), B: 90, A: 255})
		}
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}

func imageValue(data []byte) processor.Value {
	return processor.Value{Type: technique.TypeImageURL, Data: data, ContentType: "image/png"}
}

// ops builds params the way the YAML decoder hands them over.
func ops(list ...map[string]any) []any {
	out := make([]any, 0, len(list))
	for _, o := range list {
		out = append(out, o)
	}
	return out
}

func TestImagePipelineRuns(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		params map[string]any
		wantW  int
		wantH  int
		format string
		ct     string
	}{
		{
			name: "levels, sharpen and a 2x upscale to JPEG",
			params: map[string]any{"ops": ops(
				map[string]any{"auto_levels": map[string]any{}},
				map[string]any{"sharpen": map[string]any{"sigma": 1.5, "amount": 0.8}},
				map[string]any{"upscale": map[string]any{"factor": 2}},
			), "format": "jpeg", "quality": 85},
			wantW: 80, wantH: 60, format: "jpeg", ct: "image/jpeg",
		},
		{
			name:   "upscale defaults to 2 and format to JPEG",
			params: map[string]any{"ops": ops(map[string]any{"upscale": nil})},
			wantW:  80, wantH: 60, format: "jpeg", ct: "image/jpeg",
		},
		{
			name:   "upscale 4",
			params: map[string]any{"ops": ops(map[string]any{"upscale": map[string]any{"factor": 4}})},
			wantW:  160, wantH: 120, format: "jpeg", ct: "image/jpeg",
		},
		{
			name:   "resize to PNG",
			params: map[string]any{"ops": ops(map[string]any{"resize": map[string]any{"width": 10, "height": 7}}), "format": "png"},
			wantW:  10, wantH: 7, format: "png", ct: "image/png",
		},
		{
			name:   "fill crops to the exact size",
			params: map[string]any{"ops": ops(map[string]any{"fill": map[string]any{"width": 20, "height": 20}})},
			wantW:  20, wantH: 20, format: "jpeg", ct: "image/jpeg",
		},
		{
			name:   "fit keeps the aspect ratio",
			params: map[string]any{"ops": ops(map[string]any{"fit": map[string]any{"width": 20, "height": 20}})},
			wantW:  20, wantH: 15, format: "jpeg", ct: "image/jpeg",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.NoError(t, processor.ImagePipeline{}.CheckParams(tt.params))

			var progress []float64
			out, err := processor.ImagePipeline{}.Run(t.Context(), &processor.Call{
				Inputs:   map[string]processor.Value{"image": imageValue(pngOf(t, 40, 30))},
				Params:   tt.params,
				Progress: func(f float64) { progress = append(progress, f) },
			})
			require.NoError(t, err)
			v := out["image"]
			require.Equal(t, technique.TypeImageURL, v.Type)
			require.Equal(t, tt.ct, v.ContentType)
			cfg, format, err := image.DecodeConfig(bytes.NewReader(v.Data))
			require.NoError(t, err)
			require.Equal(t, tt.format, format)
			require.Equal(t, tt.wantW, cfg.Width)
			require.Equal(t, tt.wantH, cfg.Height)

			require.NotEmpty(t, progress)
			require.IsIncreasing(t, progress)
			require.InDelta(t, 1.0, progress[len(progress)-1], 0)
		})
	}
}

// TestPortraitEnhancerDoublesTheImage runs the built-in technique's own
// parameters, as the catalog promises: "twice the width and height".
func TestPortraitEnhancerDoublesTheImage(t *testing.T) {
	t.Parallel()

	c, err := technique.LoadDir(techniques.FS, ".", withProviders(processor.Builtin()))
	require.NoError(t, err)
	pe, ok := c.Get("portrait-enhancer")
	require.True(t, ok)

	out, err := processor.ImagePipeline{}.Run(t.Context(), &processor.Call{
		Inputs: map[string]processor.Value{"image": imageValue(pngOf(t, 64, 48))},
		Params: pe.Steps[0].Params,
	})
	require.NoError(t, err)
	cfg, format, err := image.DecodeConfig(bytes.NewReader(out["image"].Data))
	require.NoError(t, err)
	require.Equal(t, "jpeg", format)
	require.Equal(t, 128, cfg.Width)
	require.Equal(t, 96, cfg.Height)
}

func TestImagePipelineBadInputIsPermanentInputInvalid(t *testing.T) {
	t.Parallel()

	params := map[string]any{"ops": ops(map[string]any{"auto_levels": nil})}
	tests := map[string]struct {
		pipeline processor.ImagePipeline
		data     []byte
	}{
		"not an image":    {data: []byte("<html>definitely not a picture</html>")},
		"empty":           {data: nil},
		"truncated PNG":   {data: pngOf(t, 40, 30)[:60]},
		"too many pixels": {pipeline: processor.ImagePipeline{MaxPixels: 100}, data: pngOf(t, 40, 30)},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.pipeline.Run(t.Context(), &processor.Call{
				Inputs: map[string]processor.Value{"image": imageValue(tt.data)},
				Params: params,
			})
			var pe *processor.Error
			require.ErrorAs(t, err, &pe)
			require.Equal(t, processor.CodeInputInvalid, pe.Code)
			require.False(t, pe.Transient)
		})
	}
}

func TestImagePipelineCheckParams(t *testing.T) {
	t.Parallel()

	tests := map[string]struct {
		params map[string]any
		want   string
	}{
		"no params":         {params: nil, want: "ops must list at least one operation"},
		"empty ops":         {params: map[string]any{"ops": []any{}}, want: "ops must list at least one operation"},
		"unknown op":        {params: map[string]any{"ops": ops(map[string]any{"no_such_op": nil})}, want: `ops[0]: unknown operation "no_such_op"`},
		"two ops in one":    {params: map[string]any{"ops": ops(map[string]any{"auto_levels": nil, "upscale": nil})}, want: "ops[0] must have exactly one key"},
		"unknown top key":   {params: map[string]any{"ops": ops(map[string]any{"auto_levels": nil}), "qualty": 80}, want: `unknown field "qualty"`},
		"unknown op arg":    {params: map[string]any{"ops": ops(map[string]any{"upscale": map[string]any{"factr": 2}})}, want: `ops[0]: unknown field "factr"`},
		"args on no-arg op": {params: map[string]any{"ops": ops(map[string]any{"auto_levels": map[string]any{"x": 1}})}, want: `unknown field "x"`},
		"upscale factor 3":  {params: map[string]any{"ops": ops(map[string]any{"upscale": map[string]any{"factor": 3}})}, want: "factor must be 2 or 4"},
		"sharpen sigma 0":   {params: map[string]any{"ops": ops(map[string]any{"sharpen": map[string]any{"sigma": 0}})}, want: "sigma must be in (0, 10]"},
		"sharpen amount 9":  {params: map[string]any{"ops": ops(map[string]any{"sharpen": map[string]any{"amount": 9}})}, want: "amount in (0, 5]"},
		"resize no height":  {params: map[string]any{"ops": ops(map[string]any{"resize": map[string]any{"width": 10}})}, want: "resize: width and height must be from 1 to 16384"},
		"fit too wide":      {params: map[string]any{"ops": ops(map[string]any{"fit": map[string]any{"width": 20000, "height": 10}})}, want: "fit: width and height"},
		"format gif":        {params: map[string]any{"ops": ops(map[string]any{"auto_levels": nil}), "format": "gif"}, want: `format must be jpeg or png, not "gif"`},
		"quality 101":       {params: map[string]any{"ops": ops(map[string]any{"auto_levels": nil}), "quality": 101}, want: "quality must be from 1 to 100"},
		"quality negative":  {params: map[string]any{"ops": ops(map[string]any{"auto_levels": nil}), "quality": -1}, want: "quality must be from 1 to 100"},
		"quality a string":  {params: map[string]any{"ops": ops(map[string]any{"auto_levels": nil}), "quality": "high"}, want: "quality: must be int"},
		"factor a string":   {params: map[string]any{"ops": ops(map[string]any{"upscale": map[string]any{"factor": "two"}})}, want: "factor: must be int"},
		"ops not a list":    {params: map[string]any{"ops": "auto_levels"}, want: "ops"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := processor.ImagePipeline{}.CheckParams(tt.params)
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), "json:")
		})
	}
}

func TestImagePipelinePorts(t *testing.T) {
	t.Parallel()

	p := processor.ImagePipeline{}
	require.Equal(t, []technique.Port{{Name: "image", Type: technique.TypeImageURL}}, p.InputPorts())
	require.Equal(t, []technique.Port{{Name: "image", Type: technique.TypeImageURL}}, p.OutputPorts())
	require.Empty(t, p.Unavailable())
	require.Subset(t, processor.Builtin().Names(), []string{"image.pipeline", "text.template"})
}
