// Package blob stores run outputs and hands out signed, expiring URLs to
// them. The local implementation keeps files in a folder and florad serves
// them itself under /files/; an S3-compatible one can take its place.
package blob

import (
	"context"
	"errors"
	"io"
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
}
