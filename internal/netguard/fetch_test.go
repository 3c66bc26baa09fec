package netguard

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// secret is put in response bodies and headers that errors must not repeat.
const secret = "AKIA-SECRET-FROM-BODY"

// serveBytes answers with body, with a Content-Length unless chunked.
func serveBytes(body []byte, chunked bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png") // servers lie; sniffing decides
		if !chunked {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = w.Write(body)
			return
		}
		for chunk := range slices.Chunk(body, 100) {
			_, _ = w.Write(chunk)
			w.(http.Flusher).Flush()
		}
	})
}

// paddedPNG is a PNG signature followed by filler up to size bytes.
func paddedPNG(t *testing.T, size int) []byte {
	t.Helper()
	b := pngBytes(t)
	require.LessOrEqual(t, len(b), size)
	return append(b, bytes.Repeat([]byte{0}, size-len(b))...)
}

// fetchClient is the client fetch tests use: http and 127.0.0.1 allowed
// through the policy, guard active.
func fetchClient(t *testing.T, o ClientOptions) *http.Client {
	t.Helper()
	return newTestClient(t, loopbackOnly(), o)
}

// newHangingServer starts a server whose handler, after start, blocks
// until the client goes away or the test ends, so that no handler goroutine
// outlives the test even if the client never hangs up.
func newHangingServer(t *testing.T, start func(http.ResponseWriter)) *testServer {
	t.Helper()
	release := make(chan struct{})
	srv := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if start != nil {
			start(w)
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	// Cleanups run last-in first-out: this one runs before the server's
	// Close, which would otherwise wait for the handler forever.
	t.Cleanup(func() { close(release) })
	return srv
}

func TestFetchImage(t *testing.T) {
	t.Parallel()
	img := pngBytes(t)
	headers := make(chan http.Header, 1)
	srv := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers <- r.Header.Clone()
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(img)
	}))
	got, err := Fetch(t.Context(), fetchClient(t, ClientOptions{}), srv.URL, FetchOptions{Accept: []Kind{KindImage}})
	require.NoError(t, err)
	require.Equal(t, "image/png", got.ContentType)
	require.Equal(t, img, got.Body)
	h := <-headers
	require.Equal(t, "image/*", h.Get("Accept"))
	require.Equal(t, DefaultUserAgent, h.Get("User-Agent"))
}

func TestFetchVideo(t *testing.T) {
	t.Parallel()
	mp4 := append(ftyp("isom", "isom", "mp41"), bytes.Repeat([]byte{1}, 2000)...)
	srv := newTestServer(t, serveBytes(mp4, true))
	got, err := Fetch(t.Context(), fetchClient(t, ClientOptions{}), srv.URL,
		FetchOptions{Accept: []Kind{KindImage, KindVideo}, UserAgent: "florad-test"})
	require.NoError(t, err)
	require.Equal(t, "video/mp4", got.ContentType)
	require.Equal(t, mp4, got.Body)
}

func TestFetchAnyContent(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "<html><body>hello</body></html>")
	}))
	got, err := Fetch(t.Context(), fetchClient(t, ClientOptions{}), srv.URL, FetchOptions{})
	require.NoError(t, err)
	require.Equal(t, "text/html; charset=utf-8", got.ContentType)
	require.Equal(t, "<html><body>hello</body></html>", string(got.Body))
}

func TestFetchRefusesWrongContent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    []byte
		accept  []Kind
		message string
	}{
		{"html as image", []byte("<!DOCTYPE html><html>" + secret + "</html>"), []Kind{KindImage}, "the content is not an image (it looks like text/html)"},
		{"json as image", []byte(`{"Code":"Success","SecretAccessKey":"` + secret + `"}`), []Kind{KindImage}, "not an image"},
		{"svg as image", []byte(`<svg xmlns="http://www.w3.org/2000/svg">` + secret + `</svg>`), []Kind{KindImage}, "not an image"},
		{"video as image", ftyp("isom", "isom", secret[:4]), []Kind{KindImage}, "it looks like video/mp4"},
		{"image as video", pngBytes(t), []Kind{KindVideo}, "not a video (it looks like image/png)"},
		{"html as image or video", []byte("<html>" + secret), []Kind{KindImage, KindVideo}, "not an image or a video"},
		{"empty", nil, []Kind{KindImage}, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newTestServer(t, serveBytes(tt.body, false))
			_, err := Fetch(t.Context(), fetchClient(t, ClientOptions{}), srv.URL, FetchOptions{Accept: tt.accept})
			require.ErrorIs(t, err, ErrInvalidContent)
			require.NotErrorIs(t, err, ErrUnreachable)
			require.ErrorContains(t, err, tt.message)
			require.NotContains(t, err.Error(), secret)
		})
	}
}

