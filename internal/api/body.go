package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// readObject reads a JSON object body of at most MaxBodyBytes into its
// top-level fields, keeping them raw so each can be checked for its type
// with a message naming the field.
func (s *Server) readObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errPayloadTooLarge(s.MaxBodyBytes)
	}
	if err != nil {
		return nil, errInvalidJSON("The request body could not be read.")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, errInvalidJSON("The request body is empty; send a JSON object.")
	}
	if !json.Valid(trimmed) {
		var syn *json.SyntaxError
		var v any
		if err := json.Unmarshal(trimmed, &v); errors.As(err, &syn) {
			return nil, errInvalidJSON(fmt.Sprintf("The request body is not valid JSON (error at byte %d).", syn.Offset))
		}
		return nil, errInvalidJSON("The request body is not valid JSON.")
	}
	if trimmed[0] != '{' {
		return nil, errInvalidJSON("The request body must be a JSON object.")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &fields); err != nil {
		return nil, errInvalidJSON("The request body must be a JSON object.")
	}
	return fields, nil
}

// jsonKind names the JSON type of a raw value, for messages.
func jsonKind(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
