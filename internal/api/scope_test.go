package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/auth"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/workspace"
)

// routeScopes is the scope decision of every /api/v1 route, as the
// contract gives it. A route added to the table without an entry here, or
// without need(), fails TestEveryRouteHasAScope.
var routeScopes = map[string]string{
	"GET /api/v1/techniques/{technique}/runs/{runID}":         auth.ScopeRunsRead,
	"GET /api/v1/techniques":                                  auth.ScopeTechniquesRead,
	"GET /api/v1/techniques/{technique}":                      auth.ScopeTechniquesRead,
	"POST /api/v1/techniques/{technique}/runs":                auth.ScopeRunsWrite,
	"GET /api/v1/techniques/{technique}/runs":                 auth.ScopeRunsRead,
	"POST /api/v1/techniques/{technique}/runs/{runID}/cancel": auth.ScopeRunsWrite,
	"GET /api/v1/techniques/{technique}/runs/{runID}/events":  auth.ScopeRunsRead,
	"GET /api/v1/technique-runs":                              auth.ScopeRunsRead,
	"GET /api/v1/workspace":                                   anyKey,
	"GET /api/v1/workspace/ledger":                            anyKey,
	"GET /api/v1/webhook-deliveries":                          auth.ScopeWebhooksManage,
	"POST /api/v1/webhook-deliveries/{deliveryID}/redeliver":  auth.ScopeWebhooksManage,
	"POST /api/v1/assets":                                     auth.ScopeRunsWrite,
	"GET /api/v1/assets":                                      auth.ScopeRunsRead,
	"GET /api/v1/assets/{assetId}":                            auth.ScopeRunsRead,
	"GET /api/v1/assets/{assetID}":                            auth.ScopeRunsRead,
}

// endpointOf unwraps the middleware chain chi puts around a route's
// handler.
func endpointOf(h http.Handler) http.Handler {
	for {
		ch, ok := h.(*chi.ChainHandler)
		if !ok {
			return h
		}
		h = ch.Endpoint
	}
}

// TestEveryRouteHasAScope walks the route table: every /api/v1 route's
// endpoint carries a scope decision, the one routeScopes gives; then,
// over real HTTP, a key holding every scope but the needed one gets 403
// forbidden naming it, and a key holding only that scope gets past it.
func TestEveryRouteHasAScope(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := b.httpServe(t)
	ws := &workspace.Service{Store: b.store}
	keyWith := func(scopes []string) string {
		k, err := ws.CreateKeyWith(t.Context(), b.ws.WorkspaceID, workspace.KeyOptions{Scopes: scopes})
		require.NoError(t, err)
		return k.Key
	}
	finished := b.insertRun(t, "prompt-expander", []store.RunInput{{ID: "prompt", Type: "text", Value: "a cat"}}, 1,
		&store.RunFinishParams{Status: store.RunFailed, ErrorCode: "input_invalid", ErrorMessage: "no"})
	fill := strings.NewReplacer("{technique}", "prompt-expander", "{runID}", finished.ID, "{deliveryID}", "whd_missing",
		"{assetId}", "asset_missing", "{assetID}", "asset_missing")

	seen := 0
	require.NoError(t, chi.Walk(b.server.router, func(method, route string, h http.Handler, _ ...func(http.Handler) http.Handler) error {
		if !strings.HasPrefix(route, "/api/v1/") {
			return nil
		}
		m := method
		if m == http.MethodHead {
			m = http.MethodGet
		}
		want, ok := routeScopes[m+" "+route]
		require.True(t, ok, "%s %s has no scope decision in routeScopes", method, route)
		sh, ok := endpointOf(h).(*scopedHandler)
		require.True(t, ok, "%s %s: its endpoint is not made with need()", method, route)
		require.Equal(t, want, sh.scope, "%s %s", method, route)
		seen++

		path := fill.Replace(route)
		if want == anyKey {
			// Any valid key, even one holding a single unrelated scope.
			resp, body := exchange(t, srv, method, path, keyWith([]string{auth.ScopeWebhooksManage}))
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s %s: %s", method, path, body)
			return nil
		}
		var others []string
		for _, s := range auth.AllScopes() {
			if s != want {
				others = append(others, s)
			}
		}
		resp, body := exchange(t, srv, method, path, keyWith(others))
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s %s without %s", method, path, want)
		if method != http.MethodHead {
			var e errorBody
			require.NoError(t, json.Unmarshal(body, &e))
			require.Equal(t, "forbidden", e.Error.Code)
			require.Equal(t, "This API key lacks the "+want+" scope.", e.Error.Message)
		}
		resp, body = exchange(t, srv, method, path, keyWith([]string{want}))
		require.NotEqual(t, http.StatusForbidden, resp.StatusCode, "%s %s with only %s: %s", method, path, want, body)
		require.NotEqual(t, http.StatusUnauthorized, resp.StatusCode, "%s %s", method, path)
		return nil
	}))
	require.GreaterOrEqual(t, seen, 12)
}

// TestReadOnlyKeyCannotWrite: a key with runs:read and techniques:read
// reads, and cannot create, cancel or redeliver; nothing was created.
func TestReadOnlyKeyCannotWrite(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ws := &workspace.Service{Store: b.store}
	k, err := ws.CreateKeyWith(t.Context(), b.ws.WorkspaceID, workspace.KeyOptions{Scopes: []string{auth.ScopeRunsRead, auth.ScopeTechniquesRead}})
	require.NoError(t, err)
	pending := b.insertRun(t, "prompt-expander", []store.RunInput{{ID: "prompt", Type: "text", Value: "a cat"}}, 1, nil)

	for _, c := range []struct{ method, path, body string }{
		{http.MethodPost, "/api/v1/techniques/prompt-expander/runs", `{"inputs":[{"id":"prompt","type":"text","value":"x"}],"mode":"async"}`},
		{http.MethodPost, "/api/v1/techniques/prompt-expander/runs/" + pending.ID + "/cancel", ""},
		{http.MethodPost, "/api/v1/webhook-deliveries/whd_x/redeliver", ""},
		{http.MethodGet, "/api/v1/webhook-deliveries", ""},
	} {
		rec := b.doAs(t, k.Key, c.method, c.path, c.body, nil)
		require.Equal(t, http.StatusForbidden, rec.Code, "%s %s: %s", c.method, c.path, rec.Body)
	}
	rec := b.doAs(t, k.Key, http.MethodGet, "/api/v1/techniques/prompt-expander/runs/"+pending.ID, "", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), `"status":"pending"`, "the cancel was refused before it happened")
	rec = b.doAs(t, k.Key, http.MethodGet, "/api/v1/technique-runs", "", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	var list struct {
		Runs []json.RawMessage `json:"technique_runs"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &list))
	require.Len(t, list.Runs, 1, "no run was created")
	rec = b.doAs(t, k.Key, http.MethodGet, "/api/v1/workspace", "", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	var w workspaceJSON
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &w))
	require.Equal(t, keyJSON{KeyID: k.KeyID, Source: auth.SourceLocal, Scopes: []string{auth.ScopeRunsRead, auth.ScopeTechniquesRead}}, w.Key)
	require.True(t, slices.Equal(w.Key.Scopes, k.Scopes))
}
