package netguard

import "errors"

// Sentinel errors. Every error this package returns matches at least one of
// them with errors.Is; the error's own message is the human-readable part.
var (
	// ErrInvalidURL matches every error returned by ValidateURL, including
	// redirect targets refused by a client made with NewClient.
	ErrInvalidURL = errors.New("invalid URL")
	// ErrBlocked means the destination is not allowed by the Policy: a local
	// host name, or an address in a private or reserved network. It is
	// returned by ValidateURL for literal addresses and local names, and by
	// the connect-time guard of NewClient after DNS resolution.
	ErrBlocked = errors.New("destination not allowed")
	// ErrUnreachable means the remote server could not be used: DNS failure,
	// connection refused, timeout, a non-2xx status, a broken transfer, or a
	// destination refused by the guard (then ErrBlocked matches as well).
	ErrUnreachable = errors.New("remote server unreachable")
	// ErrTooLarge means the response body exceeds FetchOptions.MaxBytes.
	ErrTooLarge = errors.New("content too large")
	// ErrInvalidContent means the response body is not of an accepted Kind.
	ErrInvalidContent = errors.New("invalid content")
)

// guardError is an error whose message is written for the API user while
// errors.Is still reaches the sentinels and, for logs, the underlying cause
// (for example a *net.DNSError). The cause's text is deliberately not part
// of the message: it may quote a long URL, and it never adds anything a user
// can act on.
type guardError struct {
	msg   string
	kinds []error
	cause error
}

func (e *guardError) Error() string { return e.msg }

// Unwrap exposes the sentinels and the cause to errors.Is and errors.As.
func (e *guardError) Unwrap() []error {
	if e.cause == nil {
		return e.kinds
	}
	return append(e.kinds[:len(e.kinds):len(e.kinds)], e.cause)
}

// newError builds a guardError; kinds are the sentinels it must match.
func newError(msg string, cause error, kinds ...error) error {
	return &guardError{msg: msg, kinds: kinds, cause: cause}
}
