package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
)

// routeMethods is the route table as pattern → methods.
func routeMethods(t *testing.T, s *Server) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	require.NoError(t, chi.Walk(s.router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out[route] = append(out[route], method)
		return nil
	}))
	return out
}

// exchange sends one request over real HTTP and returns the response and
// its whole body.
func exchange(t *testing.T, srv *httptest.Server, method, target, key string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+target, nil)
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// TestHeadOnEveryGetRoute: every GET route answers HEAD with the status and
// headers of its GET and no body, over real HTTP, errors included.
func TestHeadOnEveryGetRoute(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := b.httpServe(t)

	key := "runs/x/enhance/image.jpg"
	_, err := b.blobs.Put(t.Context(), key, strings.NewReader("jpeg bytes"), "image/jpeg")
	require.NoError(t, err)
	fileURL, err := b.blobs.URL(t.Context(), key, time.Hour)
	require.NoError(t, err)
	r := b.insertRun(t, "prompt-expander", []store.RunInput{{ID: "prompt", Type: "text", Value: "a cat"}}, 1,
		&store.RunFinishParams{Status: store.RunFailed, ErrorCode: "input_invalid", ErrorMessage: "no"})

	// One request per GET route of the table; the test fails when a route
	// is added without one here.
	targets := map[string][]string{
		"/healthz":   {"/healthz"},
		"/readyz":    {"/readyz"},
		"/console":   {"/console"},
		"/console/*": {"/console/", "/console/app.js", "/console/missing.js"},
		"/files/*":   {strings.TrimPrefix(fileURL, publicURL), "/files/" + key + "?expires=1&signature=bad"},
		"/api/v1/techniques/{technique}/runs/{runID}": {"/api/v1/techniques/prompt-expander/runs/" + r.ID,
			"/api/v1/techniques/prompt-expander/runs/run_missing"},
		"/api/v1/techniques":                                 {"/api/v1/techniques", "/api/v1/techniques?limit=0"},
		"/api/v1/techniques/{technique}":                     {"/api/v1/techniques/prompt-expander"},
		"/api/v1/techniques/{technique}/runs":                {"/api/v1/techniques/prompt-expander/runs"},
		"/api/v1/techniques/{technique}/runs/{runID}/events": {"/api/v1/techniques/prompt-expander/runs/" + r.ID + "/events"},
		"/api/v1/technique-runs":                             {"/api/v1/technique-runs"},
		"/api/v1/workspace":                                  {"/api/v1/workspace"},
		"/api/v1/workspace/ledger":                           {"/api/v1/workspace/ledger"},
		"/api/v1/webhook-deliveries":                         {"/api/v1/webhook-deliveries"},
		"/api/v1/assets":                                     {"/api/v1/assets", "/api/v1/assets?limit=0"},
		"/api/v1/assets/{assetID}":                           {"/api/v1/assets/asset_missing"},
	}
	for pattern, methods := range routeMethods(t, b.server) {
		if !slices.Contains(methods, http.MethodGet) {
			continue
		}
		require.Contains(t, methods, http.MethodHead, pattern)
		paths, ok := targets[pattern]
		require.True(t, ok, "no HEAD check for GET %s", pattern)
		for _, p := range paths {
			get, getBody := exchange(t, srv, http.MethodGet, p, b.ws.Key)
			head, headBody := exchange(t, srv, http.MethodHead, p, b.ws.Key)
			require.Equal(t, get.StatusCode, head.StatusCode, p)
			require.Empty(t, headBody, p)
			require.NotEmpty(t, getBody, p)
			for _, h := range []http.Header{get.Header, head.Header} {
				require.NotEmpty(t, h.Get("request-id"), p)
				h.Del("request-id")
				h.Del("Date")
			}
			if get.Header.Get("Content-Type") == "text/event-stream" {
				// A stream's GET is chunked; its HEAD has no body to frame.
				get.Header.Del("Transfer-Encoding")
			}
			require.Equal(t, get.Header, head.Header, p)
		}
	}
	// HEAD of a live run's stream answers at once: the stream's headers,
	// no stream (its GET would run until the run ends).
	pending := b.insertRun(t, "prompt-expander", []store.RunInput{{ID: "prompt", Type: "text", Value: "a cat"}}, 1, nil)
	start := time.Now()
	head, body := exchange(t, srv, http.MethodHead, "/api/v1/techniques/prompt-expander/runs/"+pending.ID+"/events", b.ws.Key)
	require.Equal(t, http.StatusOK, head.StatusCode)
	require.Equal(t, "text/event-stream", head.Header.Get("Content-Type"))
	require.Empty(t, body)
	require.Less(t, time.Since(start), 5*time.Second)

	// An unauthenticated HEAD is refused like its GET.
	get, _ := exchange(t, srv, http.MethodGet, "/api/v1/workspace", "")
	head, body = exchange(t, srv, http.MethodHead, "/api/v1/workspace", "")
	require.Equal(t, http.StatusUnauthorized, get.StatusCode)
	require.Equal(t, get.StatusCode, head.StatusCode)
	require.Empty(t, body)
}

// TestMethodNotAllowedCarriesAllow: a 405 lists the methods the path has,
// in the API's error shape.
func TestMethodNotAllowedCarriesAllow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := b.httpServe(t)

	tests := []struct {
		method, path, allow string
	}{
		{http.MethodDelete, "/api/v1/techniques/prompt-expander/runs", "GET, HEAD, POST"},
		{http.MethodPut, "/api/v1/techniques/prompt-expander/runs/run_x", "GET, HEAD"},
		{http.MethodGet, "/api/v1/techniques/prompt-expander/runs/run_x/cancel", "POST"},
		{http.MethodPost, "/api/v1/workspace", "GET, HEAD"},
		{http.MethodPost, "/healthz", "GET, HEAD"},
		{http.MethodDelete, "/files/a/b.jpg", "GET, HEAD"},
		{http.MethodGet, "/api/v1/webhook-deliveries/whd_x/redeliver", "POST"},
		{"PROPFIND", "/api/v1/workspace", "GET, HEAD"},
	}
	for _, tt := range tests {
		resp, body := exchange(t, srv, tt.method, tt.path, b.ws.Key)
		require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "%s %s", tt.method, tt.path)
		require.Equal(t, tt.allow, resp.Header.Get("Allow"), "%s %s", tt.method, tt.path)
		require.Contains(t, string(body), `"code":"method_not_allowed"`)
	}
	// A method nobody knows on a path nobody serves is simply not found.
	resp, body := exchange(t, srv, "PROPFIND", "/nowhere", b.ws.Key)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Contains(t, string(body), `"code":"not_found"`)
}
