package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/florad/florad/internal/asset"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/validation"
)

// assetJSON is the asset object of the contract.
type assetJSON struct {
	AssetID     string  `json:"asset_id"`
	Type        string  `json:"type"`
	ContentType string  `json:"content_type"`
	SizeBytes   int64   `json:"size_bytes"`
	URL         string  `json:"url"`
	Source      *string `json:"source"`
	CreatedAt   int64   `json:"created_at"`
	ExpiresAt   *int64  `json:"expires_at"`
}

type assetListJSON struct {
	Assets []assetJSON `json:"assets"`
	Meta   listMeta    `json:"meta"`
}

// assetJSON renders an asset with a freshly signed URL.
func (s *Server) assetJSON(ctx context.Context, a *store.Asset) (assetJSON, error) {
	u, err := s.Blobs.URL(ctx, a.BlobKey, s.OutputURLTTL)
	if err != nil {
		return assetJSON{}, err
	}
	out := assetJSON{AssetID: a.ID, Type: a.Type, ContentType: a.ContentType, SizeBytes: a.SizeBytes, URL: u,
		CreatedAt: a.CreatedAt, ExpiresAt: s.Assets.ExpiresAt(&a.CreatedAt)}
	if a.Source != "" {
		src := a.Source
		out.Source = &src
	}
	return out, nil
}

// assetCreate serves POST /api/v1/assets: a multipart/form-data upload
// with a "file" part, or a JSON {"source": "https://..."} florad fetches.
func (s *Server) assetCreate(w http.ResponseWriter, r *http.Request) error {
	p := &asset.CreateParams{WorkspaceID: principal(r.Context()).WorkspaceID}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKeyLength || !utf8.ValidString(key) {
		return validation.New("Idempotency-Key", "must be valid UTF-8 of at most 255 bytes")
	}
	p.IdempotencyKey = key
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "multipart/form-data":
		limit := s.Assets.MaxBytesLimit()
		// The parts' headers and boundaries fit in the slack; the file's
		// own limit is the service's.
		mr, err := multipartReader(http.MaxBytesReader(w, r.Body, limit+64<<10), params["boundary"])
		if err != nil {
			return err
		}
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return validation.New("file", "is required: send the file in a multipart part named \"file\"")
			}
			if err != nil {
				return uploadError(err, limit)
			}
			if part.FormName() != "file" {
				part.Close()
				continue
			}
			p.File = part
			a, replayed, err := s.Assets.Create(r.Context(), p)
			part.Close()
			if err != nil {
				return uploadError(err, limit)
			}
			return s.writeAsset(w, r, a, replayed)
		}
	case "application/json":
		fields, err := s.readObject(w, r)
		if err != nil {
			return err
		}
		v := &validation.Error{}
		for k := range fields {
			if k != "source" {
				v.Add(truncateForMessage(k), "is not a field of this request")
			}
		}
		raw, ok := given(fields, "source")
		if !ok {
			v.Add("source", "is required")
		} else if err := json.Unmarshal(raw, &p.Source); err != nil || p.Source == "" {
			v.Add("source", "must be a non-empty string, an https URL")
		}
		if err := v.Err(); err != nil {
			return err
		}
		a, replayed, err := s.Assets.Create(r.Context(), p)
		if err != nil {
			return uploadError(err, s.Assets.MaxBytesLimit())
		}
		return s.writeAsset(w, r, a, replayed)
	}
	return errUnsupportedMediaType("Send the file as multipart/form-data (a part named \"file\"), " +
		"or application/json {\"source\": \"https://...\"}.")
}

func (s *Server) writeAsset(w http.ResponseWriter, r *http.Request, a *store.Asset, replayed bool) error {
	out, err := s.assetJSON(r.Context(), a)
	if err != nil {
		return err
	}
	if replayed {
		w.Header().Set("idempotent-replayed", "true")
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// assetGet serves GET /api/v1/assets/{assetID}.
func (s *Server) assetGet(w http.ResponseWriter, r *http.Request) error {
	a, err := s.Assets.Get(r.Context(), principal(r.Context()).WorkspaceID, chi.URLParam(r, "assetID"))
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound("No asset " + truncateForMessage(chi.URLParam(r, "assetID")) + " in this workspace.")
	}
	if err != nil {
		return err
	}
	out, err := s.assetJSON(r.Context(), a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// assetList serves GET /api/v1/assets: newest first, limit 1-100 (20 by
// default), cursor pagination.
func (s *Server) assetList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	v := &validation.Error{}
	p := &store.AssetListParams{WorkspaceID: principal(r.Context()).WorkspaceID}
	var after timeCursor
	p.Limit, after = newestFirstPage(q, v)
	p.AfterCreatedAt, p.AfterID = after.CreatedAt, after.ID
	if err := v.Err(); err != nil {
		return err
	}
	limit := p.Limit
	p.Limit++ // one more tells whether another page follows
	list, err := s.Assets.List(r.Context(), p)
	if err != nil {
		return err
	}
	out := assetListJSON{Assets: make([]assetJSON, 0, min(len(list), limit))}
	for _, a := range list[:min(len(list), limit)] {
		j, err := s.assetJSON(r.Context(), a)
		if err != nil {
			return err
		}
		out.Assets = append(out.Assets, j)
	}
	if len(list) > limit {
		last := list[limit-1]
		out.Meta.NextCursor = nextCursor(last.CreatedAt, last.ID)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// multipartReader reads a multipart body with the boundary its
// Content-Type gave.
func multipartReader(body io.Reader, boundary string) (*multipart.Reader, error) {
	if boundary == "" {
		return nil, errInvalidMultipart(errors.New("no boundary"))
	}
	return multipart.NewReader(body, boundary), nil
}

// uploadError says why an upload failed where the body itself is at fault:
// too large, too slow, badly framed; anything else goes to fromError.
func uploadError(err error, limit int64) error {
	var tooBig *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooBig):
		return errPayloadTooLarge(limit)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return errRequestTimeout(err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, multipart.ErrMessageTooLarge):
		return errInvalidMultipart(err)
	}
	return err
}

// assetLimits adds the workspace's asset figures to GET /workspace's
// limits: the upload limit, the storage quota (null: none), the bytes used.
func (s *Server) assetLimits(ctx context.Context, workspaceID string, limits map[string]any) error {
	if s.Assets == nil {
		return nil
	}
	used, err := s.Assets.StorageUsed(ctx, workspaceID)
	if err != nil {
		return err
	}
	limits["max_upload_bytes"] = s.Assets.MaxBytesLimit()
	limits["storage_used_bytes"] = used
	limits["storage_quota_bytes"] = nil
	if s.Assets.QuotaBytes > 0 {
		limits["storage_quota_bytes"] = s.Assets.QuotaBytes
	}
	return nil
}
