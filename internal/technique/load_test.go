package technique_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/provider"
	"github.com/florad/florad/internal/technique"
	"github.com/florad/florad/techniques"
)

// header is the part of a definition most cases share: two inputs of
// different types, so bindings can be both right and wrongly typed.
const header = `slug: demo
name: Demo
credits: 1
inputs:
  - {id: prompt, name: Prompt, type: text}
  - {id: photo, name: Photo, type: imageUrl, optional: true}
`

// textOutput binds the technique's one output to step "a".
const textOutput = `outputs:
  - {id: result, name: Result, type: text, from: steps.a.text}
`

// goodDoc is a valid definition; each bad case changes one thing of it.
const goodDoc = header + textOutput + `steps:
  - id: a
    model: text.template
    inputs: {text: inputs.prompt}
    params: {template: "{{.text}}"}
`

func TestParseAcceptsGoodDefinition(t *testing.T) {
	t.Parallel()

	tech, err := technique.Parse("good.yaml", []byte(goodDoc), provider.Registry(provider.Config{}))
	require.NoError(t, err)
	require.Equal(t, "tech_demo", tech.ID)
	require.Equal(t, "demo", tech.Slug)
	require.Equal(t, int64(1), tech.Credits)
	require.Equal(t, "good.yaml", tech.Source)
	require.NotEmpty(t, tech.Version)
	require.Len(t, tech.Steps, 1)
	require.Equal(t, "steps.a.text", tech.Outputs[0].From)

	// The version is a hash of the source: any edit changes it.
	other, err := technique.Parse("good.yaml", []byte(goodDoc+"\n# edited\n"), provider.Registry(provider.Config{}))
	require.NoError(t, err)
	require.NotEqual(t, tech.Version, other.Version)
}

