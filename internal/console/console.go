// Package console is florad's web console: a handful of static files (HTML,
// CSS and plain JavaScript modules) embedded in the binary and served at
// /console/. The console has no server-side logic of its own: the browser
// signs in with an API key and calls the public API with it, so the
// console can do exactly what the key can and nothing more.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// static holds the console's files. An embedded file system is read-only
// data compiled into the binary, not state.
//
//go:embed static
var static embed.FS

// ErrNotFound is returned by Serve for a name the console has no file for.
var ErrNotFound = errors.New("console: no such file")

// contentSecurityPolicy lets the page run only its own scripts and styles
// and call only its own origin; output images and videos may come from
// elsewhere (signed URLs of an S3 bucket).
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src * data: blob:; media-src * blob:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

type file struct {
	data        []byte
	etag        string
	contentType string
}

// Console serves the embedded files.
type Console struct {
	files map[string]file
}

// New reads the embedded files once, with their ETags, so that a request
// only looks a name up.
func New() *Console {
	c := &Console{files: map[string]file{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = http.DetectContentType(data)
		}
		c.files[strings.TrimPrefix(p, "static/")] = file{data: data, etag: `"` + hex.EncodeToString(sum[:8]) + `"`,
			contentType: ct}
		return nil
	})
	if err != nil {
		// The files are compiled in: failing to read them is a broken build.
		panic("console: reading embedded files: " + err.Error())
	}
	return c
}

// Serve writes the file name ("" is index.html), or returns ErrNotFound.
// Files are revalidated on every load (ETag), so a new florad's console
// is picked up at once.
func (c *Console) Serve(w http.ResponseWriter, r *http.Request, name string) error {
	if name == "" {
		name = "index.html"
	}
	f, ok := c.files[name]
	if !ok {
		return ErrNotFound
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.data))
	return nil
}
