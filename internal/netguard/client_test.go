package netguard

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// countingListener counts accepted connections, which is how tests prove
// that a refused request never reached the server at all.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// testServer is an httptest server on 127.0.0.1 that counts connections.
type testServer struct {
	*httptest.Server
	listener *countingListener
}

func newTestServer(t *testing.T, h http.Handler) *testServer {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	l := &countingListener{Listener: srv.Listener}
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	require.Equal(t, "127.0.0.1", netip.MustParseAddrPort(l.Addr().String()).Addr().String())
	return &testServer{Server: srv, listener: l}
}

// port is the server's port.
func (s *testServer) port() uint16 {
	return netip.MustParseAddrPort(s.listener.Addr().String()).Port()
}

// requireNoConnection proves that nothing connected to s so far: it makes
// one allowed request on a fresh connection and checks that this is the
// only connection ever accepted. Accepting is FIFO, so a connection made
// earlier would have been counted before the probe's.
func (s *testServer) requireNoConnection(t *testing.T) {
	t.Helper()
	require.Zero(t, s.listener.accepted.Load())
	c := newTestClient(t, loopbackOnly(), ClientOptions{})
	resp, err := c.Get(s.URL + "/probe")
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, int64(1), s.listener.accepted.Load())
}

// newTestClient is NewClient with idle connections closed at test end, so
// no connection goroutine outlives the test.
func newTestClient(t *testing.T, p Policy, o ClientOptions) *http.Client {
	t.Helper()
	c := NewClient(p, o)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// ok is a handler that answers 200 "ok".
func ok() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})
}

// get does a GET and returns the status and body, or the error.
func get(t *testing.T, c *http.Client, rawURL string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, rawURL, nil)
	require.NoError(t, err)
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { require.NoError(t, resp.Body.Close()) }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body), nil
}

func TestNewClientBlocksLoopbackAtConnect(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, ok())
	// http is allowed, loopback is not: the guard, not the scheme, refuses.
	c := newTestClient(t, Policy{AllowHTTP: true}, ClientOptions{})
	_, _, err := get(t, c, srv.URL)
	require.ErrorIs(t, err, ErrBlocked)
	srv.requireNoConnection(t)
}

func TestNewClientBlocksNameResolvingToLoopback(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, ok())
	c := newTestClient(t, Policy{AllowHTTP: true}, ClientOptions{})
	// ValidateURL would refuse "localhost" by name; skipping it shows that
	// the dialer judges the address DNS returned, which is what stops a
	// public name pointed (or rebound) at an internal address.
	_, _, err := get(t, c, fmt.Sprintf("http://localhost:%d/", srv.port()))
	require.ErrorIs(t, err, ErrBlocked)
	srv.requireNoConnection(t)
}

func TestNewClientAllowPrefixes(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, ok())
	c := newTestClient(t, loopbackOnly(), ClientOptions{})
	status, body, err := get(t, c, srv.URL)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "ok", body)
	// The prefix allows the address, whatever name led there.
	status, _, err = get(t, c, fmt.Sprintf("http://localhost:%d/", srv.port()))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
}

func TestNewClientDev(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, ok())
	c := newTestClient(t, Policy{Dev: true}, ClientOptions{})
	status, _, err := get(t, c, srv.URL)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
}

// TestNewClientDevRefusesMetadata: the Dev client that reaches loopback
// (above) refuses every metadata address at connect time, before any
// packet is sent.
func TestNewClientDevRefusesMetadata(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, Policy{Dev: true}, ClientOptions{Timeout: 5 * time.Second})
	for _, u := range []string{
		"http://169.254.169.254/latest/meta-data/", "http://100.100.100.200/latest/meta-data/",
		"http://[fd00:ec2::254]/latest/meta-data/", "http://169.254.170.2/v2/credentials",
		"http://192.0.0.192/", "http://[::ffff:100.100.100.200]/", "http://[fd00:ec2::23]/",
	} {
		_, _, err := get(t, c, u)
		require.ErrorIs(t, err, ErrBlocked, u)
		require.ErrorContains(t, err, "metadata", u)
	}
}

func TestNewClientPorts(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, ok())
	p := loopbackOnly()
	p.Ports = []uint16{srv.port() + 1}
	c := newTestClient(t, p, ClientOptions{})
	_, _, err := get(t, c, srv.URL)
	require.ErrorIs(t, err, ErrBlocked)
	srv.requireNoConnection(t)
}

func TestNewClientIgnoresProxyEnvironment(t *testing.T) {
	t.Parallel()
	// Not t.Setenv (it forbids t.Parallel): the transport must not even
	// have a Proxy function to consult.
	tr, isTransport := NewClient(Policy{}, ClientOptions{}).Transport.(*http.Transport)
	require.True(t, isTransport)
	require.Nil(t, tr.Proxy)
	require.True(t, tr.DisableCompression)
}

