package technique_test

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/provider"
	"github.com/florad/florad/internal/technique"
)

// catalogOf loads one technique per name; slugs are the names lower-cased
// with dashes, so the catalog's slug order is known.
func catalogOf(t *testing.T, names ...string) *technique.Catalog {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, name := range names {
		slug := strings.ToLower(strings.ReplaceAll(name, " ", "-"))
		doc := strings.NewReplacer("slug: demo", "slug: "+slug, "name: Demo", "name: "+name).Replace(goodDoc)
		fsys[fmt.Sprintf("defs/%s.yaml", slug)] = &fstest.MapFile{Data: []byte(doc)}
	}
	c, err := technique.LoadDir(fsys, "defs", provider.Registry(provider.Config{}))
	require.NoError(t, err)
	return c
}

func TestCatalogGet(t *testing.T) {
	t.Parallel()

	c := catalogOf(t, "Alpha", "Beta")

	bySlug, ok := c.Get("alpha")
	require.True(t, ok)
	require.Equal(t, "tech_alpha", bySlug.ID)

	byID, ok := c.Get("tech_alpha")
	require.True(t, ok)
	require.Same(t, bySlug, byID)

	for _, miss := range []string{"gamma", "tech_gamma", "tech_", "", "ALPHA", "tech_tech_alpha"} {
		_, ok := c.Get(miss)
		require.False(t, ok, miss)
	}
}

func slugs(page []*technique.Technique) []string {
	out := make([]string, 0, len(page))
	for _, t := range page {
		out = append(out, t.Slug)
	}
	return out
}

func TestCatalogList(t *testing.T) {
	t.Parallel()

	c := catalogOf(t, "Echo Chamber", "Alpha", "Delta Force", "Charlie", "Bravo")

	tests := []struct {
		name     string
		query    string
		after    string
		limit    int
		want     []string
		wantMore bool
	}{
		{name: "all, ordered by slug", limit: 20,
			want: []string{"alpha", "bravo", "charlie", "delta-force", "echo-chamber"}},
		{name: "first page", limit: 2, want: []string{"alpha", "bravo"}, wantMore: true},
		{name: "middle page", after: "bravo", limit: 2, want: []string{"charlie", "delta-force"}, wantMore: true},
		{name: "last page, exactly full", after: "charlie", limit: 2, want: []string{"delta-force", "echo-chamber"}},
		{name: "after the end", after: "zulu", limit: 2, want: nil},
		{name: "query is case-insensitive on the name", query: "FORCE", limit: 20, want: []string{"delta-force"}},
		{name: "query matches the slug", query: "echo-ch", limit: 20, want: []string{"echo-chamber"}},
		{name: "query is trimmed", query: "  alpha ", limit: 20, want: []string{"alpha"}},
		{name: "query with paging", query: "a", limit: 2, want: []string{"alpha", "bravo"}, wantMore: true},
		{name: "query second page", query: "a", after: "bravo", limit: 2, want: []string{"charlie", "delta-force"}, wantMore: true},
		{name: "query without matches", query: "zzz", limit: 20, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			page, more := c.List(tt.query, tt.after, tt.limit)
			require.Equal(t, tt.want, nilIfEmpty(slugs(page)))
			require.Equal(t, tt.wantMore, more)
		})
	}
}

func TestCatalogListWalksEveryPage(t *testing.T) {
	t.Parallel()

	c := catalogOf(t, "A1", "A2", "A3", "A4", "A5", "A6", "A7")
	var seen []string
	after := ""
	for range 10 {
		page, more := c.List("", after, 3)
		seen = append(seen, slugs(page)...)
		if !more {
			break
		}
		after = page[len(page)-1].Slug
	}
	require.Equal(t, []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7"}, seen)
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
