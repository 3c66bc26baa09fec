package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/technique"
	"github.com/florad/florad/internal/validation"
)

// maxIdempotencyKeyLength bounds keys; Stripe allows 255 as well.
const maxIdempotencyKeyLength = 255

// runCreate starts a run: POST /api/v1/techniques/{technique}/runs.
func (s *Server) runCreate(w http.ResponseWriter, r *http.Request) error {
	fields, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	p, err := decodeRunCreate(fields, r.Header.Get("Idempotency-Key"), s.MaxInputs, s.CheckCallbackURL)
	if err != nil {
		return err
	}
	who := principal(r.Context())
	p.WorkspaceID, p.KeyID, p.MaxCreditsPerDay = who.WorkspaceID, who.KeyID, who.MaxCreditsPerDay
	p.Technique = chi.URLParam(r, "technique")
	created, replayed, err := s.Runs.Create(r.Context(), p)
	if err != nil {
		return err
	}
	if replayed {
		w.Header().Set("idempotent-replayed", "true")
	}
	if p.Mode == "stream" {
		// A replay streams the existing run, like the first request did.
		return s.streamRun(w, r, created, -1)
	}
	return s.writeRun(w, r, http.StatusOK, created)
}

// decodeRunCreate checks the body's shape: known fields, JSON types, mode,
// callback URL and idempotency key, and that there are at most maxInputs
// inputs, counted before any is decoded. Null stands for a missing field.
// Inputs are checked against the technique by the service.
func decodeRunCreate(fields map[string]json.RawMessage, headerKey string, maxInputs int, checkCallback func(string) error) (*run.CreateParams, error) {
	v := &validation.Error{}
	p := &run.CreateParams{}

	var unknown []string
	for k := range fields {
		switch k {
		case "inputs", "mode", "callback_url", "idempotency_key":
		default:
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		v.Add(truncateForMessage(k), "is not a field of this request")
	}

	if raw, ok := given(fields, "inputs"); !ok {
		v.Add("inputs", "is required")
	} else if n, isArray := arrayLen(raw); !isArray {
		v.Add("inputs", "must be an array, not "+jsonKind(raw))
	} else if n == 0 {
		v.Add("inputs", "must contain at least one input")
	} else if n > maxInputs {
		v.Add("inputs", fmt.Sprintf("must contain at most %d inputs, not %d", maxInputs, n))
	} else {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			v.Add("inputs", "must be an array, not "+jsonKind(raw))
		}
		for i, item := range items {
			in, ok := decodeInput(v, fmt.Sprintf("inputs[%d]", i), item)
			if ok {
				p.Inputs = append(p.Inputs, in)
			}
		}
	}

	if raw, ok := given(fields, "mode"); !ok {
		v.Add("mode", `is required: "async" or "stream"`)
	} else if s, ok := decodeString(v, "mode", raw); ok {
		switch s {
		case "async", "stream":
			p.Mode = s
		default:
			v.Add("mode", `must be "async" or "stream"`)
		}
	}

	if raw, ok := given(fields, "callback_url"); ok {
		if s, ok := decodeString(v, "callback_url", raw); ok {
			if err := checkCallback(s); err != nil {
				v.Add("callback_url", err.Error())
			} else {
				p.CallbackURL = s
			}
		}
	}

	if raw, ok := given(fields, "idempotency_key"); ok {
		if s, ok := decodeString(v, "idempotency_key", raw); ok {
			p.IdempotencyKey = s
		}
	}
	switch {
	case headerKey != "" && p.IdempotencyKey != "" && headerKey != p.IdempotencyKey:
		v.Add("idempotency_key", "differs from the Idempotency-Key header; send one or make them equal")
	case headerKey != "":
		p.IdempotencyKey = headerKey
	}
	if raw, ok := given(fields, "idempotency_key"); ok && p.IdempotencyKey == "" && headerKey == "" {
		if jsonKind(raw) == "a string" {
			v.Add("idempotency_key", "must not be empty")
		}
	}
	if utf8.RuneCountInString(p.IdempotencyKey) > maxIdempotencyKeyLength {
		v.Add("idempotency_key", fmt.Sprintf("must be at most %d characters", maxIdempotencyKeyLength))
	}
	return p, v.Err()
}

func decodeString(v *validation.Error, name string, raw json.RawMessage) (string, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		v.Add(name, "must be a string, not "+jsonKind(raw))
		return "", false
	}
	return s, true
}

func decodeInput(v *validation.Error, path string, raw json.RawMessage) (technique.RequestInput, bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		v.Add(path, "must be an object with id, type and value, not "+jsonKind(raw))
		return technique.RequestInput{}, false
	}
	var in technique.RequestInput
	ok := true
	for _, f := range []struct {
		name string
		dst  *string
	}{{"id", &in.ID}, {"type", &in.Type}, {"value", &in.Value}} {
		raw, present := given(obj, f.name)
		if !present {
			v.Add(path+"."+f.name, "is required")
			ok = false
			continue
		}
		s, good := decodeString(v, path+"."+f.name, raw)
		ok = ok && good
		*f.dst = s
	}
	var unknown []string
	for k := range obj {
		if k != "id" && k != "type" && k != "value" {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		v.Add(path+"."+truncateForMessage(k), "is not a field of an input")
		ok = false
	}
	return in, ok
}