func TestNewClientDefaults(t *testing.T) {
	t.Parallel()
	c := NewClient(Policy{}, ClientOptions{})
	require.Equal(t, DefaultTimeout, c.Timeout)
	tr := c.Transport.(*http.Transport)
	require.Equal(t, DefaultTLSHandshakeTimeout, tr.TLSHandshakeTimeout)
	require.Equal(t, DefaultResponseHeaderTimeout, tr.ResponseHeaderTimeout)

	c = NewClient(Policy{}, ClientOptions{Timeout: time.Second, ResponseHeaderTimeout: 2 * time.Second})
	require.Equal(t, time.Second, c.Timeout)
	require.Equal(t, 2*time.Second, c.Transport.(*http.Transport).ResponseHeaderTimeout)
}

// redirector answers every request with a redirect to target.
func redirector(target func() string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target(), http.StatusFound)
	})
}

func TestNewClientDoesNotFollowRedirectsByDefault(t *testing.T) {
	t.Parallel()
	final := newTestServer(t, ok())
	srv := newTestServer(t, redirector(func() string { return final.URL }))
	c := newTestClient(t, loopbackOnly(), ClientOptions{})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.Equal(t, final.URL, resp.Header.Get("Location"))
	final.requireNoConnection(t)
}

func TestNewClientFollowsRedirects(t *testing.T) {
	t.Parallel()
	final := newTestServer(t, ok())
	hop := newTestServer(t, redirector(func() string { return final.URL }))
	first := newTestServer(t, redirector(func() string { return hop.URL }))
	c := newTestClient(t, loopbackOnly(), ClientOptions{FollowRedirects: true})
	status, body, err := get(t, c, first.URL)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "ok", body)
}

func TestNewClientRedirectLimit(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		http.Redirect(w, r, fmt.Sprintf("http://%s/%d", r.Host, n), http.StatusFound)
	}))
	c := newTestClient(t, loopbackOnly(), ClientOptions{FollowRedirects: true, MaxRedirects: 3})
	_, _, err := get(t, c, srv.URL)
	require.ErrorIs(t, err, ErrUnreachable)
	require.ErrorContains(t, err, "more than 3 times")
	require.Equal(t, int64(4), hits.Load(), "the first request and 3 redirects")

	hits.Store(0)
	c = newTestClient(t, loopbackOnly(), ClientOptions{FollowRedirects: true})
	_, _, err = get(t, c, srv.URL)
	require.ErrorIs(t, err, ErrUnreachable)
	require.Equal(t, int64(1+DefaultMaxRedirects), hits.Load())
}

func TestNewClientRefusesBlockedRedirects(t *testing.T) {
	t.Parallel()
	target := newTestServer(t, ok())
	port := target.port()
	p := loopbackOnly()
	tests := []struct {
		name     string
		location string
		policy   Policy
		blocked  bool
	}{
		{"name resolving to loopback", fmt.Sprintf("http://localhost:%d/", port), p, true},
		{"other loopback address", fmt.Sprintf("http://127.0.0.2:%d/", port), p, true},
		{"metadata", "http://169.254.169.254/latest/meta-data/", p, true},
		{"metadata by name", "http://metadata.google.internal/computeMetadata/v1/", p, true},
		{"mapped loopback outside prefix", fmt.Sprintf("http://[::ffff:127.0.0.2]:%d/", port), p, true},
		{"port not allowed", fmt.Sprintf("http://127.0.0.1:%d/", port), Policy{AllowHTTP: true, AllowPrefixes: p.AllowPrefixes, Ports: []uint16{port + 1}}, true},
		// The allowed address in a spelling only browsers understand.
		{"decimal loopback", fmt.Sprintf("http://2130706433:%d/", port), p, false},
		{"userinfo", fmt.Sprintf("http://user:pass@127.0.0.1:%d/", port), p, false},
		{"file", "file:///etc/passwd", p, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the subtests share target's connection count.
			srv := newTestServer(t, redirector(func() string { return tt.location }))
			pol := tt.policy
			if len(pol.Ports) > 0 {
				pol.Ports = append(pol.Ports, srv.port())
			}
			c := newTestClient(t, pol, ClientOptions{FollowRedirects: true})
			_, _, err := get(t, c, srv.URL)
			require.ErrorIs(t, err, ErrInvalidURL)
			if tt.blocked {
				require.ErrorIs(t, err, ErrBlocked)
			}
			require.ErrorContains(t, err, "redirected to a URL that is not allowed")
			require.Equal(t, int64(1), srv.listener.accepted.Load())
		})
	}
	target.requireNoConnection(t)
}