func TestFetchSizeLimit(t *testing.T) {
	t.Parallel()
	const limit = 4096
	tests := []struct {
		name    string
		size    int
		chunked bool
		limit   int64
		tooBig  bool
	}{
		{"declared at limit", limit, false, limit, false},
		{"declared over limit", limit + 1, false, limit, true},
		{"streamed at limit", limit, true, limit, false},
		{"streamed over limit", limit + 1, true, limit, true},
		{"streamed far over limit", 10 * limit, true, limit, true},
		{"limit below sniff length, at limit", 100, true, 100, false},
		{"limit below sniff length, over", 600, true, 100, true},
		{"limit below sniff length, declared over", 600, false, 100, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := paddedPNG(t, tt.size)
			srv := newTestServer(t, serveBytes(body, tt.chunked))
			got, err := Fetch(t.Context(), fetchClient(t, ClientOptions{}), srv.URL,
				FetchOptions{MaxBytes: tt.limit, Accept: []Kind{KindImage}})
			if !tt.tooBig {
				require.NoError(t, err)
				require.Equal(t, body, got.Body)
				return
			}
			require.ErrorIs(t, err, ErrTooLarge)
			require.NotErrorIs(t, err, ErrUnreachable)
			require.ErrorContains(t, err, "larger than the limit of")
		})
	}
}

func TestFetchRefusesDeclaredSizeWithoutReading(t *testing.T) {
	t.Parallel()
	// The server announces 1 GiB and then stalls: only an early refusal
	// based on Content-Length can return before the client's timeout.
	img := pngBytes(t)
	srv := newHangingServer(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Length", strconv.Itoa(1<<30))
		_, _ = w.Write(img)
		w.(http.Flusher).Flush()
	})
	start := time.Now()
	_, err := Fetch(t.Context(), fetchClient(t, ClientOptions{Timeout: 10 * time.Second}), srv.URL,
		FetchOptions{MaxBytes: 1 << 20})
	require.ErrorIs(t, err, ErrTooLarge)
	require.ErrorContains(t, err, "larger than the limit of 1 MiB")
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestFetchStopsEndlessBody(t *testing.T) {
	t.Parallel()
	img := pngBytes(t)
	srv := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(img)
		chunk := bytes.Repeat([]byte{0}, 32<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	_, err := Fetch(t.Context(), fetchClient(t, ClientOptions{}), srv.URL, FetchOptions{MaxBytes: 1 << 20})
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestFetchStatus(t *testing.T) {
	t.Parallel()
	for _, code := range []int{http.StatusNotFound, http.StatusForbidden, http.StatusInternalServerError, http.StatusFound, http.StatusNoContent + 100} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			srv := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", "/elsewhere")
				w.Header().Set("X-Reason", secret)
				w.WriteHeader(code)
				_, _ = io.WriteString(w, secret)
			}))
			_, err := Fetch(t.Context(), fetchClient(t, ClientOptions{}), srv.URL, FetchOptions{Accept: []Kind{KindImage}})
			require.ErrorIs(t, err, ErrUnreachable)
			require.NotErrorIs(t, err, ErrBlocked)
			require.ErrorContains(t, err, fmt.Sprintf("HTTP status %d", code))
			require.NotContains(t, err.Error(), secret)
		})
	}
}

