// Package processor holds the models a technique step can name: local image
// processing, text templates, and (later) video through ffmpeg and remote AI
// providers. Each processor declares its typed ports and checks its
// parameters, so a technique graph is checked before it ever runs.
package processor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/florad/florad/internal/technique"
)

// Value flows along the edges of a technique graph. Media values carry
// their bytes; text values carry the text.
type Value struct {
	Type        string
	Text        string
	Data        []byte
	ContentType string
	// Path, when not empty, names a local file holding the bytes instead of
	// Data: the engine downloads video inputs to disk rather than into
	// memory. The file belongs to the engine and lasts while the run
	// executes; processors read it and never change or remove it. Outputs
	// always use Data.
	Path string
}

// Call is one invocation of a processor by a step.
type Call struct {
	Inputs map[string]Value
	Params map[string]any
	// Progress reports the share of this step done, 0..1. It may be nil.
	Progress func(fraction float64)
}

func (c *Call) progress(f float64) {
	if c.Progress != nil {
		c.Progress(f)
	}
}

// Processor is one model.
type Processor interface {
	technique.Model
	Run(ctx context.Context, call *Call) (map[string]Value, error)
}

// Registry maps model names to processors. It implements technique.Models.
type Registry map[string]Processor

// Model implements technique.Models.
func (r Registry) Model(name string) (technique.Model, bool) {
	p, ok := r[name]
	if !ok {
		return nil, false
	}
	return p, true
}

// Names lists the registered models in order.
func (r Registry) Names() []string {
	out := make([]string, 0, len(r))
	for n := range r {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// decodeParams converts a step's YAML parameters into a typed struct and
// refuses keys the struct does not have, so a typo fails at load time.
func decodeParams(params map[string]any, dst any) error {
	if params == nil {
		params = map[string]any{}
	}
	b, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("parameters are not plain data: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("%s", cleanJSONError(err))
	}
	return nil
}

func cleanJSONError(err error) string {
	if ute, ok := err.(*json.UnmarshalTypeError); ok {
		return fmt.Sprintf("%s: must be %s", ute.Field, ute.Type)
	}
	// Parameters are written in YAML: the decoder's "json: " prefix would
	// only confuse the author.
	return strings.TrimPrefix(err.Error(), "json: ")
}

// DecodeParams is decodeParams for models outside this package (the
// provider adapters).
func DecodeParams(params map[string]any, dst any) error { return decodeParams(params, dst) }
