package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
)

func TestTechniques(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	t.Run("ContractShape", func(t *testing.T) {
		t.Parallel()
		resp, err := b.client.Do(ctx, http.MethodGet, "/api/v1/techniques", nil)
		require.NoError(t, err)
		require.Contains(t, resp.Header.Get("Content-Type"), "application/json")
		var raw struct {
			Techniques []map[string]any `json:"techniques"`
			Meta       map[string]any   `json:"meta"`
		}
		require.NoError(t, json.Unmarshal(resp.Body, &raw))
		require.Contains(t, raw.Meta, "next_cursor", "meta always names next_cursor, null on the last page")
		require.Nil(t, raw.Meta["next_cursor"])
		require.GreaterOrEqual(t, len(raw.Techniques), 2)
		for _, tech := range raw.Techniques {
			for _, k := range []string{"technique_id", "slug", "name", "run_cost", "run_credits", "inputs", "outputs"} {
				require.Contains(t, tech, k, "technique %v", tech["slug"])
			}
		}

		l, err := b.client.Techniques.List(ctx, nil)
		require.NoError(t, err)
		bySlug := map[string]client.Technique{}
		for _, tech := range l.Techniques {
			bySlug[tech.Slug] = tech
		}
		require.Equal(t, client.Technique{
			TechniqueID: "tech_portrait-enhancer", Slug: "portrait-enhancer", Name: "Portrait Enhancer",
			Description: bySlug["portrait-enhancer"].Description, RunCost: 0.005, RunCredits: 5,
			Inputs: []client.IO{{ID: "input_image", Name: "Input Image", Type: "imageUrl",
				Description: bySlug["portrait-enhancer"].Inputs[0].Description}},
			Outputs: []client.IO{{ID: "output_image", Name: "Enhanced Image", Type: "imageUrl",
				Description: bySlug["portrait-enhancer"].Outputs[0].Description}},
		}, bySlug["portrait-enhancer"])
		require.NotEmpty(t, bySlug["portrait-enhancer"].Description)

		pe := bySlug["prompt-expander"]
		require.Equal(t, int64(1), pe.RunCredits)
		require.InDelta(t, 0.001, pe.RunCost, 1e-9)
		require.Len(t, pe.Inputs, 2)
		require.Equal(t, "prompt", pe.Inputs[0].ID)
		require.Equal(t, "text", pe.Inputs[0].Type)
		require.False(t, pe.Inputs[0].Optional)
		require.Equal(t, "style", pe.Inputs[1].ID)
		require.True(t, pe.Inputs[1].Optional)
		require.Equal(t, []string{"expanded_prompt"}, []string{pe.Outputs[0].ID})
		require.Equal(t, "text", pe.Outputs[0].Type)
	})

	t.Run("PaginationWalksAll", func(t *testing.T) {
		t.Parallel()
		all, err := b.client.Techniques.List(ctx, &client.ListParams{Limit: 100})
		require.NoError(t, err)
		require.Empty(t, all.NextCursor())

		var walked []string
		cursor := ""
		for range len(all.Techniques) + 1 {
			page, err := b.client.Techniques.List(ctx, &client.ListParams{Limit: 1, Cursor: cursor})
			require.NoError(t, err)
			require.Len(t, page.Techniques, 1)
			walked = append(walked, page.Techniques[0].Slug)
			cursor = page.NextCursor()
			if cursor == "" {
				break
			}
		}
		require.Empty(t, cursor, "the walk must end")
		var want []string
		for _, tech := range all.Techniques {
			want = append(want, tech.Slug)
		}
		require.Equal(t, want, walked)
	})

	t.Run("Query", func(t *testing.T) {
		t.Parallel()
		l, err := b.client.Techniques.List(ctx, &client.ListParams{Query: "Portrait"})
		require.NoError(t, err)
		require.Len(t, l.Techniques, 1)
		require.Equal(t, "portrait-enhancer", l.Techniques[0].Slug)
	})

	for _, tc := range []struct{ name, query, field string }{
		{"LimitZero", "limit=0", "limit"},
		{"LimitTooBig", "limit=101", "limit"},
		{"LimitNotANumber", "limit=ten", "limit"},
		{"BadCursor", "cursor=%21%21", "cursor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := b.client.Do(ctx, http.MethodGet, "/api/v1/techniques?"+tc.query, nil)
			e := apiError(t, err, http.StatusBadRequest, "input_validation_error")
			require.True(t, e.HasField(tc.field), "fields: %+v", e.Fields)
		})
	}

	t.Run("GetBySlugOrID", func(t *testing.T) {
		t.Parallel()
		bySlug, err := b.client.Techniques.Get(ctx, "prompt-expander")
		require.NoError(t, err)
		require.Equal(t, "tech_prompt-expander", bySlug.TechniqueID)

		byID, err := b.client.Techniques.Get(ctx, bySlug.TechniqueID)
		require.NoError(t, err)
		require.Equal(t, bySlug, byID)

		for _, ref := range []string{"no-such-technique", "tech_no-such-technique", "tech_"} {
			_, err = b.client.Techniques.Get(ctx, ref)
			apiError(t, err, http.StatusNotFound, "not_found")
		}
	})
}
