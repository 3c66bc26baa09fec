// Package validation carries field-level validation failures from wherever
// they are found (handler, service, technique) to the one place that turns
// them into a 400 input_validation_error.
package validation

import "strings"

// Field is one rejected field. Name is the JSON path the client sent, for
// example "inputs[0].value"; Message is a sentence for a person and never
// echoes the rejected value.
type Field struct {
	Name    string
	Message string
}

// Error is a set of field failures.
type Error struct {
	Fields []Field
}

// Add records one failure.
func (e *Error) Add(name, message string) {
	e.Fields = append(e.Fields, Field{Name: name, Message: message})
}

// Err returns e when it holds failures, nil otherwise, so callers can write
// `return v.Err()`.
func (e *Error) Err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

func (e *Error) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for _, f := range e.Fields {
		parts = append(parts, f.Name+": "+f.Message)
	}
	return strings.Join(parts, "; ")
}

// New returns an Error with a single field.
func New(name, message string) *Error {
	return &Error{Fields: []Field{{Name: name, Message: message}}}
}