func TestFetchFollowsRedirectsWhenAsked(t *testing.T) {
	t.Parallel()
	img := pngBytes(t)
	final := newTestServer(t, serveBytes(img, false))
	srv := newTestServer(t, redirector(func() string { return final.URL }))

	_, err := Fetch(t.Context(), fetchClient(t, ClientOptions{}), srv.URL, FetchOptions{})
	require.ErrorIs(t, err, ErrUnreachable)
	require.ErrorContains(t, err, "redirect (HTTP status 302)")

	got, err := Fetch(t.Context(), fetchClient(t, ClientOptions{FollowRedirects: true}), srv.URL, FetchOptions{})
	require.NoError(t, err)
	require.Equal(t, img, got.Body)
}

func TestFetchRedirectToBlockedAddress(t *testing.T) {
	t.Parallel()
	target := newTestServer(t, ok())
	srv := newTestServer(t, redirector(func() string { return fmt.Sprintf("http://localhost:%d/", target.port()) }))
	_, err := Fetch(t.Context(), fetchClient(t, ClientOptions{FollowRedirects: true}), srv.URL, FetchOptions{})
	require.ErrorIs(t, err, ErrUnreachable)
	require.ErrorIs(t, err, ErrBlocked)
	require.ErrorContains(t, err, "redirected to a URL that is not allowed")
	target.requireNoConnection(t)
}

func TestFetchBlocked(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, ok())
	c := newTestClient(t, Policy{AllowHTTP: true}, ClientOptions{})
	_, err := Fetch(t.Context(), c, srv.URL, FetchOptions{})
	require.ErrorIs(t, err, ErrUnreachable)
	require.ErrorIs(t, err, ErrBlocked)
	require.ErrorContains(t, err, "private or reserved network")
	require.NotContains(t, err.Error(), "127.0.0.1")
	srv.requireNoConnection(t)
}

func TestFetchTimeout(t *testing.T) {
	t.Parallel()
	head := paddedPNG(t, 1000)
	tests := []struct {
		name    string
		start   func(http.ResponseWriter)
		message string
	}{
		{"no response", nil, "did not respond in time"},
		{"stalled body", func(w http.ResponseWriter) {
			_, _ = w.Write(head)
			w.(http.Flusher).Flush()
		}, "did not send the content in time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newHangingServer(t, tt.start)
			start := time.Now()
			_, err := Fetch(t.Context(), fetchClient(t, ClientOptions{Timeout: 200 * time.Millisecond}), srv.URL, FetchOptions{})
			require.ErrorIs(t, err, ErrUnreachable)
			require.ErrorContains(t, err, tt.message)
			require.Less(t, time.Since(start), 3*time.Second)
		})
	}
}

func TestFetchResponseHeaderTimeout(t *testing.T) {
	t.Parallel()
	srv := newHangingServer(t, nil)
	start := time.Now()
	c := fetchClient(t, ClientOptions{Timeout: time.Minute, ResponseHeaderTimeout: 200 * time.Millisecond})
	_, err := Fetch(t.Context(), c, srv.URL, FetchOptions{})
	require.ErrorIs(t, err, ErrUnreachable)
	require.ErrorContains(t, err, "in time")
	require.Less(t, time.Since(start), 3*time.Second)
}

func TestFetchTruncatedBody(t *testing.T) {
	t.Parallel()
	head := paddedPNG(t, 1000)
	srv := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		// Promise more than is sent; the server then drops the connection.
		w.Header().Set("Content-Length", "5000")
		_, _ = w.Write(head)
	}))
	_, err := Fetch(t.Context(), fetchClient(t, ClientOptions{}), srv.URL, FetchOptions{})
	require.ErrorIs(t, err, ErrUnreachable)
	require.ErrorContains(t, err, "connection broke")
}

func TestFetchConnectionRefused(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	_, err = Fetch(t.Context(), fetchClient(t, ClientOptions{}), "http://"+addr+"/", FetchOptions{})
	require.ErrorIs(t, err, ErrUnreachable)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	require.ErrorContains(t, err, "refused the connection")
}

func TestFetchCanceled(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, ok())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Fetch(ctx, fetchClient(t, ClientOptions{}), srv.URL, FetchOptions{})
	require.ErrorIs(t, err, ErrUnreachable)
	require.ErrorIs(t, err, context.Canceled)
}

