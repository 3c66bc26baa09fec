package netguard

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
)

// DefaultMaxBytes is the body size limit when FetchOptions.MaxBytes is zero.
const DefaultMaxBytes = 20 << 20

// DefaultUserAgent is sent when FetchOptions.UserAgent is empty.
const DefaultUserAgent = "florad"

// FetchOptions says what Fetch and FetchToFile accept.
type FetchOptions struct {
	// MaxBytes is the largest body accepted, in bytes. A larger
	// Content-Length is refused before reading; a body without one is cut
	// off one byte past the limit. Default DefaultMaxBytes.
	MaxBytes int64

	// Accept lists the kinds of content wanted, judged by sniffing the
	// body (see SniffContentType), never by the server's Content-Type.
	// Empty accepts anything. SVG does not count as an image: it sniffs as
	// text, and as active content it should not be treated as one.
	Accept []Kind

	// UserAgent is the User-Agent header. Default DefaultUserAgent.
	UserAgent string
}

// maxBytes returns MaxBytes with its default applied.
func (o FetchOptions) maxBytes() int64 { return cmp.Or(o.MaxBytes, DefaultMaxBytes) }

// Fetched is a downloaded body.
type Fetched struct {
	// Body is the whole response body, at most FetchOptions.MaxBytes long.
	Body []byte
	// ContentType is the sniffed MIME type, e.g. "image/png".
	ContentType string
}

// Fetch GETs rawURL with c, which should come from NewClient, and returns
// the body if the status is 2xx, it fits in o.MaxBytes and it sniffs as
// one of o.Accept. Callers validate rawURL with ValidateURL first; Fetch
// itself relies on c's connect-time guard.
//
// Errors match exactly one of ErrUnreachable (also ErrBlocked when the
// guard refused the destination), ErrTooLarge or ErrInvalidContent, and
// their messages are fit for the user who supplied the URL: they never
// contain the response body, the URL or a resolved address. For logs, the
// underlying cause stays reachable with errors.As (e.g. *net.DNSError).
func Fetch(ctx context.Context, c *http.Client, rawURL string, o FetchOptions) (*Fetched, error) {
	var body bytes.Buffer
	contentType, err := fetch(ctx, c, rawURL, o, &body, body.Grow)
	if err != nil {
		return nil, err
	}
	return &Fetched{Body: body.Bytes(), ContentType: contentType}, nil
}

// FetchToFile is Fetch for bodies too big to hold in memory, such as
// videos: it streams the body into a new file in dir (os.TempDir when
// empty) and returns the file's path, which the caller then owns and must
// remove. On error no file is left behind. Errors are those of Fetch, plus
// unclassified ones for local failures such as a full disk.
func FetchToFile(ctx context.Context, c *http.Client, rawURL, dir string, o FetchOptions) (path, contentType string, err error) {
	f, err := os.CreateTemp(dir, "netguard-fetch-*")
	if err != nil {
		return "", "", fmt.Errorf("netguard: creating download file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	contentType, err = fetch(ctx, c, rawURL, o, f, nil)
	if err != nil {
		return "", "", err
	}
	if err := f.Close(); err != nil {
		return "", "", fmt.Errorf("netguard: writing download file: %w", err)
	}
	return f.Name(), contentType, nil
}

// fetch does the work of Fetch and FetchToFile, writing the body to w.
// grow, when not nil, is told the announced size so a buffer can be sized
// once.
func fetch(ctx context.Context, c *http.Client, rawURL string, o FetchOptions, w io.Writer, grow func(int)) (string, error) {
	limit := o.maxBytes()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "", newError("the URL is not valid", err, ErrUnreachable)
	}
	req.Header.Set("User-Agent", cmp.Or(o.UserAgent, DefaultUserAgent))
	req.Header.Set("Accept", acceptHeader(o.Accept))

	resp, err := c.Do(req)
	if err != nil {
		// With a refused redirect, Do also returns the previous response,
		// its body already closed; there is nothing more to do with it.
		return "", classify(err)
	}
	defer func() { _ = resp.Body.Close() }()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The body is not read: it is the server's text, not ours to show.
		return "", statusError(resp.StatusCode)
	}
	if resp.ContentLength > limit {
		return "", tooLarge(limit)
	}
	if grow != nil && resp.ContentLength > 0 {
		grow(int(resp.ContentLength))
	}

	// One byte more than allowed tells "exactly the limit" from "over it"
	// without trusting Content-Length, which may be absent.
	body := io.LimitReader(resp.Body, limit+1)
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(body, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", readError(err)
	}
	head = head[:n]
	if int64(n) > limit {
		return "", tooLarge(limit)
	}
	contentType := SniffContentType(head)
	if len(o.Accept) > 0 {
		if n == 0 {
			return "", newError("the response body is empty", nil, ErrInvalidContent)
		}
		if !accepts(o.Accept, contentType) {
			return "", newError(fmt.Sprintf("the content is not %s (it looks like %s)", describeKinds(o.Accept), mediaType(contentType)), nil, ErrInvalidContent)
		}
	}

	if _, err := w.Write(head); err != nil {
		return "", fmt.Errorf("netguard: storing download: %w", err)
	}
	total := int64(n)
	if n == sniffLen {
		copied, err := io.Copy(w, readerOnly{body})
		total += copied
		if err != nil {
			var re *readErr
			if errors.As(err, &re) {
				return "", readError(re.err)
			}
			return "", fmt.Errorf("netguard: storing download: %w", err)
		}
	}
	if total > limit {
		return "", tooLarge(limit)
	}
	return contentType, nil
}

