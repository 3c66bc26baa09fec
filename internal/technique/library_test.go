package technique_test

import (
	"context"
	"fmt"
	"github.com/florad/florad/internal/store"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/provider"
	"github.com/florad/florad/internal/store/sqlstore"
	"github.com/florad/florad/internal/technique"
)

type libraryBundle struct {
	store *sqlstore.Store
	lib   *technique.Library
}

func setupLibrary(t *testing.T) *libraryBundle {
	t.Helper()
	s, err := sqlstore.OpenSQLite(t.Context(), sqlstore.SQLiteConfig{Path: filepath.Join(t.TempDir(), "florad.db"), Synchronous: "OFF"})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return &libraryBundle{store: s, lib: technique.NewLibrary(s, provider.Registry(provider.Config{}), 0)}
}

// apply stores a definition of goodDoc with this slug and name.
func (b *libraryBundle) apply(t *testing.T, workspaceID, slug, name string) *technique.Technique {
	t.Helper()
	doc := strings.NewReplacer("slug: demo", "slug: "+slug, "name: Demo", "name: "+name).Replace(goodDoc)
	tech, _, err := b.lib.Apply(t.Context(), b.store, workspaceID, slug+".yaml", []byte(doc))
	require.NoError(t, err)
	return tech
}

func TestLibraryGet(t *testing.T) {
	t.Parallel()
	b := setupLibrary(t)
	ctx := t.Context()

	pub := b.apply(t, "", "alpha", "Alpha")
	own := b.apply(t, "ws_a", "beta", "Beta of A")

	got, ok, err := b.lib.Get(ctx, "ws_a", "alpha")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, pub.Version, got.Version)
	require.Empty(t, got.WorkspaceID)

	got, ok, err = b.lib.Get(ctx, "ws_a", "tech_beta")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, own.Version, got.Version)
	require.Equal(t, "ws_a", got.WorkspaceID)

	// Another workspace sees the public technique, never A's own.
	_, ok, err = b.lib.Get(ctx, "ws_b", "beta")
	require.NoError(t, err)
	require.False(t, ok)
	_, ok, err = b.lib.Get(ctx, "ws_b", "tech_alpha")
	require.NoError(t, err)
	require.True(t, ok)

	for _, miss := range []string{"gamma", "tech_gamma", "tech_", ""} {
		_, ok, err := b.lib.Get(ctx, "ws_a", miss)
		require.NoError(t, err)
		require.False(t, ok, miss)
	}
}

func TestLibraryWorkspaceShadowsPublic(t *testing.T) {
	t.Parallel()
	b := setupLibrary(t)
	ctx := t.Context()

	b.apply(t, "", "alpha", "Public Alpha")
	b.apply(t, "ws_a", "alpha", "Private Alpha")

	got, _, err := b.lib.Get(ctx, "ws_a", "alpha")
	require.NoError(t, err)
	require.Equal(t, "Private Alpha", got.Name)
	got, _, err = b.lib.Get(ctx, "ws_b", "alpha")
	require.NoError(t, err)
	require.Equal(t, "Public Alpha", got.Name)

	page, more, err := b.lib.List(ctx, "ws_a", "", "", 10)
	require.NoError(t, err)
	require.False(t, more)
	require.Len(t, page, 1)
	require.Equal(t, "Private Alpha", page[0].Name)
}

func TestLibraryList(t *testing.T) {
	t.Parallel()
	b := setupLibrary(t)

	for _, name := range []string{"Echo Chamber", "Alpha", "Delta Force", "Charlie"} {
		b.apply(t, "", strings.ToLower(strings.ReplaceAll(name, " ", "-")), name)
	}
	b.apply(t, "ws_a", "bravo", "Bravo")

	tests := []struct {
		name     string
		ws       string
		query    string
		after    string
		limit    int
		want     []string
		wantMore bool
	}{
		{name: "all of a workspace, by slug", ws: "ws_a", limit: 20,
			want: []string{"alpha", "bravo", "charlie", "delta-force", "echo-chamber"}},
		{name: "another workspace sees only public ones", ws: "ws_b", limit: 20,
			want: []string{"alpha", "charlie", "delta-force", "echo-chamber"}},
		{name: "first page", ws: "ws_a", limit: 2, want: []string{"alpha", "bravo"}, wantMore: true},
		{name: "next page", ws: "ws_a", after: "bravo", limit: 2, want: []string{"charlie", "delta-force"}, wantMore: true},
		{name: "last page, exactly full", ws: "ws_a", after: "charlie", limit: 2, want: []string{"delta-force", "echo-chamber"}},
		{name: "query on the name, any case", ws: "ws_a", query: "FORCE", limit: 20, want: []string{"delta-force"}},
		{name: "query on the slug", ws: "ws_a", query: "echo-ch", limit: 20, want: []string{"echo-chamber"}},
		{name: "query and paging", ws: "ws_a", query: "a", after: "alpha", limit: 1, want: []string{"bravo"}, wantMore: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			page, more, err := b.lib.List(t.Context(), tt.ws, tt.query, tt.after, tt.limit)
			require.NoError(t, err)
			require.Equal(t, tt.want, nilIfEmpty(slugs(page)))
			require.Equal(t, tt.wantMore, more)
		})
	}
}

