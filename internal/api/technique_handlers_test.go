package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

type techniqueList struct {
	Techniques []map[string]any `json:"techniques"`
	Meta       struct {
		NextCursor *string `json:"next_cursor"`
	} `json:"meta"`
}

func (b *testBundle) listTechniques(t *testing.T, q url.Values) techniqueList {
	t.Helper()
	rec := b.do(t, http.MethodGet, "/api/v1/techniques?"+q.Encode(), "", nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var out techniqueList
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
	return out
}

func TestTechniqueListPages(t *testing.T) {
	t.Parallel()
	b := setup(t)

	all := b.listTechniques(t, nil)
	require.Nil(t, all.Meta.NextCursor)
	require.GreaterOrEqual(t, len(all.Techniques), 2)

	// Walking one at a time yields the same list, in the same order.
	var walked []any
	q := url.Values{"limit": {"1"}}
	for range len(all.Techniques) + 1 {
		page := b.listTechniques(t, q)
		require.Len(t, page.Techniques, 1)
		walked = append(walked, page.Techniques[0]["slug"])
		if page.Meta.NextCursor == nil {
			break
		}
		q.Set("cursor", *page.Meta.NextCursor)
	}
	var slugs []any
	for _, tech := range all.Techniques {
		slugs = append(slugs, tech["slug"])
	}
	require.Equal(t, slugs, walked)

	found := b.listTechniques(t, url.Values{"query": {"PORTRAIT"}})
	require.Len(t, found.Techniques, 1)
	require.Equal(t, "portrait-enhancer", found.Techniques[0]["slug"])
}

func TestTechniqueListBadParams(t *testing.T) {
	t.Parallel()
	b := setup(t)

	for _, q := range []string{"limit=0", "limit=101", "limit=ten", "limit=-1", "cursor=a", "cursor=!!"} {
		rec := b.do(t, http.MethodGet, "/api/v1/techniques?"+q, "", nil)
		require.Equal(t, http.StatusBadRequest, rec.Code, q)
		var body errorResponse
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), q)
		require.Equal(t, "input_validation_error", body.Error.Code, q)
	}
}

func TestTechniqueGet(t *testing.T) {
	t.Parallel()
	b := setup(t)

	for _, ref := range []string{"prompt-expander", "tech_prompt-expander"} {
		rec := b.do(t, http.MethodGet, "/api/v1/techniques/"+ref, "", nil)
		require.Equal(t, http.StatusOK, rec.Code, ref)
		var got map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
		require.Equal(t, "tech_prompt-expander", got["technique_id"])
		require.Equal(t, "prompt-expander", got["slug"])
		require.InDelta(t, 1, got["run_credits"], 0)
		require.InDelta(t, 0.001, got["run_cost"], 1e-12)
		inputs := got["inputs"].([]any)
		require.Equal(t, map[string]any{"id": "style", "name": "Style", "type": "text", "optional": true,
			"description": inputs[1].(map[string]any)["description"]}, inputs[1])
	}
	for _, ref := range []string{"nope", "tech_nope", "TECH_prompt-expander"} {
		rec := b.do(t, http.MethodGet, "/api/v1/techniques/"+ref, "", nil)
		require.Equal(t, http.StatusNotFound, rec.Code, ref)
	}
}
