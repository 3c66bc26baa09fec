package blob

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Local keeps blobs under a folder and signs URLs with an HMAC key, so the
// files can be served without authentication but only while a URL is valid.
type Local struct {
	dir     string
	baseURL string
	secret  []byte
	now     func() time.Time
}

// NewLocal makes a store in dir. baseURL is the public URL of the server
// (the files are served under baseURL + "/files/"); secret signs URLs and
// must be shared by every process that serves them.
func NewLocal(dir, baseURL string, secret []byte, now func() time.Time) (*Local, error) {
	if len(secret) < 16 {
		return nil, errors.New("blob signing secret must be at least 16 bytes")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("error creating blob folder: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Local{dir: dir, baseURL: strings.TrimRight(baseURL, "/"), secret: secret, now: now}, nil
}

// path maps a key to a file, refusing keys that could leave the folder.
func (l *Local) path(key string) (string, error) {
	if key == "" || strings.Contains(key, "\\") || path.Clean("/"+key) != "/"+key || strings.HasPrefix(key, "/") {
		return "", fmt.Errorf("invalid blob key %q", key)
	}
	return filepath.Join(l.dir, filepath.FromSlash(key)), nil
}

// Put writes to a temporary file and renames it into place, so a crash
// never leaves a half-written blob under the final name.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, contentType string) (int64, error) {
	p, err := l.path(key)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return 0, fmt.Errorf("error creating blob folder: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("error creating blob: %w", err)
	}
	n, err := io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return 0, fmt.Errorf("error writing blob %s: %w", key, err)
	}
	return n, nil
}

// Get opens a blob for reading.
func (l *Local) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	return f, err
}

// Delete removes the blob's file.
func (l *Local) Delete(ctx context.Context, key string) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("error deleting blob %s: %w", key, err)
	}
	return nil
}

// KeyFromURL recognises baseURL/files/<key>, the URLs URL makes.
func (l *Local) KeyFromURL(rawURL string) (string, bool) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", false
	}
	base, err := url.Parse(l.baseURL + "/files/")
	if err != nil || !strings.EqualFold(u.Scheme, base.Scheme) || !strings.EqualFold(u.Host, base.Host) ||
		!strings.HasPrefix(u.Path, base.Path) {
		return "", false
	}
	key := strings.TrimPrefix(u.Path, base.Path)
	if _, err := l.path(key); err != nil {
		return "", false
	}
	return key, true
}

func (l *Local) sign(key string, exp int64) string {
	m := hmac.New(sha256.New, l.secret)
	fmt.Fprintf(m, "%s\n%d", key, exp)
	return hex.EncodeToString(m.Sum(nil))
}

// URL returns baseURL/files/<key>?expires=<unix>&signature=<hmac>.
func (l *Local) URL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if _, err := l.path(key); err != nil {
		return "", err
	}
	exp := l.now().Add(ttl).Unix()
	u := l.baseURL + "/files/" + (&url.URL{Path: key}).EscapedPath()
	return u + "?expires=" + strconv.FormatInt(exp, 10) + "&signature=" + l.sign(key, exp), nil
}

// ServeFile serves GET /files/<key> when the signature is valid and has not
// expired; 403 otherwise. The caller writes errors in the API's shape.
func (l *Local) ServeFile(w http.ResponseWriter, r *http.Request, key string) error {
	exp, err := strconv.ParseInt(r.URL.Query().Get("expires"), 10, 64)
	if err != nil || !hmac.Equal([]byte(r.URL.Query().Get("signature")), []byte(l.sign(key, exp))) {
		return ErrBadSignature
	}
	if l.now().Unix() > exp {
		return ErrExpired
	}
	p, err := l.path(key)
	if err != nil {
		return ErrBadSignature
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if ct := mime.TypeByExtension(path.Ext(key)); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", st.ModTime(), f)
	return nil
}

// Signature failures of ServeFile.
var (
	ErrBadSignature = errors.New("invalid file signature")
	ErrExpired      = errors.New("file URL has expired")
)
