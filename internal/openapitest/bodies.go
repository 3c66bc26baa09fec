package openapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// bodySchemas validates JSON bodies against the schemas of a document with
// the JSON Schema 2020-12 validator kin-openapi itself uses for 3.1
// documents, compiling each schema once: kin-openapi compiles anew on every
// validation (about 3 ms), which the whole suite's traffic would pay for
// thousands of times. The whole document is one resource, so the schemas'
// $refs to #/components resolve inside it.
type bodySchemas struct {
	mu       sync.Mutex
	compiler *jsonschema.Compiler
	compiled map[string]*jsonschema.Schema
}

const bodyResource = "mem://openapi.json"

func newBodySchemas(doc *openapi3.T) (*bodySchemas, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(bodyResource, v); err != nil {
		return nil, err
	}
	return &bodySchemas{compiler: c, compiled: map[string]*jsonschema.Schema{}}, nil
}

// validate checks data against the schema at the JSON pointer made of path
// (unescaped tokens) in the document.
func (b *bodySchemas) validate(path []string, data []byte) error {
	var ptr strings.Builder
	for _, p := range path {
		ptr.WriteString("/")
		ptr.WriteString(url.PathEscape(strings.ReplaceAll(strings.ReplaceAll(p, "~", "~0"), "/", "~1")))
	}
	loc := bodyResource + "#" + ptr.String()
	b.mu.Lock()
	sch, ok := b.compiled[loc]
	if !ok {
		var err error
		if sch, err = b.compiler.Compile(loc); err != nil {
			b.mu.Unlock()
			return fmt.Errorf("compiling the schema at %s: %w", ptr.String(), err)
		}
		b.compiled[loc] = sch
	}
	b.mu.Unlock()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("the body is not JSON: %w", err)
	}
	return sch.Validate(v)
}

// refPath is where an object is in the document: at its $ref's target
// when it is a reference ("#/components/responses/NotFound"), else at the
// place given.
func refPath(ref string, place ...string) []string {
	target, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return place
	}
	var out []string
	for _, tok := range strings.Split(target, "/") {
		out = append(out, strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~"))
	}
	return out
}

// responseKey and contentKey name what kin-openapi matched, as the
// document spells them, for the pointer.
func responseKey(responses *openapi3.Responses, match *openapi3.ResponseRef) string {
	for k, v := range responses.Map() {
		if v == match {
			return k
		}
	}
	return ""
}

func contentKey(content openapi3.Content, match *openapi3.MediaType) string {
	for k, v := range content {
		if v == match {
			return k
		}
	}
	return ""
}
