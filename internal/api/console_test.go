package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConsoleFiles: the console is served without a key, with a strict
// content security policy, revalidated by ETag; /console redirects to
// /console/, and a missing file is a 404 in the API's error shape.
func TestConsoleFiles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := b.httpServe(t)
	srv.Client().CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	resp, _ := exchange(t, srv, http.MethodGet, "/console", "")
	require.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
	require.Equal(t, "/console/", resp.Header.Get("Location"))

	resp, body := exchange(t, srv, http.MethodGet, "/console/", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Contains(t, string(body), `<script type="module" src="app.js"></script>`)
	csp := resp.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "script-src 'self'")
	require.Contains(t, csp, "connect-src 'self'")
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/console/", nil)
	require.NoError(t, err)
	req.Header.Set("If-None-Match", etag)
	again, err := srv.Client().Do(req)
	require.NoError(t, err)
	require.NoError(t, again.Body.Close())
	require.Equal(t, http.StatusNotModified, again.StatusCode)

	for name, ct := range map[string]string{"app.js": "text/javascript", "console.css": "text/css"} {
		resp, body := exchange(t, srv, http.MethodGet, "/console/"+name, "")
		require.Equal(t, http.StatusOK, resp.StatusCode, name)
		require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), ct), "%s: %s", name, resp.Header.Get("Content-Type"))
		require.NotEmpty(t, body)
	}

	resp, _ = exchange(t, srv, http.MethodGet, "/console/../go.mod", "")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, body = exchange(t, srv, http.MethodGet, "/console/nothing.js", "")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Contains(t, string(body), `"code":"not_found"`)
}
