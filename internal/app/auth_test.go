package app_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
)

func TestAuthentication(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	t.Run("NoHeader", func(t *testing.T) {
		t.Parallel()
		_, err := b.newClient("").Techniques.List(ctx, nil)
		apiError(t, err, http.StatusUnauthorized, "unauthorized")
	})

	t.Run("NotBearer", func(t *testing.T) {
		t.Parallel()
		_, err := b.newClient("").Techniques.List(ctx, nil, client.WithHeader("Authorization", "Basic x"))
		apiError(t, err, http.StatusUnauthorized, "unauthorized")
	})

	t.Run("BearerWithoutToken", func(t *testing.T) {
		t.Parallel()
		_, err := b.newClient("").Techniques.List(ctx, nil, client.WithHeader("Authorization", "Bearer "))
		apiError(t, err, http.StatusUnauthorized, "unauthorized")
	})

	t.Run("UnknownKey", func(t *testing.T) {
		t.Parallel()
		_, err := b.newClient("sk_live_0123456789abcdef0123456789abcdef").Techniques.List(ctx, nil)
		apiError(t, err, http.StatusUnauthorized, "invalid_api_key")
	})

	t.Run("MalformedKey", func(t *testing.T) {
		t.Parallel()
		_, err := b.newClient("not-a-key").Techniques.List(ctx, nil)
		apiError(t, err, http.StatusUnauthorized, "invalid_api_key")
	})

	t.Run("RevokedKeyAtOnce", func(t *testing.T) {
		t.Parallel()
		_, keyID, key := b.newWorkspace(t, 10)
		c := b.newClient(key)
		_, err := c.Techniques.List(ctx, nil)
		require.NoError(t, err, "the key works before it is revoked")
		r, err := c.Runs.Create(ctx, "prompt-expander", promptRun("a cat"))
		require.NoError(t, err)
		_, err = c.Runs.Get(ctx, "prompt-expander", r.RunID)
		require.NoError(t, err)

		require.NoError(t, b.app.Workspaces.RevokeKey(ctx, keyID))
		_, err = c.Techniques.List(ctx, nil)
		apiError(t, err, http.StatusUnauthorized, "invalid_api_key")
		_, err = c.Runs.Create(ctx, "prompt-expander", promptRun("a cat"))
		apiError(t, err, http.StatusUnauthorized, "invalid_api_key")
		// A poll reads the key and the run in one statement: the run being
		// there changes nothing.
		_, err = c.Runs.Get(ctx, "prompt-expander", r.RunID)
		apiError(t, err, http.StatusUnauthorized, "invalid_api_key")
	})

	t.Run("OtherWorkspaceID", func(t *testing.T) {
		t.Parallel()
		otherWS, _, _ := b.newWorkspace(t, 0)
		_, err := b.client.Techniques.List(ctx, nil, client.WithQuery("workspace_id", otherWS))
		apiError(t, err, http.StatusForbidden, "forbidden")
		r, err := b.client.Runs.Create(ctx, "prompt-expander", promptRun("a cat"), client.WithQuery("workspace_id", otherWS))
		apiError(t, err, http.StatusForbidden, "forbidden")
		require.Nil(t, r)
		mine, err := b.client.Runs.Create(ctx, "prompt-expander", promptRun("a cat"))
		require.NoError(t, err)
		_, err = b.client.Runs.Get(ctx, "prompt-expander", mine.RunID, client.WithQuery("workspace_id", otherWS))
		apiError(t, err, http.StatusForbidden, "forbidden")
	})

	t.Run("OwnWorkspaceID", func(t *testing.T) {
		t.Parallel()
		l, err := b.client.Techniques.List(ctx, nil, client.WithQuery("workspace_id", b.wsID))
		require.NoError(t, err)
		require.NotEmpty(t, l.Techniques)
	})

	t.Run("FilesNeedNoKey", func(t *testing.T) {
		t.Parallel()
		// Output URLs are capabilities: their signature is the credential.
		// A missing one is refused for the signature, not the key.
		_, err := b.newClient("").Do(ctx, http.MethodGet, "/files/runs/x/y.jpg", nil)
		apiError(t, err, http.StatusForbidden, "forbidden")
	})
}

// TestResponses checks what every response shares: a request id, and the
// one JSON error shape even for routes and methods that do not exist.
func TestResponses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	t.Run("RequestID", func(t *testing.T) {
		t.Parallel()
		resp, err := b.client.Do(ctx, http.MethodGet, "/api/v1/techniques", nil)
		require.NoError(t, err)
		require.Regexp(t, `^req_\S+$`, resp.RequestID())

		r, err := b.client.Runs.Create(ctx, "prompt-expander", promptRun("a cat"))
		require.NoError(t, err)
		require.Regexp(t, `^req_\S+$`, r.Response.RequestID())

		// Two requests, two ids.
		resp2, err := b.client.Do(ctx, http.MethodGet, "/api/v1/techniques", nil)
		require.NoError(t, err)
		require.NotEqual(t, resp.RequestID(), resp2.RequestID())

		// Errors too, including those written before authentication
		// (apiError checks the id).
		_, err = b.newClient("").Do(ctx, http.MethodGet, "/api/v1/techniques", nil)
		apiError(t, err, http.StatusUnauthorized, "unauthorized")
	})

	for _, tc := range []struct {
		name, method, path string
		status             int
		code               string
	}{
		{"UnknownRoute", http.MethodGet, "/nope", http.StatusNotFound, "not_found"},
		{"UnknownAPIRoute", http.MethodGet, "/api/v1/nope", http.StatusNotFound, "not_found"},
		{"WrongMethodOnTechniques", http.MethodDelete, "/api/v1/techniques", http.StatusMethodNotAllowed, "method_not_allowed"},
		{"WrongMethodOnRuns", http.MethodPut, "/api/v1/techniques/prompt-expander/runs", http.StatusMethodNotAllowed, "method_not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := b.client.Do(ctx, tc.method, tc.path, nil)
			e := apiError(t, err, tc.status, tc.code)
			require.Contains(t, e.Header.Get("Content-Type"), "application/json")
			require.NotEmpty(t, e.Message)
		})
	}
}