// TestParseRejects feeds one defect at a time. Each message must name the
// file, and the step and field at fault, so an author can fix it without
// guessing.
func TestParseRejects(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		doc  string
		// want are substrings the error must contain, besides the file name.
		want []string
	}{
		{
			name: "unknown top-level key",
			doc:  goodDoc + "colour: red\n",
			want: []string{"line 14: field colour not found at the top level"},
		},
		{
			name: "unknown step key",
			doc: header + textOutput + `steps:
  - id: a
    modle: text.template
    inputs: {text: inputs.prompt}
`,
			want: []string{"line 11: field modle not found in a step"},
		},
		{
			name: "unknown input key",
			doc:  strings.Replace(goodDoc, "type: text}", "type: text, optinal: true}", 1),
			want: []string{"line 5: field optinal not found in an input or output"},
		},
		{
			name: "unknown model",
			doc: header + textOutput + `steps:
  - id: a
    model: text.templat
    inputs: {text: inputs.prompt}
`,
			want: []string{`step "a": model: unknown model "text.templat"`},
		},
		{
			name: "binding to an unknown technique input",
			doc: header + textOutput + `steps:
  - id: a
    model: text.template
    inputs: {text: inputs.nope}
    params: {template: "{{.text}}"}
`,
			want: []string{`step "a": inputs.text: "inputs.nope" names no technique input`},
		},
		{
			name: "binding to an unknown step",
			doc: header + textOutput + `steps:
  - id: a
    model: text.template
    inputs: {text: steps.ghost.text}
    params: {template: "{{.text}}"}
`,
			want: []string{`step "a": inputs.text: "steps.ghost.text" names no step`},
		},
		{
			name: "binding to an unknown port of a step",
			doc: header + textOutput + `steps:
  - id: a
    model: text.template
    inputs: {text: steps.b.image}
    params: {template: "{{.text}}"}
  - id: b
    model: text.template
    inputs: {text: inputs.prompt}
    params: {template: "{{.text}}"}
`,
			want: []string{`step "a": inputs.text: "steps.b.image" names no output of step "b"`},
		},
		{
			name: "binding an unknown model port",
			doc: header + textOutput + `steps:
  - id: a
    model: text.template
    inputs: {text: inputs.prompt, colour: inputs.prompt}
    params: {template: "{{.text}}"}
`,
			want: []string{`step "a": inputs.colour: model text.template has no input "colour"`},
		},
		{
			name: "malformed binding",
			doc: header + textOutput + `steps:
  - id: a
    model: text.template
    inputs: {text: prompt}
    params: {template: "{{.text}}"}
`,
			want: []string{`step "a": inputs.text: "prompt" is not of the form`},
		},
		{
			name: "wrong-typed binding",
			doc: header + textOutput + `steps:
  - id: a
    model: text.template
    inputs: {text: inputs.photo}
    params: {template: "{{.text}}"}
`,
			want: []string{`step "a": inputs.text: "inputs.photo" is imageUrl but the model wants text`},
		},
		{
			name: "unbound required model input",
			doc: header + textOutput + `steps:
  - id: a
    model: text.template
    inputs: {style: inputs.prompt}
    params: {template: "{{.style}}"}
`,
			want: []string{`step "a": inputs.text: required model input is not bound`},
		},
		{
			name: "cycle of two steps",
			doc: header + textOutput + `steps:
  - id: a
    model: text.template
    inputs: {text: steps.b.text}
    params: {template: "{{.text}}"}
  - id: b
    model: text.template
    inputs: {text: steps.a.text}
    params: {template: "{{.text}}"}
`,
			want: []string{"steps form a cycle: a → b → a"},
		},
		{
			name: "self-loop",
			doc: header + textOutput + `steps:
  - id: a
    model: text.template
    inputs: {text: steps.a.text}
    params: {template: "{{.text}}"}
`,
			want: []string{"steps form a cycle: a → a"},
		},
		{
			name: "output bound to nothing",
			doc: header + `outputs:
  - {id: result, name: Result, type: text}
steps:
  - id: a
    model: text.template
    inputs: {text: inputs.prompt}
    params: {template: "{{.text}}"}
`,
			want: []string{`output "result": from: is bound to nothing`},
		},
		{
			name: "output bound to a technique input",
			doc: header + `outputs:
  - {id: result, name: Result, type: text, from: inputs.prompt}
steps:
  - id: a
    model: text.template
    inputs: {text: inputs.prompt}
    params: {template: "{{.text}}"}
`,
			want: []string{`output "result": from: must name a step output, not an input`},
		},
		{
			name: "output of the wrong type",
			doc: header + `outputs:
  - {id: result, name: Result, type: imageUrl, from: steps.a.text}
steps:
  - id: a
    model: text.template
    inputs: {text: inputs.prompt}
    params: {template: "{{.text}}"}
`,
			want: []string{`output "result": from: "steps.a.text" is text but the output is imageUrl`},
		},
		{
			name: "bad slug",
			doc:  strings.Replace(goodDoc, "slug: demo", "slug: Demo Technique", 1),
			want: []string{`slug "Demo Technique" must be lower-case letters, digits and dashes`},
		},
		{
			name: "duplicate input ids",
			doc: `slug: demo
name: Demo
credits: 1
inputs:
  - {id: prompt, name: Prompt, type: text}
  - {id: prompt, name: Again, type: text}
` + textOutput + `steps:
  - id: a
    model: text.template
    inputs: {text: inputs.prompt}
    params: {template: "{{.text}}"}
`,
			want: []string{`inputs[1]: duplicate id "prompt"`},
		},
		{
			name: "duplicate output ids",
			doc: header + `outputs:
  - {id: result, name: Result, type: text, from: steps.a.text}
  - {id: result, name: Again, type: text, from: steps.a.text}
steps:
  - id: a
    model: text.template
    inputs: {text: inputs.prompt}
    params: {template: "{{.text}}"}
`,
			want: []string{`outputs[1]: duplicate id "result"`},
		},
		{
			name: "duplicate step ids",
			doc: goodDoc + `  - id: a
    model: text.template
    inputs: {text: inputs.prompt}
    params: {template: "{{.text}}"}
`,
			want: []string{`step "a": duplicate step id`},
		},
		{
			name: "bad step id",
			doc: header + textOutput + `steps:
  - id: 9lives
    model: text.template
    inputs: {text: inputs.prompt}
    params: {template: "{{.text}}"}
`,
			want: []string{`steps[0]: id "9lives" must be a letter or _`},
		},
		{
			name: "negative credits",
			doc:  strings.Replace(goodDoc, "credits: 1", "credits: -1", 1),
			want: []string{"credits must not be negative"},
		},
		{
			name: "missing credits",
			doc:  strings.Replace(goodDoc, "credits: 1\n", "", 1),
			want: []string{"credits is required"},
		},
		{
			name: "unknown io type",
			doc:  strings.Replace(goodDoc, "type: text}", "type: TEXT}", 1),
			want: []string{`inputs[0]: type "TEXT" is not one of`},
		},
		{
			name: "image.pipeline unknown op",
			doc: header + `outputs:
  - {id: result, name: Result, type: imageUrl, from: steps.img.image}
steps:
  - id: img
    model: image.pipeline
    inputs: {image: inputs.photo}
    params:
      ops:
        - no_such_op: {radius: 2}
`,
			want: []string{`step "img": params: ops[0]: unknown operation "no_such_op"`},
		},
		{
			name: "image.pipeline unknown param key",
			doc: header + `outputs:
  - {id: result, name: Result, type: imageUrl, from: steps.img.image}
steps:
  - id: img
    model: image.pipeline
    inputs: {image: inputs.photo}
    params:
      ops: [{auto_levels: {}}]
      qualty: 80
`,
			want: []string{`step "img": params: unknown field "qualty"`},
		},
		{
			name: "image.pipeline bad op value",
			doc: header + `outputs:
  - {id: result, name: Result, type: imageUrl, from: steps.img.image}
steps:
  - id: img
    model: image.pipeline
    inputs: {image: inputs.photo}
    params:
      ops: [{upscale: {factor: 3}}]
`,
			want: []string{`step "img": params: ops[0]: upscale: factor must be 2 or 4`},
		},
		{
			name: "text.template without a template",
			doc: header + textOutput + `steps:
  - id: a
    model: text.template
    inputs: {text: inputs.prompt}
`,
			want: []string{`step "a": params: template is required`},
		},
		{
			name: "text.template that does not parse",
			doc: header + textOutput + `steps:
  - id: a
    model: text.template
    inputs: {text: inputs.prompt}
    params: {template: "{{.text"}
`,
			want: []string{`step "a": params: template:`},
		},
		{
			name: "text.template unknown param key",
			doc: header + textOutput + `steps:
  - id: a
    model: text.template
    inputs: {text: inputs.prompt}
    params: {template: "{{.text}}", tone: loud}
`,
			want: []string{`step "a": params: unknown field "tone"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := technique.Parse("techniques/bad.yaml", []byte(tt.doc), provider.Registry(provider.Config{}))
			require.Error(t, err)
			require.Contains(t, err.Error(), "techniques/bad.yaml: ")
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestParseReportsEveryDefectAtOnce(t *testing.T) {
	t.Parallel()

	doc := strings.NewReplacer("slug: demo", "slug: Bad Slug", "credits: 1", "credits: -5").Replace(goodDoc)
	_, err := technique.Parse("x.yaml", []byte(doc), provider.Registry(provider.Config{}))
	require.ErrorContains(t, err, "slug")
	require.ErrorContains(t, err, "credits must not be negative")
}

func TestBuiltinTechniquesLoad(t *testing.T) {
	t.Parallel()

	c, err := technique.LoadDir(techniques.FS, ".", provider.Registry(provider.Config{}))
	require.NoError(t, err)

	// Every file of the folder is in the catalog.
	defs, err := fs.Glob(techniques.FS, "*.yaml")
	require.NoError(t, err)
	require.Len(t, c.All(), len(defs))
	require.GreaterOrEqual(t, len(defs), 2)

	pe, ok := c.Get("portrait-enhancer")
	require.True(t, ok)
	require.Equal(t, "tech_portrait-enhancer", pe.ID)
	require.Empty(t, pe.Unavailable)
	require.Equal(t, []technique.IO{{ID: "input_image", Name: "Input Image", Type: technique.TypeImageURL,
		Description: pe.Inputs[0].Description}}, pe.Inputs)
	require.Equal(t, "output_image", pe.Outputs[0].ID)
	require.Equal(t, technique.TypeImageURL, pe.Outputs[0].Type)

	px, ok := c.Get("prompt-expander")
	require.True(t, ok)
	require.Len(t, px.Inputs, 2)
	require.Equal(t, "prompt", px.Inputs[0].ID)
	require.False(t, px.Inputs[0].Optional)
	require.Equal(t, "style", px.Inputs[1].ID)
	require.True(t, px.Inputs[1].Optional)
	require.Equal(t, "expanded_prompt", px.Outputs[0].ID)
	require.Equal(t, technique.TypeText, px.Outputs[0].Type)
}

func TestLoadDirNamesTheBadFile(t *testing.T) {
	t.Parallel()

	fsys := fstest.MapFS{
		"defs/good.yaml":   {Data: []byte(goodDoc)},
		"defs/broken.yaml": {Data: []byte(goodDoc + "colour: red\n")},
	}
	_, err := technique.LoadDir(fsys, "defs", provider.Registry(provider.Config{}))
	require.ErrorContains(t, err, "defs/broken.yaml: ")
}

func TestLoadDirRefusesDuplicateSlugs(t *testing.T) {
	t.Parallel()

	fsys := fstest.MapFS{
		"defs/one.yaml":   {Data: []byte(goodDoc)},
		"defs/two.yml":    {Data: []byte(goodDoc)},
		"defs/readme.txt": {Data: []byte("not a technique")},
	}
	_, err := technique.LoadDir(fsys, "defs", provider.Registry(provider.Config{}))
	require.ErrorContains(t, err, `defs/two.yml: slug "demo" is already defined by defs/one.yaml`)
}

// FuzzParse feeds arbitrary YAML to Parse. A definition it accepts must be
// runnable by construction, checked here without Parse's own code: known
// models, bindings to existing inputs and step outputs of the right type,
// outputs bound to step outputs, an acyclic graph, and the same result when
// parsed again. A refusal names the file and stays proportional to it.
func FuzzParse(f *testing.F) {
	f.Add([]byte(goodDoc))
	defs, err := fs.Glob(techniques.FS, "*.yaml")
	require.NoError(f, err)
	for _, name := range defs {
		data, err := fs.ReadFile(techniques.FS, name)
		require.NoError(f, err)
		f.Add(data)
	}
	for _, doc := range []string{
		goodDoc + "colour: red\n",
		strings.Replace(goodDoc, "credits: 1", "credits: -1", 1),
		strings.Replace(goodDoc, "inputs.prompt", "steps.a.text", 1),
		header + textOutput + "steps:\n  - id: a\n    model: text.template\n    inputs: {text: steps.b.text}\n" +
			"    params: {template: \"{{.text}}\"}\n  - id: b\n    model: text.template\n    inputs: {text: steps.a.text}\n" +
			"    params: {template: \"{{.text}}\"}\n",
		"a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [*c, *c, *c, *c]\n",
		"slug: &s demo\nname: *s\ncredits: 1\ninputs: &i [{id: p, name: P, type: text}]\noutputs: *i\n",
		"{{{{[[[[", "slug: [", "- - - -", "\t", "%YAML 1.2\n---\nslug: x\n...\n---\nslug: y\n", "",
	} {
		f.Add([]byte(doc))
	}
	models := provider.Registry(provider.Config{})
	slug := regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	id := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,63}$`)
	types := []string{technique.TypeImageURL, technique.TypeVideoURL, technique.TypeAudioURL, technique.TypeDocumentURL, technique.TypeText}

	f.Fuzz(func(t *testing.T, data []byte) {
		tech, err := technique.Parse("fuzz.yaml", data, models)
		if err != nil {
			require.True(t, strings.HasPrefix(err.Error(), "fuzz.yaml: "), err.Error())
			require.LessOrEqual(t, len(err.Error()), 16*len(data)+4096, "a %d byte file got a %d byte error", len(data), len(err.Error()))
			return
		}
		require.Regexp(t, slug, tech.Slug)
		require.Equal(t, "tech_"+tech.Slug, tech.ID)
		require.NotEmpty(t, strings.TrimSpace(tech.Name))
		require.GreaterOrEqual(t, tech.Credits, int64(0))
		sum := sha256.Sum256(data)
		require.Equal(t, hex.EncodeToString(sum[:8]), tech.Version)
		require.NotEmpty(t, tech.Inputs)
		require.NotEmpty(t, tech.Outputs)

		inputs := map[string]string{}
		for _, in := range tech.Inputs {
			require.Regexp(t, id, in.ID)
			require.NotContains(t, inputs, in.ID)
			require.Contains(t, types, in.Type)
			inputs[in.ID] = in.Type
		}
		// Every step's model is known; its output ports by step.
		ports := map[string]map[string]string{}
		for _, s := range tech.Steps {
			require.NotContains(t, ports, s.ID)
			m, ok := models.Model(s.Model)
			require.True(t, ok, s.Model)
			ports[s.ID] = map[string]string{}
			for _, p := range m.OutputPorts() {
				ports[s.ID][p.Name] = p.Type
			}
		}
		// A binding's type, and the step it waits for ("" for an input).
		bound := func(ref string) (typ, dep string) {
			parts := strings.Split(ref, ".")
			switch {
			case len(parts) == 2 && parts[0] == "inputs":
				typ, ok := inputs[parts[1]]
				require.True(t, ok, ref)
				return typ, ""
			case len(parts) == 3 && parts[0] == "steps":
				typ, ok := ports[parts[1]][parts[2]]
				require.True(t, ok, ref)
				return typ, parts[1]
			}
			require.Fail(t, "binding of no known form", ref)
			return "", ""
		}
		waits := map[string]map[string]bool{}
		for _, s := range tech.Steps {
			m, _ := models.Model(s.Model)
			want := map[string]string{}
			for _, p := range m.InputPorts() {
				want[p.Name] = p.Type
				if !p.Optional {
					require.Contains(t, s.Inputs, p.Name, "step %s", s.ID)
				}
			}
			waits[s.ID] = map[string]bool{}
			for port, ref := range s.Inputs {
				typ, dep := bound(ref)
				require.Equal(t, want[port], typ, "step %s input %s", s.ID, port)
				if dep != "" {
					waits[s.ID][dep] = true
				}
			}
		}
		outputs := map[string]bool{}
		for _, o := range tech.Outputs {
			require.Regexp(t, id, o.ID)
			require.False(t, outputs[o.ID])
			outputs[o.ID] = true
			require.False(t, o.Optional)
			require.True(t, strings.HasPrefix(o.From, "steps."), o.From)
			typ, _ := bound(o.From)
			require.Equal(t, o.Type, typ)
		}
		// The steps can run in some order: take a step whose dependencies
		// are done until none is left.
		done := map[string]bool{}
		for len(done) < len(tech.Steps) {
			progressed := false
			for _, s := range tech.Steps {
				if done[s.ID] {
					continue
				}
				ready := true
				for dep := range waits[s.ID] {
					ready = ready && done[dep]
				}
				if ready {
					done[s.ID], progressed = true, true
				}
			}
			require.True(t, progressed, "the steps form a cycle")
		}

		again, err := technique.Parse("fuzz.yaml", data, models)
		require.NoError(t, err)
		require.Equal(t, tech, again)
	})
}
