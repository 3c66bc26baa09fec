package api

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOpenAPIServedWithoutKey: the document is served as JSON to anyone,
// and is the embedded one.
func TestOpenAPIServedWithoutKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := b.httpServe(t)
	resp, body := exchange(t, srv, http.MethodGet, "/api/v1/openapi.json", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	var doc, want map[string]any
	require.NoError(t, json.Unmarshal(body, &doc))
	raw, err := OpenAPIDocument()
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &want))
	require.Equal(t, "3.1.0", doc["openapi"])
	require.Equal(t, []any{map[string]any{"url": publicURL, "description": "this server"}}, doc["servers"],
		"the served document names the server's public URL")
	delete(doc, "servers")
	delete(want, "servers")
	require.Equal(t, want, doc, "otherwise the embedded document")
}

// TestOpenAPIHasEveryRoute: every route of the route table, with each of
// its methods but HEAD (every GET has one, the document says so once), is
// an operation of the document, and the document has no operation the
// table lacks.
func TestOpenAPIHasEveryRoute(t *testing.T) {
	t.Parallel()
	b := setup(t)
	raw, err := OpenAPIDocument()
	require.NoError(t, err)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	param := regexp.MustCompile(`\{[^}]*\}|\*$`)
	norm := func(p string) string { return param.ReplaceAllString(p, "{}") }

	documented := map[string]bool{}
	for p, item := range doc.Paths {
		for m := range item {
			if slices.Contains([]string{"get", "post", "put", "patch", "delete"}, m) {
				documented[strings.ToUpper(m)+" "+norm(p)] = true
			}
		}
	}
	served := map[string]bool{}
	for pattern, methods := range routeMethods(t, b.server) {
		for _, m := range methods {
			if m != http.MethodHead {
				served[m+" "+norm(pattern)] = true
			}
		}
	}
	for op := range served {
		require.True(t, documented[op], "route %s is not in the OpenAPI document", op)
	}
	for op := range documented {
		require.True(t, served[op], "the OpenAPI document has %s, which the route table lacks", op)
	}
}

// TestOpenAPIScopes: the scope each operation's security requirement names
// is the one its route needs (routeScopes), and the operations without one
// are the public routes.
func TestOpenAPIScopes(t *testing.T) {
	t.Parallel()
	raw, err := OpenAPIDocument()
	require.NoError(t, err)
	var doc struct {
		Security []map[string][]string `json:"security"`
		Paths    map[string]map[string]struct {
			Security *[]map[string][]string `json:"security"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	param := regexp.MustCompile(`\{[^}]*\}`)
	norm := func(p string) string { return param.ReplaceAllString(p, "{}") }
	want := map[string]string{}
	for op, scope := range routeScopes {
		want[norm(op)] = scope
	}
	public := map[string]bool{}
	for op := range publicRoutes {
		public[norm(op)] = true
	}
	checked := 0
	for path, item := range doc.Paths {
		if !strings.HasPrefix(path, "/api/v1/") {
			continue
		}
		for method, op := range item {
			key := norm(strings.ToUpper(method) + " " + path)
			sec := doc.Security
			if op.Security != nil {
				sec = *op.Security
			}
			if len(sec) == 0 {
				require.True(t, public[key], "%s needs no key in the document, but the route needs one", key)
				continue
			}
			scope, ok := want[key]
			require.True(t, ok, "%s: no scope decision for the route", key)
			require.Len(t, sec, 1, key)
			scopes := sec[0]["bearerAuth"]
			if scope == anyKey {
				require.Empty(t, scopes, "%s needs any key, the document names %v", key, scopes)
			} else {
				require.Equal(t, []string{scope}, scopes, key)
			}
			checked++
		}
	}
	require.GreaterOrEqual(t, checked, 12)
}
