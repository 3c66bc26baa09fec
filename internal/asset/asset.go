// Package asset owns the files a workspace brings to its runs: uploads and
// server-side fetches become assets (bytes in the blob store, judged by
// their content, counted against the workspace's storage quota), asset ids
// and florad's own file URLs become run inputs read straight from the blob
// store, and retention removes old assets and run outputs.
package asset

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/florad/florad/internal/blob"
	"github.com/florad/florad/internal/ident"
	"github.com/florad/florad/internal/netguard"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/technique"
	"github.com/florad/florad/internal/validation"
)

// MaxBytesDefault is the largest asset accepted unless configured: 50 MiB.
const MaxBytesDefault = 50 << 20

// Errors the service returns besides store sentinels, *validation.Error and
// *store.StorageQuotaError.
var (
	// ErrIdempotencyConflict means the key was used before for a different
	// upload.
	ErrIdempotencyConflict = errors.New("idempotency key reused with a different asset")
)

// TooLargeError is an asset over the size limit.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string { return fmt.Sprintf("asset larger than %d bytes", e.Limit) }

// Service creates, lists and resolves assets, and sweeps expired files.
type Service struct {
	Store store.Store
	Blobs blob.Store
	// HTTPClient fetches sources; it must be SSRF-guarded
	// (netguard.NewClient).
	HTTPClient *http.Client
	// CheckURL decides whether a source URL may be fetched.
	CheckURL func(string) error
	// MaxBytes bounds one asset. Defaults to MaxBytesDefault.
	MaxBytes int64
	// QuotaBytes bounds the bytes of a workspace's assets; 0 means none.
	QuotaBytes int64
	// Retention is how long assets and run outputs are kept; 0 keeps them
	// for ever.
	Retention time.Duration
	Now       func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) maxBytes() int64 {
	if s.MaxBytes > 0 {
		return s.MaxBytes
	}
	return MaxBytesDefault
}

// MaxBytesLimit is the size limit in force, for handlers that bound bodies.
func (s *Service) MaxBytesLimit() int64 { return s.maxBytes() }

// CreateParams is one asset to create: File's bytes, or Source's.
type CreateParams struct {
	WorkspaceID    string
	IdempotencyKey string
	File           io.Reader
	Source         string
}

// Create stores an asset and returns it, or returns the existing one when
// the idempotency key was used before for the same bytes (or the same
// source); replayed is then true.
//
// The bytes go to the blob store first and the row (with the quota's
// guarded update) commits after: a crash in between leaves an unnamed
// blob, never a row without its bytes.
func (s *Service) Create(ctx context.Context, p *CreateParams) (a *store.Asset, replayed bool, err error) {
	var sourceFP string
	if p.Source != "" {
		if err := s.CheckURL(p.Source); err != nil {
			return nil, false, validation.New("source", err.Error())
		}
		sourceFP = "source:" + p.Source
		if a, ok, err := s.replay(ctx, p, sourceFP); ok || err != nil {
			return a, ok, err
		}
	}
	if s.QuotaBytes > 0 {
		used, err := s.Store.WorkspaceStorageUsed(ctx, p.WorkspaceID)
		if err != nil {
			return nil, false, err
		}
		if used >= s.QuotaBytes {
			return nil, false, &store.StorageQuotaError{Used: used, Limit: s.QuotaBytes}
		}
	}
	r := p.File
	if p.Source != "" {
		path, err := s.fetch(ctx, p.Source)
		if err != nil {
			return nil, false, err
		}
		defer os.Remove(path)
		f, err := os.Open(path)
		if err != nil {
			return nil, false, fmt.Errorf("error reading fetched source: %w", err)
		}
		defer f.Close()
		r = f
	}
	if r == nil {
		return nil, false, validation.New("file", "is required")
	}

	now := s.now()
	id := ident.New("asset_", now)
	head := make([]byte, 512)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, false, fmt.Errorf("error reading upload: %w", err)
	}
	head = head[:n]
	if n == 0 {
		return nil, false, validation.New(fieldOf(p), "is empty")
	}
	ct, typ, ok := classify(head)
	if !ok {
		return nil, false, validation.New(fieldOf(p), "is "+ct+
			"; an asset must be an image, a video, audio, a PDF or plain text (judged by its content)")
	}
	key := "assets/" + p.WorkspaceID + "/" + id + blob.Extension(ct)
	body := &limitedHash{r: io.MultiReader(bytes.NewReader(head), r), limit: s.maxBytes(), h: sha256.New()}
	size, err := s.Blobs.Put(ctx, key, body, ct)
	if err != nil {
		// Whatever Put left behind is not an asset.
		_ = s.Blobs.Delete(context.WithoutCancel(ctx), key)
		var tl *TooLargeError
		if errors.As(err, &tl) {
			return nil, false, tl
		}
		return nil, false, fmt.Errorf("error storing asset: %w", err)
	}
	fp := sourceFP
	if fp == "" {
		fp = "sha256:" + hex.EncodeToString(body.h.Sum(nil))
	}
	params := &store.AssetInsertParams{QuotaBytes: s.QuotaBytes, Asset: store.Asset{
		ID: id, WorkspaceID: p.WorkspaceID, Type: typ, ContentType: ct, SizeBytes: size, BlobKey: key,
		Source: p.Source, IdempotencyKey: p.IdempotencyKey, Fingerprint: fp, CreatedAt: now.UnixMilli(),
	}}
	err = s.Store.InTx(ctx, func(tx store.Tx) error {
		a, err = tx.AssetInsert(ctx, params)
		return err
	})
	if err == nil {
		return a, false, nil
	}
	_ = s.Blobs.Delete(context.WithoutCancel(ctx), key)
	if errors.Is(err, store.ErrAlreadyExists) && p.IdempotencyKey != "" {
		p2 := *p
		if a, ok, rerr := s.replay(ctx, &p2, fp); ok || rerr != nil {
			return a, ok, rerr
		}
	}
	return nil, false, err
}

