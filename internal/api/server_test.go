package api

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/asset"
	"github.com/florad/florad/internal/auth"
	"github.com/florad/florad/internal/blob"
	"github.com/florad/florad/internal/provider"
	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/store/sqlstore"
	"github.com/florad/florad/internal/technique"
	"github.com/florad/florad/internal/workspace"
	"github.com/florad/florad/techniques"
)

// publicURL is where the tests pretend the server is reached.
const publicURL = "https://florad.example"

// testBundle is a server over a real SQLite store, real blob folder, the
// built-in techniques and one workspace with a key.
type testBundle struct {
	server *Server
	store  *sqlstore.Store
	blobs  *blob.Local
	ws     *workspace.NewKey
}

func setup(t *testing.T, mutate ...func(cfg *Config)) *testBundle {
	t.Helper()
	ctx := t.Context()

	db, err := sqlstore.OpenSQLite(ctx, sqlstore.SQLiteConfig{Path: filepath.Join(t.TempDir(), "florad.db"), Synchronous: "OFF"})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })

	blobs, err := blob.NewLocal(t.TempDir(), publicURL, []byte("0123456789abcdef0123456789abcdef"), nil)
	require.NoError(t, err)

	// The built-in techniques, stored as the server stores them at start.
	lib := technique.NewLibrary(db, provider.Registry(provider.Config{}), 0)
	defs, err := fs.Glob(techniques.FS, "*.yaml")
	require.NoError(t, err)
	for _, name := range defs {
		data, err := fs.ReadFile(techniques.FS, name)
		require.NoError(t, err)
		_, _, err = lib.Apply(ctx, db, "", name, data)
		require.NoError(t, err)
	}

	ws := &workspace.Service{Store: db}
	w, err := ws.Create(ctx, "Acme", 100)
	require.NoError(t, err)
	key, err := ws.CreateKey(ctx, w.ID)
	require.NoError(t, err)

	cfg := Config{
		Workspaces:       ws,
		Runs:             &run.Service{Store: db, Techniques: lib, CheckURL: func(string) error { return nil }},
		Techniques:       lib,
		Assets:           &asset.Service{Store: db, Blobs: blobs, CheckURL: func(string) error { return nil }},
		Verifier:         &auth.LocalVerifier{Store: db},
		Blobs:            blobs,
		Files:            blobs,
		CheckCallbackURL: func(string) error { return nil },
		PublicURL:        publicURL + "/",
		OutputURLTTL:     time.Hour,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	return &testBundle{server: New(cfg), store: db, blobs: blobs, ws: key}
}

// otherWorkspace makes a second workspace in the same store and returns
// its key.
func (b *testBundle) otherWorkspace(t *testing.T) string {
	t.Helper()
	ws := &workspace.Service{Store: b.store}
	w, err := ws.Create(t.Context(), "Other", 100)
	require.NoError(t, err)
	key, err := ws.CreateKey(t.Context(), w.ID)
	require.NoError(t, err)
	return key.Key
}

// do sends one request through the whole route table as the bundle's
// workspace.
func (b *testBundle) do(t *testing.T, method, target, body string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	return b.doAs(t, b.ws.Key, method, target, body, header)
}

// doAs sends one request with another key.
func (b *testBundle) doAs(t *testing.T, key, method, target, body string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequestWithContext(t.Context(), method, target, r)
	req.Header.Set("Authorization", "Bearer "+key)
	for k, vs := range header {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	b.server.ServeHTTP(rec, req)
	return rec
}
