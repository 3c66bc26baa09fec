package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/florad/florad/internal/validation"
)

// jsonFrame is one open object or array while walking a document. For an
// object, key is the member being read, wantKey says the next string is a
// key, and seen holds the keys so far; for an array, index is the element
// being read.
type jsonFrame struct {
	object  bool
	wantKey bool
	key     string
	index   int
	seen    map[string]struct{}
}

// duplicateKeys records in v every object key that occurs twice in the same
// object, at any depth of a valid JSON document, under its JSON path
// ("inputs[0].value"). encoding/json keeps the last of two equal keys
// silently, so {"mode":"async","mode":"stream"} would mean what the last
// one says to us and what the first says to a proxy or a log reader that
// keeps the first; refusing them leaves one reading. Keys are compared
// after unescaping: "a" and "\u0061" are the same key. The error is for a
// document that is not valid JSON.
func duplicateKeys(doc []byte, v *validation.Error) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	var stack []jsonFrame
	// done moves the enclosing frame past a complete value.
	done := func() {
		if n := len(stack); n > 0 {
			if f := &stack[n-1]; f.object {
				f.wantKey = true
			} else {
				f.index++
			}
		}
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) && len(stack) == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("error reading JSON: %w", err)
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack = append(stack, jsonFrame{object: true, wantKey: true})
			case '[':
				stack = append(stack, jsonFrame{})
			default:
				stack = stack[:len(stack)-1]
				done()
			}
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			f := &stack[n-1]
			key, _ := tok.(string)
			if f.seen == nil {
				f.seen = map[string]struct{}{}
			}
			if _, dup := f.seen[key]; dup {
				v.Add(jsonPath(stack, key), "is given more than once; send each field once")
			}
			f.seen[key] = struct{}{}
			f.key, f.wantKey = key, false
			continue
		}
		done()
	}
}

// jsonPath is the path of member key of the innermost frame, as the
// request's field names are written: inputs[0].value.
func jsonPath(stack []jsonFrame, key string) string {
	var b []byte
	for _, f := range stack[:len(stack)-1] {
		if f.object {
			if len(b) > 0 {
				b = append(b, '.')
			}
			b = append(b, truncateForMessage(f.key)...)
		} else {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(f.index), 10)
			b = append(b, ']')
		}
	}
	if len(b) > 0 {
		b = append(b, '.')
	}
	return string(append(b, truncateForMessage(key)...))
}