func TestFetchCanceledDuringBody(t *testing.T) {
	t.Parallel()
	head := paddedPNG(t, 1000)
	started := make(chan struct{})
	srv := newHangingServer(t, func(w http.ResponseWriter) {
		_, _ = w.Write(head)
		w.(http.Flusher).Flush()
		close(started)
	})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		defer cancel()
		select {
		case <-started:
			time.Sleep(50 * time.Millisecond) // let Fetch reach the body
		case <-ctx.Done():
		}
	}()
	_, err := Fetch(ctx, fetchClient(t, ClientOptions{}), srv.URL, FetchOptions{})
	require.ErrorIs(t, err, ErrUnreachable)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "canceled")
}

func TestFetchToFile(t *testing.T) {
	t.Parallel()
	body := paddedPNG(t, 100_000)
	srv := newTestServer(t, serveBytes(body, true))
	dir := t.TempDir()
	path, contentType, err := FetchToFile(t.Context(), fetchClient(t, ClientOptions{}), srv.URL, dir,
		FetchOptions{Accept: []Kind{KindImage}})
	require.NoError(t, err)
	require.Equal(t, "image/png", contentType)
	require.Equal(t, dir, filepath.Dir(path))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, body, got)
}

func TestFetchToFileRemovesFileOnError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.Handler
		opts    FetchOptions
		want    error
	}{
		{"too large", serveBytes(make([]byte, 10_000), true), FetchOptions{MaxBytes: 5000}, ErrTooLarge},
		{"wrong content", serveBytes([]byte("<html>"), false), FetchOptions{Accept: []Kind{KindVideo}}, ErrInvalidContent},
		{"status", http.NotFoundHandler(), FetchOptions{}, ErrUnreachable},
		{"truncated", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "5000")
			_, _ = w.Write(make([]byte, 1000))
		}), FetchOptions{}, ErrUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newTestServer(t, tt.handler)
			dir := t.TempDir()
			path, _, err := FetchToFile(t.Context(), fetchClient(t, ClientOptions{}), srv.URL, dir, tt.opts)
			require.ErrorIs(t, err, tt.want)
			require.Empty(t, path)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Empty(t, entries)
		})
	}
}

func TestFetchToFileBadDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "missing")
	_, _, err := FetchToFile(t.Context(), fetchClient(t, ClientOptions{}), "http://127.0.0.1:1/", dir, FetchOptions{})
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NotErrorIs(t, err, ErrUnreachable)
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     error
		message string
	}{
		{"no such host", &net.DNSError{Err: "no such host", Name: "x.example", IsNotFound: true}, "does not exist"},
		{"DNS failure", &net.DNSError{Err: "server misbehaving", Name: "x.example", IsTemporary: true}, "could not be resolved"},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "refused"},
		{"deadline", context.DeadlineExceeded, "in time"},
		{"canceled", context.Canceled, "canceled"},
		{"unknown CA", x509.UnknownAuthorityError{}, "certificate"},
		{"other", errors.New("weird " + secret), "request to the server failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := classify(fmt.Errorf("Get %q: %w", "https://x.example/"+secret, tt.err))
			require.ErrorIs(t, err, ErrUnreachable)
			require.ErrorIs(t, err, tt.err)
			require.ErrorContains(t, err, tt.message)
			require.NotContains(t, err.Error(), secret)
			require.NotContains(t, err.Error(), "x.example")
		})
	}
}

func TestDescribeKinds(t *testing.T) {
	t.Parallel()
	require.Equal(t, "an image", describeKinds([]Kind{KindImage}))
	require.Equal(t, "an image or a video", describeKinds([]Kind{KindImage, KindVideo}))
	require.Equal(t, "a ", describeKinds([]Kind{""}))
}

func TestFormatBytes(t *testing.T) {
	t.Parallel()
	require.Equal(t, "20 MiB", formatBytes(DefaultMaxBytes))
	require.Equal(t, "4 KiB", formatBytes(4096))
	require.Equal(t, "100 bytes", formatBytes(100))
	require.Equal(t, "1500 bytes", formatBytes(1500))
}
