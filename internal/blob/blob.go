// Package blob stores run outputs and hands out signed, expiring URLs to
// them. The local implementation keeps files in a folder and florad serves
// them itself under /files/; an S3-compatible one can take its place.
package blob

import (
	"context"
	"errors"
	"io"
	"mime"
	"time"
)

// ErrNotFound means no blob has that key.
var ErrNotFound = errors.New("blob not found")

// Store is a place for run outputs.
type Store interface {
	// Put stores the reader's bytes under key, replacing any blob there, and
	// returns the size. Readers never see a partly written blob.
	Put(ctx context.Context, key string, r io.Reader, contentType string) (int64, error)
	// Get opens a blob.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// URL returns an absolute URL that serves the blob until ttl has passed.
	URL(ctx context.Context, key string, ttl time.Duration) (string, error)
	// Delete removes a blob; a blob already gone is no error, so that a
	// retried cleanup succeeds.
	Delete(ctx context.Context, key string) error
	// KeyFromURL recognises a URL this store hands out (whatever its
	// expiry or signature) and returns its key, so that a run can read its
	// own blobs instead of fetching them over HTTP. The caller decides
	// whether the workspace may use that key.
	KeyFromURL(rawURL string) (key string, ok bool)
}

// RefPrefix marks a run input value that names a blob of this store (an
// asset, another run's output) rather than a URL to fetch. Only the run
// service writes such values, after checking the workspace may read them.
const RefPrefix = "blob:"

// Ref is the run input value that names key.
func Ref(key string) string { return RefPrefix + key }

// ParseRef returns the key a Ref names.
func ParseRef(value string) (key string, ok bool) {
	if len(value) > len(RefPrefix) && value[:len(RefPrefix)] == RefPrefix {
		return value[len(RefPrefix):], true
	}
	return "", false
}

// Extension is the file extension a blob of contentType is stored with;
// the local store serves a file with the type its extension names.
func Extension(contentType string) string {
	switch contentType {
	case "image/jpeg":
		return ".jpg"
	case "image/png":
		return ".png"
	case "image/gif":
		return ".gif"
	case "image/webp":
		return ".webp"
	case "video/mp4":
		return ".mp4"
	}
	if exts, _ := mime.ExtensionsByType(contentType); len(exts) > 0 {
		return exts[0]
	}
	return ".bin"
}
