package technique

import (
	"fmt"
	"unicode/utf8"

	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/validation"
)

// Limits on run inputs. Defaults follow the API contract.
type Limits struct {
	// MaxInputs per request. Defaults to 100.
	MaxInputs int
	// MaxTextLength in characters. Defaults to 10,000.
	MaxTextLength int
}

const (
	// MaxInputsDefault is the default of Limits.MaxInputs.
	MaxInputsDefault = 100
	// MaxTextLengthDefault is the default of Limits.MaxTextLength.
	MaxTextLengthDefault = 10_000
)

// RequestInput is one input as the client sent it.
type RequestInput struct {
	ID    string
	Type  string
	Value string
}

// CanonicalType maps the seed's spellings (IMAGE_URL, VIDEO_URL, TEXT) and
// today's (imageUrl, videoUrl, text) to one; ok is false for anything else.
func CanonicalType(t string) (string, bool) {
	switch t {
	case "IMAGE_URL", TypeImageURL:
		return TypeImageURL, true
	case "VIDEO_URL", TypeVideoURL:
		return TypeVideoURL, true
	case "AUDIO_URL", TypeAudioURL:
		return TypeAudioURL, true
	case "DOCUMENT_URL", TypeDocumentURL:
		return TypeDocumentURL, true
	case "TEXT", TypeText:
		return TypeText, true
	}
	return "", false
}

// CheckInputs validates a run's inputs against the technique, in any order,
// and returns them in the technique's order with canonical types. checkURL
// decides whether a media URL may be fetched (scheme, host). Every problem
// is reported, each under the JSON path of the field at fault.
func (t *Technique) CheckInputs(in []RequestInput, lim Limits, checkURL func(string) error) ([]store.RunInput, error) {
	maxInputs := lim.MaxInputs
	if maxInputs <= 0 {
		maxInputs = MaxInputsDefault
	}
	maxText := lim.MaxTextLength
	if maxText <= 0 {
		maxText = MaxTextLengthDefault
	}
	v := &validation.Error{}
	if len(in) == 0 {
		v.Add("inputs", "must contain at least one input")
		return nil, v
	}
	if len(in) > maxInputs {
		v.Add("inputs", fmt.Sprintf("must contain at most %d inputs", maxInputs))
		return nil, v
	}
	byID := map[string]store.RunInput{}
	for i, x := range in {
		path := fmt.Sprintf("inputs[%d]", i)
		def, ok := t.Input(x.ID)
		if !ok {
			v.Add(path+".id", fmt.Sprintf("technique %s has no input %q", t.Slug, truncate(x.ID)))
			continue
		}
		if _, dup := byID[x.ID]; dup {
			v.Add(path+".id", fmt.Sprintf("input %q is given more than once", x.ID))
			continue
		}
		typ, ok := CanonicalType(x.Type)
		if !ok {
			v.Add(path+".type", "must be one of IMAGE_URL, VIDEO_URL, TEXT (or imageUrl, videoUrl, text)")
			continue
		}
		if typ != def.Type {
			v.Add(path+".type", fmt.Sprintf("input %q is of type %s, not %s", x.ID, def.Type, typ))
			continue
		}
		if typ == TypeText {
			if x.Value == "" {
				v.Add(path+".value", "must not be empty; omit an optional text input instead")
				continue
			}
			if n := utf8.RuneCountInString(x.Value); n > maxText {
				v.Add(path+".value", fmt.Sprintf("is %d characters long; the limit is %d", n, maxText))
				continue
			}
		} else if err := checkURL(x.Value); err != nil {
			v.Add(path+".value", err.Error())
			continue
		}
		byID[x.ID] = store.RunInput{ID: x.ID, Type: typ, Value: x.Value}
	}
	for _, def := range t.Inputs {
		if _, ok := byID[def.ID]; !ok && !def.Optional && !hasFieldFor(in, def.ID) {
			v.Add("inputs", fmt.Sprintf("required input %q (%s) is missing", def.ID, def.Type))
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	out := make([]store.RunInput, 0, len(byID))
	for _, def := range t.Inputs {
		if x, ok := byID[def.ID]; ok {
			out = append(out, x)
		}
	}
	return out, nil
}

// hasFieldFor reports whether the client sent the input at all, so a bad
// value is not reported a second time as missing.
func hasFieldFor(in []RequestInput, id string) bool {
	for _, x := range in {
		if x.ID == id {
			return true
		}
	}
	return false
}

func truncate(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