// readerOnly tags read errors, so that after io.Copy a failing network
// read (ErrUnreachable) is told apart from a failing write (a local
// problem such as a full disk). Being a bare Reader it also keeps io.Copy
// from handing the work to a WriterTo that would bypass the tagging.
type readerOnly struct{ r io.Reader }

func (r readerOnly) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = &readErr{err}
	}
	return n, err
}

// readErr marks an error as coming from the response body.
type readErr struct{ err error }

func (e *readErr) Error() string { return e.err.Error() }
func (e *readErr) Unwrap() error { return e.err }

// acceptHeader turns kinds into an Accept header value.
func acceptHeader(kinds []Kind) string {
	if len(kinds) == 0 {
		return "*/*"
	}
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = string(k) + "/*"
	}
	return strings.Join(parts, ", ")
}

// describeKinds names kinds for a message: "an image or a video".
func describeKinds(kinds []Kind) string {
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		article := "a"
		if k != "" && strings.ContainsRune("aeiou", rune(k[0])) {
			article = "an"
		}
		parts[i] = article + " " + string(k)
	}
	return strings.Join(parts, " or ")
}

// mediaType strips parameters: "text/html; charset=utf-8" → "text/html".
func mediaType(contentType string) string {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.TrimSpace(mt)
}

// tooLarge is the ErrTooLarge error for limit.
func tooLarge(limit int64) error {
	return newError(fmt.Sprintf("the content is larger than the limit of %s", formatBytes(limit)), nil, ErrTooLarge)
}

// formatBytes renders a size the way a user reads it.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// statusError is the ErrUnreachable error for a non-2xx status. Only the
// code is reported: the reason phrase and body come from the server.
func statusError(code int) error {
	if code >= 300 && code <= 399 {
		return newError(fmt.Sprintf("the server responded with a redirect (HTTP status %d), which is not followed", code), nil, ErrUnreachable)
	}
	return newError(fmt.Sprintf("the server responded with HTTP status %d", code), nil, ErrUnreachable)
}

// readError classifies a failure while reading the body.
func readError(err error) error {
	if errors.Is(err, context.Canceled) {
		return newError("the request was canceled", err, ErrUnreachable)
	}
	if isTimeout(err) {
		return newError("the server did not send the content in time", err, ErrUnreachable)
	}
	return newError("the connection broke before the content was complete", err, ErrUnreachable)
}

// classify turns an error from http.Client.Do into one matching
// ErrUnreachable, with a message saying what failed and nothing the remote
// side or our DNS could inject.
func classify(err error) error {
	var ge *guardError
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	switch {
	case errors.Is(err, ErrBlocked):
		msg := "the destination is not allowed"
		if errors.As(err, &ge) {
			msg = ge.msg
		}
		return newError(msg, err, ErrUnreachable, ErrBlocked)
	case errors.As(err, &ge):
		// Too many redirects, or a redirect to a URL ValidateURL refuses.
		return newError(ge.msg, err, ErrUnreachable)
	case errors.Is(err, context.Canceled):
		return newError("the request was canceled", err, ErrUnreachable)
	case isTimeout(err):
		return newError("the server did not respond in time", err, ErrUnreachable)
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return newError("the host name does not exist", err, ErrUnreachable)
		}
		return newError("the host name could not be resolved", err, ErrUnreachable)
	case errors.Is(err, syscall.ECONNREFUSED):
		return newError("the server refused the connection", err, ErrUnreachable)
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostnameErr):
		return newError("the server's TLS certificate is not valid", err, ErrUnreachable)
	default:
		return newError("the request to the server failed", err, ErrUnreachable)
	}
}

// isTimeout reports whether err is a deadline or I/O timeout.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