func TestLibraryApplyRefusesABadDefinition(t *testing.T) {
	t.Parallel()
	b := setupLibrary(t)

	_, _, err := b.lib.Apply(t.Context(), b.store, "", "bad.yaml", []byte(goodDoc+"colour: red\n"))
	require.ErrorContains(t, err, "bad.yaml: ")
	page, _, err := b.lib.List(t.Context(), "", "", "", 10)
	require.NoError(t, err)
	require.Empty(t, page)
}

// TestLibraryVersions: re-applying the same definition changes nothing, a
// new definition becomes the newest at once, and a run can still get the
// exact version it started with.
func TestLibraryVersions(t *testing.T) {
	t.Parallel()
	b := setupLibrary(t)
	ctx := t.Context()

	v1 := b.apply(t, "", "alpha", "Alpha One")
	_, created, err := b.lib.Apply(ctx, b.store, "", "alpha.yaml",
		[]byte(strings.NewReplacer("slug: demo", "slug: alpha", "name: Demo", "name: Alpha One").Replace(goodDoc)))
	require.NoError(t, err)
	require.False(t, created)

	v2 := b.apply(t, "", "alpha", "Alpha Two")
	require.NotEqual(t, v1.Version, v2.Version)

	got, _, err := b.lib.Get(ctx, "ws_a", "alpha")
	require.NoError(t, err)
	require.Equal(t, v2.Version, got.Version, "the newest applied version must win")

	old, err := b.lib.Version(ctx, "ws_a", "alpha", v1.Version)
	require.NoError(t, err)
	require.Equal(t, "Alpha One", old.Name)

	_, err = b.lib.Version(ctx, "ws_a", "alpha", "0000000000000000")
	require.Error(t, err)
}

// TestLibraryNewestWinsWithinAMillisecond applies versions back to back,
// faster than the clock ticks: each must be the newest at once.
func TestLibraryNewestWinsWithinAMillisecond(t *testing.T) {
	t.Parallel()
	b := setupLibrary(t)

	for i := range 20 {
		v := b.apply(t, "", "alpha", fmt.Sprintf("Alpha %d", i))
		got, ok, err := b.lib.Get(t.Context(), "", "alpha")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, v.Version, got.Version, "after applying version %d", i)
	}
}

// versionCounter counts the store's version reads.
type versionCounter struct {
	*sqlstore.Store
	reads atomic.Int64
}

func (c *versionCounter) TechniqueGetVersion(ctx context.Context, workspaceID, slug, version string) (*store.TechniqueRecord, error) {
	c.reads.Add(1)
	return c.Store.TechniqueGetVersion(ctx, workspaceID, slug, version)
}

// TestLibraryVersionFromMemory: once a public technique's version is
// known, a run of any workspace finds it without reading the store.
func TestLibraryVersionFromMemory(t *testing.T) {
	t.Parallel()
	b := setupLibrary(t)
	counter := &versionCounter{Store: b.store}
	lib := technique.NewLibrary(counter, provider.Registry(provider.Config{}), 0)
	pub := b.apply(t, "", "alpha", "Alpha")
	for range 3 {
		got, err := lib.Version(t.Context(), "ws_a", "alpha", pub.Version)
		require.NoError(t, err)
		require.Equal(t, pub.Version, got.Version)
	}
	require.Equal(t, int64(2), counter.reads.Load(), "the first lookup asks for A's copy, then the public one; later ones ask nothing")
}
