package processor_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/processor"
	"github.com/florad/florad/internal/technique"
)

func text(s string) processor.Value { return processor.Value{Type: technique.TypeText, Text: s} }

func TestTextTemplateRenders(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		template string
		inputs   map[string]processor.Value
		want     string
	}{
		{
			name:     "trim and default with the optional input given",
			template: `{{trim .text}}, {{default "photorealistic" (trim .style)}} style`,
			inputs:   map[string]processor.Value{"text": text("  a cat  "), "style": text(" noir ")},
			want:     "a cat, noir style",
		},
		{
			name:     "default fills a missing optional input",
			template: `{{trim .text}}, {{default "photorealistic" (trim .style)}} style`,
			inputs:   map[string]processor.Value{"text": text("a cat")},
			want:     "a cat, photorealistic style",
		},
		{
			name:     "default fills a blank optional input",
			template: `{{default "photorealistic" .style}}`,
			inputs:   map[string]processor.Value{"text": text("x"), "style": text("   ")},
			want:     "photorealistic",
		},
		{
			name:     "missing optional inputs read empty",
			template: `[{{.subject}}][{{.extra}}]{{.text}}`,
			inputs:   map[string]processor.Value{"text": text("x")},
			want:     "[][]x",
		},
		{
			name:     "upper and lower",
			template: `{{upper .text}} {{lower .style}}`,
			inputs:   map[string]processor.Value{"text": text("cat"), "style": text("NOIR")},
			want:     "CAT noir",
		},
		{
			name:     "output is trimmed",
			template: "\n  {{.text}}  \n",
			inputs:   map[string]processor.Value{"text": text("x")},
			want:     "x",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var progress []float64
			out, err := processor.TextTemplate{}.Run(t.Context(), &processor.Call{
				Inputs:   tt.inputs,
				Params:   map[string]any{"template": tt.template},
				Progress: func(f float64) { progress = append(progress, f) },
			})
			require.NoError(t, err)
			require.Equal(t, map[string]processor.Value{"text": text(tt.want)}, out)
			require.Equal(t, []float64{1}, progress)
		})
	}
}

func TestTextTemplateEmptyOutputIsPermanentInputInvalid(t *testing.T) {
	t.Parallel()

	for _, tmpl := range []string{`{{.style}}`, `{{trim .style}}   `} {
		_, err := processor.TextTemplate{}.Run(t.Context(), &processor.Call{
			Inputs: map[string]processor.Value{"text": text("a cat")},
			Params: map[string]any{"template": tmpl},
		})
		var pe *processor.Error
		require.ErrorAs(t, err, &pe, tmpl)
		require.Equal(t, processor.CodeInputInvalid, pe.Code)
		require.False(t, pe.Transient)
		require.NotEmpty(t, pe.Message)
	}
}

func TestTextTemplateCheckParams(t *testing.T) {
	t.Parallel()

	good := map[string]any{"template": "{{.text}}"}
	require.NoError(t, processor.TextTemplate{}.CheckParams(good))

	for name, params := range map[string]map[string]any{
		"nil":            nil,
		"blank template": {"template": "   "},
		"unknown key":    {"template": "{{.text}}", "tone": "loud"},
		"wrong type":     {"template": 5},
		"bad syntax":     {"template": "{{.text"},
		"unknown func":   {"template": "{{shout .text}}"},
	} {
		require.Error(t, processor.TextTemplate{}.CheckParams(params), name)
	}
}

func TestTextTemplatePorts(t *testing.T) {
	t.Parallel()

	ports := processor.TextTemplate{}.InputPorts()
	require.Contains(t, ports, technique.Port{Name: "text", Type: technique.TypeText})
	require.Contains(t, ports, technique.Port{Name: "style", Type: technique.TypeText, Optional: true})
	require.Equal(t, []technique.Port{{Name: "text", Type: technique.TypeText}}, processor.TextTemplate{}.OutputPorts())
}
