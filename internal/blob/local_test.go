package blob_test

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/blob"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// clock is a settable time source, so expiry is tested without waiting.
type clock struct{ unix atomic.Int64 }

func (c *clock) now() time.Time       { return time.Unix(c.unix.Load(), 0) }
func (c *clock) add(d time.Duration)  { c.unix.Add(int64(d / time.Second)) }
func newClock(start time.Time) *clock { c := &clock{}; c.unix.Store(start.Unix()); return c }

type testBundle struct {
	dir   string
	clock *clock
	local *blob.Local
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	dir := t.TempDir()
	c := newClock(time.Unix(1_760_000_000, 0))
	l, err := blob.NewLocal(dir, "https://florad.example/", secret, c.now)
	require.NoError(t, err)
	return &testBundle{dir: dir, clock: c, local: l}
}

func (b *testBundle) put(t *testing.T, key, body string) {
	t.Helper()
	n, err := b.local.Put(t.Context(), key, strings.NewReader(body), "")
	require.NoError(t, err)
	require.Equal(t, int64(len(body)), n)
}

// files lists every file under the store's folder, relative and slashed.
func (b *testBundle) files(t *testing.T) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(b.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(b.dir, p)
		out = append(out, filepath.ToSlash(rel))
		return err
	}))
	return out
}

func TestNewLocalWantsALongSecret(t *testing.T) {
	t.Parallel()

	_, err := blob.NewLocal(t.TempDir(), "https://x", []byte("short"), nil)
	require.Error(t, err)
}

func TestPutGetRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()

	b.put(t, "runs/run_1/a/out.png", "first")
	b.put(t, "runs/run_1/a/out.png", "second, longer") // replaces

	rc, err := b.local.Get(ctx, "runs/run_1/a/out.png")
	require.NoError(t, err)
	data, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Equal(t, "second, longer", string(data))

	// The rename leaves only the final file: no temporary ones.
	require.Equal(t, []string{"runs/run_1/a/out.png"}, b.files(t))

	_, err = b.local.Get(ctx, "runs/run_1/a/missing.png")
	require.ErrorIs(t, err, blob.ErrNotFound)
}

// failingReader yields some bytes, then an error, like a dropped upload.
type failingReader struct{ sent bool }

func (r *failingReader) Read(p []byte) (int, error) {
	if !r.sent {
		r.sent = true
		return copy(p, "partial"), nil
	}
	return 0, errors.New("connection reset")
}

func TestPutFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)

	_, err := b.local.Put(t.Context(), "runs/r/x.png", &failingReader{}, "image/png")
	require.ErrorContains(t, err, "connection reset")
	require.Empty(t, b.files(t))

	// And a failed replacement keeps the old blob whole.
	b.put(t, "runs/r/x.png", "good")
	_, err = b.local.Put(t.Context(), "runs/r/x.png", &failingReader{}, "image/png")
	require.Error(t, err)
	require.Equal(t, []string{"runs/r/x.png"}, b.files(t))
	got, err := os.ReadFile(filepath.Join(b.dir, "runs", "r", "x.png"))
	require.NoError(t, err)
	require.Equal(t, "good", string(got))
}

func TestKeysThatLeaveTheFolderAreRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()

	for _, key := range []string{
		"", "..", "../x", "runs/../../x", "runs/..", "/etc/passwd", "/runs/x", `runs\..\x`,
		"./x", "runs//x", "runs/x/", "runs/./x",
	} {
		_, err := b.local.Put(ctx, key, strings.NewReader("x"), "")
		require.Error(t, err, "Put %q", key)
		_, err = b.local.Get(ctx, key)
		require.Error(t, err, "Get %q", key)
		_, err = b.local.URL(ctx, key, time.Hour)
		require.Error(t, err, "URL %q", key)
	}
	require.Empty(t, b.files(t))
	// Nothing was written next to the folder either.
	entries, err := os.ReadDir(filepath.Dir(b.dir))
	require.NoError(t, err)
	require.Len(t, entries, 1)
}

// serve requests the signed URL the way the API does: the key is the path
// after /files/, as the router hands it over (unescaped).
func (b *testBundle) serve(t *testing.T, rawURL string) (*httptest.ResponseRecorder, error) {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, rawURL, nil)
	rec := httptest.NewRecorder()
	err := b.local.ServeFile(rec, req, strings.TrimPrefix(req.URL.Path, "/files/"))
	return rec, err
}

