package processor

import (
	"errors"
	"fmt"
	"time"
)

// Run error codes, as the run object reports them in error_code.
const (
	CodeInputUnreachable = "input_unreachable"
	CodeInputInvalid     = "input_invalid"
	CodeProviderError    = "provider_error"
	CodeProviderTimeout  = "provider_timeout"
	CodeSafetyBlocked    = "safety_blocked"
	CodeRunCanceled      = "run_canceled"
	CodeRunTimeout       = "run_timeout"
	CodeInternalError    = "internal_error"
)

// Error is a step failure with the code the run will report. Transient
// errors are retried with backoff; permanent ones fail the run at once.
type Error struct {
	Code      string
	Message   string
	Transient bool
	// RetryAfter, when set on a transient error, is how long the provider
	// asked to be left alone (its Retry-After): the step waits that long,
	// without holding a worker, and tries again.
	RetryAfter time.Duration
	// Detail is the provider's own words, kept for operators (logs) and
	// not shown to API clients.
	Detail string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent builds a permanent failure.
func Permanent(code, message string, err error) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// Transient builds a failure worth retrying.
func Transient(code, message string, err error) *Error {
	return &Error{Code: code, Message: message, Transient: true, Err: err}
}

// AsError classifies any error: a *Error as it is, anything else as a
// transient internal error (a full disk or a dropped database connection
// usually passes).
func AsError(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	return Transient(CodeInternalError, "The run failed because of an internal error.", err)
}
