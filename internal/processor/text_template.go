package processor

import (
	"context"
	"fmt"
	"strings"
	"text/template"

	"github.com/florad/florad/internal/technique"
)

// TextTemplate renders a Go text/template over its text inputs. It is the
// local stand-in for a language model: deterministic, instant and free, and
// enough to build prompt expanders and captions from parts.
type TextTemplate struct{}

type textTemplateParams struct {
	Template string `json:"template"`
}

// textTemplateInputs are the named text slots a template can read as
// {{.text}}, {{.style}} and so on. Unbound slots read as "".
var textTemplateInputs = []string{"text", "style", "subject", "extra"}

func (TextTemplate) InputPorts() []technique.Port {
	ports := make([]technique.Port, 0, len(textTemplateInputs))
	for _, n := range textTemplateInputs {
		ports = append(ports, technique.Port{Name: n, Type: technique.TypeText, Optional: n != "text"})
	}
	return ports
}

func (TextTemplate) OutputPorts() []technique.Port {
	return []technique.Port{{Name: "text", Type: technique.TypeText}}
}

func (TextTemplate) Unavailable() string { return "" }

func (TextTemplate) CheckParams(params map[string]any) error {
	_, err := parseTextTemplate(params)
	return err
}

var textFuncs = template.FuncMap{
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"trim":  strings.TrimSpace,
	"default": func(def, v string) string {
		if strings.TrimSpace(v) == "" {
			return def
		}
		return v
	},
}

func parseTextTemplate(params map[string]any) (*template.Template, error) {
	var p textTemplateParams
	if err := decodeParams(params, &p); err != nil {
		return nil, err
	}
	if strings.TrimSpace(p.Template) == "" {
		return nil, fmt.Errorf("template is required")
	}
	t, err := template.New("step").Option("missingkey=zero").Funcs(textFuncs).Parse(p.Template)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	return t, nil
}

func (TextTemplate) Run(ctx context.Context, call *Call) (map[string]Value, error) {
	t, err := parseTextTemplate(call.Params)
	if err != nil {
		return nil, Permanent(CodeInternalError, "The technique's template is invalid.", err)
	}
	data := map[string]string{}
	for _, n := range textTemplateInputs {
		data[n] = call.Inputs[n].Text
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return nil, Permanent(CodeInputInvalid, "The text could not be rendered.", err)
	}
	out := strings.TrimSpace(b.String())
	if out == "" {
		return nil, Permanent(CodeInputInvalid, "The template produced no text for these inputs.", nil)
	}
	call.progress(1)
	return map[string]Value{"text": {Type: technique.TypeText, Text: out}}, nil
}