func TestSignedURLServesTheFile(t *testing.T) {
	t.Parallel()
	b := setup(t)
	key := "runs/run 1/c/out.png" // a space, to check the escaping round trip
	b.put(t, key, "png bytes")

	u, err := b.local.URL(t.Context(), key, time.Hour)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(u, "https://florad.example/files/runs/run%201/c/out.png?"), u)
	parsed, err := url.Parse(u)
	require.NoError(t, err)
	require.Equal(t, "1760003600", parsed.Query().Get("expires"))

	rec, err := b.serve(t, u)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "png bytes", rec.Body.String())
	require.Equal(t, "image/png", rec.Header().Get("Content-Type"))
	require.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))

	// Valid up to and including the expiry second.
	b.clock.add(time.Hour)
	_, err = b.serve(t, u)
	require.NoError(t, err)
}

func TestSignedURLRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	b.put(t, "runs/r/out.png", "png bytes")
	b.put(t, "runs/r/other.png", "other bytes")

	u, err := b.local.URL(ctx, "runs/r/out.png", time.Hour)
	require.NoError(t, err)
	parsed, err := url.Parse(u)
	require.NoError(t, err)
	q := parsed.Query()

	with := func(path string, edit func(q url.Values)) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = append([]string(nil), vs...)
		}
		edit(v)
		return "https://florad.example" + path + "?" + v.Encode()
	}
	flip := func(s string) string {
		if s[0] == '0' {
			return "1" + s[1:]
		}
		return "0" + s[1:]
	}

	tests := map[string]struct {
		url  string
		want error
	}{
		"tampered signature": {with(parsed.Path, func(v url.Values) { v.Set("signature", flip(v.Get("signature"))) }), blob.ErrBadSignature},
		"missing signature":  {with(parsed.Path, func(v url.Values) { v.Del("signature") }), blob.ErrBadSignature},
		"extended expiry":    {with(parsed.Path, func(v url.Values) { v.Set("expires", "99999999999") }), blob.ErrBadSignature},
		"garbage expiry":     {with(parsed.Path, func(v url.Values) { v.Set("expires", "soon") }), blob.ErrBadSignature},
		"another key":        {with("/files/runs/r/other.png", func(url.Values) {}), blob.ErrBadSignature},
	}
	for name, tt := range tests {
		_, err := b.serve(t, tt.url)
		require.ErrorIs(t, err, tt.want, name)
	}

	// A valid signature for a blob that is gone.
	gone, err := b.local.URL(ctx, "runs/r/gone.png", time.Hour)
	require.NoError(t, err)
	_, err = b.serve(t, gone)
	require.ErrorIs(t, err, blob.ErrNotFound)

	// One second past the expiry, the same URL is refused.
	b.clock.add(time.Hour + time.Second)
	_, err = b.serve(t, u)
	require.ErrorIs(t, err, blob.ErrExpired)
}

func TestURLsDependOnTheSecret(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.put(t, "k.png", "x")

	other, err := blob.NewLocal(b.dir, "https://florad.example", []byte("another secret, also 32 bytes.."), b.clock.now)
	require.NoError(t, err)
	u, err := other.URL(t.Context(), "k.png", time.Hour)
	require.NoError(t, err)
	_, err = b.serve(t, u)
	require.ErrorIs(t, err, blob.ErrBadSignature)
}

func TestLocalDeleteAndKeyFromURL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	b.put(t, "assets/ws_1/asset_1.png", "png")

	u, err := b.local.URL(ctx, "assets/ws_1/asset_1.png", time.Hour)
	require.NoError(t, err)
	key, ok := b.local.KeyFromURL(u)
	require.True(t, ok)
	require.Equal(t, "assets/ws_1/asset_1.png", key)
	for _, other := range []string{"https://elsewhere.example/files/assets/ws_1/asset_1.png",
		"http://florad.example/files/assets/ws_1/asset_1.png", "https://florad.example/other/x.png",
		"https://florad.example/files/../secret", "::not a url"} {
		_, ok := b.local.KeyFromURL(other)
		require.False(t, ok, other)
	}

	require.NoError(t, b.local.Delete(ctx, key))
	_, err = b.local.Get(ctx, key)
	require.ErrorIs(t, err, blob.ErrNotFound)
	require.NoError(t, b.local.Delete(ctx, key), "deleting twice is no error")
	require.Error(t, b.local.Delete(ctx, "../up"))
}
