package asset_test

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/asset"
	"github.com/florad/florad/internal/blob"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/store/sqlstore"
	"github.com/florad/florad/internal/validation"
	"github.com/florad/florad/internal/workspace"
)

const publicURL = "https://florad.example"

type testBundle struct {
	svc      *asset.Service
	store    *sqlstore.Store
	blobDir  string
	ws, ws2  string
	pngBytes []byte
}

func setup(t testing.TB) *testBundle {
	t.Helper()
	ctx := t.Context()
	db, err := sqlstore.OpenSQLite(ctx, sqlstore.SQLiteConfig{Path: filepath.Join(t.TempDir(), "florad.db"), Synchronous: "OFF"})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	dir := t.TempDir()
	blobs, err := blob.NewLocal(dir, publicURL, []byte("0123456789abcdef0123456789abcdef"), nil)
	require.NoError(t, err)
	wss := &workspace.Service{Store: db}
	w1, err := wss.Create(ctx, "One", 0)
	require.NoError(t, err)
	w2, err := wss.Create(ctx, "Two", 0)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 4))))
	return &testBundle{svc: &asset.Service{Store: db, Blobs: blobs, CheckURL: func(string) error { return nil }},
		store: db, blobDir: dir, ws: w1.ID, ws2: w2.ID, pngBytes: buf.Bytes()}
}

func (b *testBundle) files(t *testing.T) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.Walk(b.blobDir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			out = append(out, p)
		}
		return err
	}))
	return out
}

func TestClassifyByContent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, c := range []struct {
		body, typ, ct string
	}{
		{string(b.pngBytes), "imageUrl", "image/png"},
		{"%PDF-1.7\n...", "documentUrl", "application/pdf"},
		{"plain words\n", "documentUrl", "text/plain"},
		{"ID3\x03\x00\x00\x00\x00\x00\x00" + strings.Repeat("\x00", 20), "audioUrl", "audio/mpeg"},
	} {
		a, _, err := b.svc.Create(t.Context(), &asset.CreateParams{WorkspaceID: b.ws, File: strings.NewReader(c.body)})
		require.NoError(t, err, c.ct)
		require.Equal(t, c.typ, a.Type, c.ct)
		require.Equal(t, c.ct, a.ContentType)
		require.Equal(t, int64(len(c.body)), a.SizeBytes)
	}
	_, _, err := b.svc.Create(t.Context(), &asset.CreateParams{WorkspaceID: b.ws,
		File: strings.NewReader("<html><body>hi</body></html>")})
	var v *validation.Error
	require.ErrorAs(t, err, &v, "HTML is no asset")
	require.Equal(t, "file", v.Fields[0].Name)
}

func TestResolveInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	a, _, err := b.svc.Create(ctx, &asset.CreateParams{WorkspaceID: b.ws, File: bytes.NewReader(b.pngBytes)})
	require.NoError(t, err)
	u, err := b.svc.Blobs.URL(ctx, a.BlobKey, time.Hour)
	require.NoError(t, err)

	for _, v := range []string{a.ID, u} {
		ref, handled, err := b.svc.ResolveInput(ctx, b.ws, "imageUrl", v)
		require.NoError(t, err, v)
		require.True(t, handled)
		require.Equal(t, blob.Ref(a.BlobKey), ref)
	}
	refused := func(ws, typ, value, says string) {
		t.Helper()
		_, handled, err := b.svc.ResolveInput(ctx, ws, typ, value)
		require.True(t, handled, value)
		var v *validation.Error
		require.ErrorAs(t, err, &v, value)
		require.Contains(t, v.Fields[0].Message, says)
	}
	refused(b.ws, "videoUrl", a.ID, "not videoUrl")
	refused(b.ws2, "imageUrl", a.ID, "no asset")
	refused(b.ws2, "imageUrl", u, "not an asset or run output of this workspace")
	refused(b.ws, "imageUrl", "blob:"+a.BlobKey, "must be a URL or an asset id")
	refused(b.ws, "imageUrl", publicURL+"/files/runs/run_nope/s/out.png", "not an asset or run output")

	_, handled, err := b.svc.ResolveInput(ctx, b.ws, "imageUrl", "https://elsewhere.example/files/"+a.BlobKey)
	require.NoError(t, err)
	require.False(t, handled, "another host's URL stays a URL to fetch")
}

func TestRefusedUploadsLeaveNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	b.svc.MaxBytes = 100
	_, _, err := b.svc.Create(ctx, &asset.CreateParams{WorkspaceID: b.ws, File: strings.NewReader(strings.Repeat("a", 101))})
	var tl *asset.TooLargeError
	require.ErrorAs(t, err, &tl)
	require.Equal(t, int64(100), tl.Limit)

	b.svc.QuotaBytes = 150
	_, _, err = b.svc.Create(ctx, &asset.CreateParams{WorkspaceID: b.ws, File: strings.NewReader(strings.Repeat("a", 100))})
	require.NoError(t, err)
	_, _, err = b.svc.Create(ctx, &asset.CreateParams{WorkspaceID: b.ws, File: strings.NewReader(strings.Repeat("b", 60))})
	var q *store.StorageQuotaError
	require.ErrorAs(t, err, &q)
	require.Equal(t, store.StorageQuotaError{Used: 100, Limit: 150, Size: 60}, *q)
	require.Len(t, b.files(t), 1, "only the accepted upload's file")
}

// A sweep cut short after deleting a blob is finished by the next one.
func TestSweepFinishesWhatItStarted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	a, _, err := b.svc.Create(ctx, &asset.CreateParams{WorkspaceID: b.ws, File: bytes.NewReader(b.pngBytes)})
	require.NoError(t, err)
	require.NoError(t, b.svc.Blobs.Delete(ctx, a.BlobKey), "as if a sweep stopped after the blob")

	res, err := b.svc.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, asset.SweepResult{}, res, "no retention: nothing is swept")

	b.svc.Retention = time.Hour
	res, err = b.svc.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, asset.SweepResult{}, res, "not an hour old yet")

	b.svc.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	res, err = b.svc.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, res.Assets)
	_, err = b.svc.Get(ctx, b.ws, a.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	used, err := b.store.WorkspaceStorageUsed(ctx, b.ws)
	require.NoError(t, err)
	require.Zero(t, used)
	require.Empty(t, b.files(t))

	exp := b.svc.ExpiresAt(&a.CreatedAt)
	require.NotNil(t, exp)
	require.Equal(t, a.CreatedAt+time.Hour.Milliseconds(), *exp)
	require.Equal(t, time.Hour, asset.RetentionInterval(10*time.Hour))
	require.Equal(t, time.Minute, asset.RetentionInterval(time.Minute))
}
