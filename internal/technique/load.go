package technique

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// file is the YAML format of a technique; docs/techniques.md describes it.
type file struct {
	Slug        string     `yaml:"slug"`
	Name        string     `yaml:"name"`
	Description string     `yaml:"description"`
	Credits     *int64     `yaml:"credits"`
	Inputs      []fileIO   `yaml:"inputs"`
	Outputs     []fileIO   `yaml:"outputs"`
	Steps       []fileStep `yaml:"steps"`
}

type fileIO struct {
	ID          string `yaml:"id"`
	Name        string `yaml:"name"`
	Type        string `yaml:"type"`
	Description string `yaml:"description"`
	Optional    bool   `yaml:"optional"`
	From        string `yaml:"from"`
}

type fileStep struct {
	ID     string            `yaml:"id"`
	Model  string            `yaml:"model"`
	Inputs map[string]string `yaml:"inputs"`
	Params map[string]any    `yaml:"params"`
}

var (
	slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	idPattern   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,63}$`)
)

// Parse reads and checks one technique definition. source names the file in
// every error message. Nothing is accepted that could fail later for a
// reason visible now: unknown keys, unknown models, bindings to nothing or of
// the wrong type, cycles, and outputs bound to nothing are all refused.
func Parse(source string, data []byte, models Models) (*Technique, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", source, cleanYAMLError(err))
	}
	sum := sha256.Sum256(data)
	t := &Technique{
		ID:          "tech_" + f.Slug,
		Slug:        f.Slug,
		Name:        f.Name,
		Description: strings.TrimSpace(f.Description),
		Version:     hex.EncodeToString(sum[:8]),
		Source:      source,
	}
	c := &checker{source: source}
	c.check(f, t, models)
	if err := c.err(); err != nil {
		return nil, err
	}
	return t, nil
}

func cleanYAMLError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		// yaml.v3 names our Go types; say where in the file instead.
		// Longer names first: technique.file is a prefix of the others.
		r := strings.NewReplacer("in type technique.fileStep", "in a step", "in type technique.fileIO",
			"in an input or output", "in type technique.file", "at the top level")
		return fmt.Errorf("%s", r.Replace(strings.Join(te.Errors, "; ")))
	}
	return err
}

type checker struct {
	source string
	errs   []string
}

func (c *checker) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

func (c *checker) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s", c.source, strings.Join(c.errs, "; "))
}

func validType(t string) bool {
	switch t {
	case TypeImageURL, TypeVideoURL, TypeAudioURL, TypeDocumentURL, TypeText:
		return true
	}
	return false
}

func (c *checker) check(f file, t *Technique, models Models) {
	if !slugPattern.MatchString(f.Slug) {
		c.fail("slug %q must be lower-case letters, digits and dashes", f.Slug)
	}
	if strings.TrimSpace(f.Name) == "" {
		c.fail("name is required")
	}
	if f.Credits == nil {
		c.fail("credits is required")
	} else if *f.Credits < 0 {
		c.fail("credits must not be negative")
	} else {
		t.Credits = *f.Credits
	}
	if len(f.Inputs) == 0 {
		c.fail("at least one input is required")
	}
	t.Inputs = c.ios("inputs", f.Inputs, false)
	if len(f.Outputs) == 0 {
		c.fail("at least one output is required")
	}
	t.Outputs = c.ios("outputs", f.Outputs, true)

	stepOut, specs := c.stepModels(f, t, models)

	deps := map[string][]string{}
	for _, s := range f.Steps {
		m := specs[s.ID]
		if m == nil {
			continue
		}
		where := fmt.Sprintf("step %q", s.ID)
		ports := map[string]Port{}
		for _, p := range m.InputPorts() {
			ports[p.Name] = p
		}
		for name, ref := range s.Inputs {
			p, ok := ports[name]
			if !ok {
				c.fail("%s: inputs.%s: model %s has no input %q", where, name, s.Model, name)
				continue
			}
			typ, dep, msg := c.resolve(ref, t, stepOut)
			if msg != "" {
				c.fail("%s: inputs.%s: %s", where, name, msg)
				continue
			}
			if typ != p.Type {
				c.fail("%s: inputs.%s: %q is %s but the model wants %s", where, name, ref, typ, p.Type)
			}
			if dep != "" {
				deps[s.ID] = append(deps[s.ID], dep)
			}
		}
		for _, p := range m.InputPorts() {
			if _, bound := s.Inputs[p.Name]; !bound && !p.Optional {
				c.fail("%s: inputs.%s: required model input is not bound", where, p.Name)
			}
		}
		if err := m.CheckParams(s.Params); err != nil {
			c.fail("%s: params: %v", where, err)
		}
		t.Steps = append(t.Steps, Step(s))
	}

	for _, o := range t.Outputs {
		typ, _, msg := c.resolve(o.From, t, stepOut)
		switch {
		case o.From == "":
			c.fail("output %q: from: is bound to nothing", o.ID)
		case msg != "":
			c.fail("output %q: from: %s", o.ID, msg)
		case strings.HasPrefix(o.From, "inputs."):
			c.fail("output %q: from: must name a step output, not an input", o.ID)
		case typ != o.Type:
			c.fail("output %q: from: %q is %s but the output is %s", o.ID, o.From, typ, o.Type)
		}
	}

	if cyc := findCycle(f.Steps, deps); cyc != "" {
		c.fail("steps form a cycle: %s", cyc)
	}
}

func (c *checker) ios(kind string, in []fileIO, outputs bool) []IO {
	seen := map[string]bool{}
	out := make([]IO, 0, len(in))
	for i, io := range in {
		where := fmt.Sprintf("%s[%d]", kind, i)
		if !idPattern.MatchString(io.ID) {
			c.fail("%s: id %q must be a letter or _ followed by letters, digits, _ or -", where, io.ID)
		}
		if seen[io.ID] {
			c.fail("%s: duplicate id %q", where, io.ID)
		}
		seen[io.ID] = true
		if !validType(io.Type) {
			c.fail("%s: type %q is not one of imageUrl, videoUrl, audioUrl, documentUrl, text", where, io.Type)
		}
		if strings.TrimSpace(io.Name) == "" {
			c.fail("%s: name is required", where)
		}
		if outputs && io.Optional {
			c.fail("%s: outputs cannot be optional", where)
		}
		if !outputs && io.From != "" {
			c.fail("%s: from is only for outputs", where)
		}
		out = append(out, IO{ID: io.ID, Name: io.Name, Type: io.Type, Description: strings.TrimSpace(io.Description), Optional: io.Optional, From: io.From})
	}
	return out
}

// resolve returns the type a binding refers to and, for step outputs, the
// step it depends on; msg explains a bad reference.
func (c *checker) resolve(ref string, t *Technique, stepOut map[string]map[string]string) (typ, dep, msg string) {
	parts := strings.Split(ref, ".")
	switch {
	case len(parts) == 2 && parts[0] == "inputs":
		in, ok := t.Input(parts[1])
		if !ok {
			return "", "", fmt.Sprintf("%q names no technique input", ref)
		}
		return in.Type, "", ""
	case len(parts) == 3 && parts[0] == "steps":
		outs, ok := stepOut[parts[1]]
		if !ok {
			return "", "", fmt.Sprintf("%q names no step", ref)
		}
		if outs == nil { // the step's model was unknown; already reported
			return "", "", fmt.Sprintf("%q names a step with an unknown model", ref)
		}
		typ, ok := outs[parts[2]]
		if !ok {
			return "", "", fmt.Sprintf("%q names no output of step %q", ref, parts[1])
		}
		return typ, parts[1], ""
	}
	return "", "", fmt.Sprintf("%q is not of the form inputs.<id> or steps.<step>.<output>", ref)
}

// findCycle returns a description of one dependency cycle, or "".
func findCycle(steps []fileStep, deps map[string][]string) string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(string) string
	visit = func(id string) string {
		color[id] = grey
		stack = append(stack, id)
		for _, d := range deps[id] {
			switch color[d] {
			case grey:
				i := len(stack) - 1
				for stack[i] != d {
					i--
				}
				return strings.Join(append(append([]string{}, stack[i:]...), d), " → ")
			case white:
				if cyc := visit(d); cyc != "" {
					return cyc
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[id] = black
		return ""
	}
	for _, s := range steps {
		if color[s.ID] == white {
			if cyc := visit(s.ID); cyc != "" {
				return cyc
			}
		}
	}
	return ""
}

// stepModels resolves each step's model: the port types of every step's
// outputs (nil for a step whose model is unknown), for checking bindings,
// and the model of every step that has one. An unavailable model makes the
// technique unavailable.
func (c *checker) stepModels(f file, t *Technique, models Models) (map[string]map[string]string, map[string]Model) {
	stepOut := map[string]map[string]string{}
	specs := map[string]Model{}
	for i, s := range f.Steps {
		where := fmt.Sprintf("step %q", s.ID)
		if !idPattern.MatchString(s.ID) {
			c.fail("steps[%d]: id %q must be a letter or _ followed by letters, digits, _ or -", i, s.ID)
			continue
		}
		if _, dup := stepOut[s.ID]; dup {
			c.fail("%s: duplicate step id", where)
			continue
		}
		m, ok := models.Model(s.Model)
		if !ok {
			c.fail("%s: model: unknown model %q", where, s.Model)
			stepOut[s.ID] = nil
			continue
		}
		specs[s.ID] = m
		outs := map[string]string{}
		for _, p := range m.OutputPorts() {
			outs[p.Name] = p.Type
		}
		stepOut[s.ID] = outs
		if u := m.Unavailable(); u != "" && t.Unavailable == "" {
			t.Unavailable = u
		}
	}
	return stepOut, specs
}
