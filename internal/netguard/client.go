package netguard

import (
	"cmp"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Defaults for ClientOptions fields left at zero.
const (
	DefaultTimeout               = 30 * time.Second
	DefaultMaxRedirects          = 5
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 20 * time.Second
)

// maxResponseHeaderBytes bounds response headers (the net/http default is
// 10 MB); real servers send a few kilobytes.
const maxResponseHeaderBytes = 1 << 20

// ClientOptions tunes a client made by NewClient. Zero values mean the
// defaults above.
type ClientOptions struct {
	// Timeout bounds a whole request: connecting, every redirect and reading
	// the body. Default DefaultTimeout.
	Timeout time.Duration

	// FollowRedirects makes the client follow up to MaxRedirects redirects,
	// each target re-checked with ValidateURL and guarded at connect time
	// like the first request. When false (right for webhooks, whose
	// receiver must answer itself) a 3xx response is returned as is, with
	// its body unread.
	FollowRedirects bool

	// MaxRedirects is how many redirects FollowRedirects follows.
	// Default DefaultMaxRedirects.
	MaxRedirects int

	// DialTimeout bounds establishing one TCP connection.
	// Default DefaultDialTimeout.
	DialTimeout time.Duration

	// TLSHandshakeTimeout bounds the TLS handshake.
	// Default DefaultTLSHandshakeTimeout.
	TLSHandshakeTimeout time.Duration

	// ResponseHeaderTimeout bounds the wait for response headers once the
	// request is sent, so a server that accepts and then stalls is dropped
	// before Timeout. Default DefaultResponseHeaderTimeout.
	ResponseHeaderTimeout time.Duration
}

// NewClient returns an *http.Client that can only reach destinations p
// allows. Its transport is built by hand rather than cloned from
// http.DefaultTransport:
//
//   - no proxy, not even from the environment: a proxy would dial on our
//     behalf and the guard would only ever see the proxy's address;
//   - the dialer's Control hook checks every address actually dialled,
//     after DNS resolution, so names resolving (or rebinding) to refused
//     addresses fail with an error matching ErrBlocked before any packet
//     is sent;
//   - compression is off: media is already compressed, and it keeps
//     Content-Length meaningful for Fetch's early size check.
//
// The client does not run ValidateURL on the first request; callers do that
// when they accept the URL (the connect-time guard still applies).
// Redirect targets are validated, and errors for refused ones match
// ErrInvalidURL and, for refused destinations, ErrBlocked.
func NewClient(p Policy, o ClientOptions) *http.Client {
	g := newGuard(p)
	dialer := &net.Dialer{
		Timeout:   cmp.Or(o.DialTimeout, DefaultDialTimeout),
		KeepAlive: 30 * time.Second,
		Control:   g.control,
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    cmp.Or(o.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout),
		ResponseHeaderTimeout:  cmp.Or(o.ResponseHeaderTimeout, DefaultResponseHeaderTimeout),
		ExpectContinueTimeout:  time.Second,
		MaxIdleConns:           100,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		DisableCompression:     true,
	}
	client := &http.Client{
		Transport: transport,
		Timeout:   cmp.Or(o.Timeout, DefaultTimeout),
	}
	if !o.FollowRedirects {
		client.CheckRedirect = func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}
		return client
	}
	maxRedirects := cmp.Or(o.MaxRedirects, DefaultMaxRedirects)
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		// via holds the requests already made, so len(via) redirects have
		// been received, this one included.
		if len(via) > maxRedirects {
			return newError(fmt.Sprintf("the server redirected more than %d times", maxRedirects), nil, ErrUnreachable)
		}
		if err := validateURL(req.URL.String(), p, g); err != nil {
			return &guardError{msg: "the server redirected to a URL that is not allowed: " + err.Error(), cause: err}
		}
		return nil
	}
	return client
}
