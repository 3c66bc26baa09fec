// Package validation carries field-level validation failures from wherever
// they are found (handler, service, technique) to the one place that turns
// them into a 400 input_validation_error.
package validation

import (
	"strconv"
	"strings"
)

// MaxFields is how many failures an Error keeps. A body of a million
// malformed items would otherwise be answered with a million field
// errors, an answer fifty times the size of the request; past MaxFields
// only the count grows.
const MaxFields = 20

// Field is one rejected field. Name is the JSON path the client sent, for
// example "inputs[0].value"; Message is a sentence for a person and never
// echoes the rejected value.
type Field struct {
	Name    string
	Message string
}

// Error is a set of field failures: the first MaxFields, and how many more
// there were.
type Error struct {
	Fields []Field
	// Omitted counts the failures past MaxFields, not kept.
	Omitted int
}

// Add records one failure.
func (e *Error) Add(name, message string) {
	if len(e.Fields) >= MaxFields {
		e.Omitted++
		return
	}
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
	parts := make([]string, 0, len(e.Fields)+1)
	for _, f := range e.Fields {
		parts = append(parts, f.Name+": "+f.Message)
	}
	if e.Omitted > 0 {
		parts = append(parts, "and "+strconv.Itoa(e.Omitted)+" more")
	}
	return strings.Join(parts, "; ")
}

// New returns an Error with a single field.
func New(name, message string) *Error {
	return &Error{Fields: []Field{{Name: name, Message: message}}}
}
