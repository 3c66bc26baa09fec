package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"

	"github.com/florad/florad/internal/validation"
)

// readObject reads a JSON object body of at most MaxBodyBytes into its
// top-level fields, keeping them raw so each can be checked for its type
// with a message naming the field. A body that repeats a key in any object
// is refused with the key's path.
func (s *Server) readObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
	if err != nil {
		return nil, bodyReadError(err, s.MaxBodyBytes)
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
	dups := &validation.Error{}
	if err := duplicateKeys(trimmed, dups); err != nil {
		return nil, errInvalidJSON("The request body is not valid JSON.")
	}
	if dups.Err() != nil {
		return nil, errValidation(dups)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &fields); err != nil {
		return nil, errInvalidJSON("The request body must be a JSON object.")
	}
	return fields, nil
}

// bodyReadError says why a body could not be read: too large, too slow
// (the server's read timeout passed while it was still arriving), or cut
// off. None of these is the client's JSON being wrong.
func bodyReadError(err error, limit int64) error {
	var tooBig *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooBig):
		return errPayloadTooLarge(limit)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return errRequestTimeout(err)
	}
	return errBodyUnreadable(err)
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

// given returns a field's raw value unless it is missing or null: for every
// field of a request, null means the same as leaving the field out.
func given(fields map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	raw, ok := fields[name]
	if !ok || jsonKind(raw) == "null" {
		return nil, false
	}
	return raw, true
}

// arrayLen counts the elements of a valid JSON array without decoding them,
// so that an array of a million items is refused for its length before a
// million items are looked at. ok is false for anything but an array.
func arrayLen(raw json.RawMessage) (n int, ok bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '[' {
		return 0, false
	}
	depth, inString, escaped, empty := 0, false, false, true
	for _, c := range t {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth == 1 {
				continue
			}
		case c == ']' || c == '}':
			depth--
			continue
		case c == ',' && depth == 1:
			n++
			continue
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		}
		if depth >= 1 {
			empty = false
		}
	}
	if empty {
		return 0, true
	}
	return n + 1, true
}