// trustTestTLS makes c trust srv's self-signed certificate, leaving the
// rest of the transport NewClient built (guard included) as it is.
func trustTestTLS(t *testing.T, c *http.Client, srv *httptest.Server) {
	t.Helper()
	tr, isTransport := c.Transport.(*http.Transport)
	require.True(t, isTransport)
	tr.TLSClientConfig.RootCAs = srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
}

func TestNewClientHTTPS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(ok())
	t.Cleanup(srv.Close)
	prod := Policy{AllowPrefixes: loopbackOnly().AllowPrefixes} // https only

	c := newTestClient(t, prod, ClientOptions{})
	trustTestTLS(t, c, srv)
	status, body, err := get(t, c, srv.URL)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "ok", body)

	blocked := newTestClient(t, Policy{}, ClientOptions{})
	trustTestTLS(t, blocked, srv)
	_, _, err = get(t, blocked, srv.URL)
	require.ErrorIs(t, err, ErrBlocked)
}

func TestNewClientRefusesRedirectToPlainHTTP(t *testing.T) {
	t.Parallel()
	plain := newTestServer(t, ok())
	srv := httptest.NewTLSServer(redirector(func() string { return plain.URL }))
	t.Cleanup(srv.Close)
	c := newTestClient(t, Policy{AllowPrefixes: loopbackOnly().AllowPrefixes}, ClientOptions{FollowRedirects: true})
	trustTestTLS(t, c, srv)
	_, _, err := get(t, c, srv.URL)
	require.ErrorIs(t, err, ErrInvalidURL)
	require.ErrorContains(t, err, "must be https")
	plain.requireNoConnection(t)
}

// TestSSRFTargetsNeverConnect throws the classic SSRF spellings of "this
// machine" at a server listening on 127.0.0.1 and proves none of them
// reaches it, whether the caller validates first (as florad does) or not.
func TestSSRFTargetsNeverConnect(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, ok())
	port := srv.port()
	policy := Policy{AllowHTTP: true}
	c := newTestClient(t, policy, ClientOptions{FollowRedirects: true, Timeout: 5 * time.Second})

	tests := []struct {
		host string
		// direct: the Go dialer resolves host without DNS, so the client
		// alone, with no ValidateURL in front, must refuse it too. The
		// exotic numeric spellings would go to the (unreachable) DNS server
		// instead, so for them ValidateURL is the line of defence.
		direct bool
	}{
		{"127.0.0.1", true},
		{"localhost", true},
		{"LOCALHOST.", false},
		{"0.0.0.0", true},
		{"[::ffff:127.0.0.1]", true},
		{"[::ffff:7f00:1]", true},
		{"[::1]", true},
		{"[::]", true},
		{"127.0.0.1.", false},
		{"2130706433", false},
		{"0177.0.0.1", false},
		{"0x7f.0.0.1", false},
		{"0x7f000001", false},
		{"017700000001", false},
		{"127.1", false},
		{"127.0.1", false},
		{"127.000.000.001", false},
		{"0", false},
		{"foo.localhost", false},
		{"[::ffff:0.0.0.0]", true},
		{"[64:ff9b::7f00:1]", true},
		{"[::127.0.0.1]", true},
	}
	for _, tt := range tests {
		rawURL := fmt.Sprintf("http://%s:%d/", tt.host, port)
		t.Run(tt.host, func(t *testing.T) {
			// Not parallel: the subtests share the server's count.
			err := ValidateURL(rawURL, policy)
			require.ErrorIs(t, err, ErrBlocked)
			if tt.direct {
				_, _, err := get(t, c, rawURL)
				require.ErrorIs(t, err, ErrBlocked)
			}
		})
	}
	// Targets elsewhere: refused before any dial, by ValidateURL and, for
	// literal addresses, by the guard on its own.
	for _, rawURL := range []string{
		"http://169.254.169.254/latest/meta-data/",
		"http://[fd00:ec2::254]/latest/meta-data/",
		"http://10.0.0.1/",
		"http://192.168.1.1/",
		"http://100.100.100.200/latest/meta-data/",
		"http://[fe80::1]/",
	} {
		t.Run(url.PathEscape(rawURL), func(t *testing.T) {
			require.ErrorIs(t, ValidateURL(rawURL, policy), ErrBlocked)
			_, _, err := get(t, c, rawURL)
			require.ErrorIs(t, err, ErrBlocked)
		})
	}
	srv.requireNoConnection(t)
}

func TestNewClientHonoursContext(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, ok())
	c := newTestClient(t, loopbackOnly(), ClientOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.Nil(t, resp)
	require.ErrorIs(t, err, context.Canceled)
}