// replay returns the workspace's asset with p's idempotency key, if any:
// ErrIdempotencyConflict when it was made from something else.
func (s *Service) replay(ctx context.Context, p *CreateParams, fp string) (*store.Asset, bool, error) {
	if p.IdempotencyKey == "" {
		return nil, false, nil
	}
	a, err := s.Store.AssetGetByIdempotencyKey(ctx, p.WorkspaceID, p.IdempotencyKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if a.Fingerprint != fp {
		return nil, false, ErrIdempotencyConflict
	}
	return a, true, nil
}

func fieldOf(p *CreateParams) string {
	if p.Source != "" {
		return "source"
	}
	return "file"
}

// fetch downloads a source through the SSRF guard to a temporary file.
func (s *Service) fetch(ctx context.Context, source string) (string, error) {
	path, _, err := netguard.FetchToFile(ctx, s.HTTPClient, source, "", netguard.FetchOptions{MaxBytes: s.maxBytes()})
	switch {
	case err == nil:
		return path, nil
	case ctx.Err() != nil:
		return "", ctx.Err()
	case errors.Is(err, netguard.ErrTooLarge):
		return "", &TooLargeError{Limit: s.maxBytes()}
	case errors.Is(err, netguard.ErrUnreachable), errors.Is(err, netguard.ErrInvalidContent):
		return "", validation.New("source", "could not be fetched: "+err.Error())
	}
	return "", fmt.Errorf("error fetching source: %w", err)
}

// classify judges content by its leading bytes: its MIME type (without
// parameters), the input type it can feed, and whether assets take it.
func classify(head []byte) (contentType, typ string, ok bool) {
	ct := netguard.SniffContentType(head)
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		ct = mt
	}
	switch {
	case strings.HasPrefix(ct, "image/"):
		return ct, technique.TypeImageURL, true
	case strings.HasPrefix(ct, "video/"):
		return ct, technique.TypeVideoURL, true
	case strings.HasPrefix(ct, "audio/"), ct == "application/ogg":
		return ct, technique.TypeAudioURL, true
	case ct == "application/pdf", ct == "text/plain":
		return ct, technique.TypeDocumentURL, true
	}
	return ct, "", false
}

// limitedHash reads r, hashing what passes, and fails once more than limit
// bytes came through.
type limitedHash struct {
	r     io.Reader
	limit int64
	n     int64
	h     hash.Hash
}

func (l *limitedHash) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.limit {
		return 0, &TooLargeError{Limit: l.limit}
	}
	l.h.Write(p[:n])
	return n, err
}

// Get returns the workspace's asset.
func (s *Service) Get(ctx context.Context, workspaceID, id string) (*store.Asset, error) {
	return s.Store.AssetGet(ctx, workspaceID, id)
}

// List pages the workspace's assets, newest first.
func (s *Service) List(ctx context.Context, p *store.AssetListParams) ([]*store.Asset, error) {
	return s.Store.AssetList(ctx, p)
}

// StorageUsed is the bytes of the workspace's assets, which the quota
// counts.
func (s *Service) StorageUsed(ctx context.Context, workspaceID string) (int64, error) {
	return s.Store.WorkspaceStorageUsed(ctx, workspaceID)
}

// ExpiresAt is when retention removes a file made at `at` (unix ms); nil
// without retention. Assets count from their creation, outputs from their
// run's end.
func (s *Service) ExpiresAt(at *int64) *int64 {
	if s == nil || s.Retention <= 0 || at == nil {
		return nil
	}
	e := *at + s.Retention.Milliseconds()
	return &e
}
