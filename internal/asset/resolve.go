package asset

import (
	"context"
	"errors"
	"path"
	"strings"

	"github.com/florad/florad/internal/blob"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/validation"
)

// ResolveInput turns a media input value that names one of florad's own
// files, an asset id (asset_...) or a URL of florad's blob store (an
// asset's url, a run output's url), into a blob reference the engine reads
// from the store directly; handled is false for any other value, which
// stays a URL to fetch. typ is the input's canonical type. A value naming a
// file the workspace may not use, or of another type, is refused with a
// *validation.Error whose message is for the client.
//
// Access is decided by ownership, not by a URL's signature: the file must
// be an asset of this workspace or an output of one of its runs.
func (s *Service) ResolveInput(ctx context.Context, workspaceID, typ, value string) (resolved string, handled bool, err error) {
	if strings.HasPrefix(value, "asset_") {
		a, err := s.Store.AssetGet(ctx, workspaceID, value)
		if errors.Is(err, store.ErrNotFound) {
			return "", true, refuse("no asset " + truncate(value) + " in this workspace")
		}
		if err != nil {
			return "", true, err
		}
		return s.assetRef(a, typ)
	}
	if strings.HasPrefix(value, blob.RefPrefix) {
		return "", true, refuse("must be a URL or an asset id")
	}
	key, ok := s.Blobs.KeyFromURL(value)
	if !ok {
		return "", false, nil
	}
	parts := strings.Split(key, "/")
	switch {
	case len(parts) == 3 && parts[0] == "assets" && parts[1] == workspaceID:
		id := strings.TrimSuffix(parts[2], path.Ext(parts[2]))
		a, err := s.Store.AssetGet(ctx, workspaceID, id)
		if err == nil && a.BlobKey == key {
			return s.assetRef(a, typ)
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", true, err
		}
	case len(parts) >= 3 && parts[0] == "runs":
		r, err := s.Store.RunGet(ctx, workspaceID, parts[1])
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", true, err
		}
		if err == nil {
			for _, o := range r.Outputs {
				if o.BlobKey != key {
					continue
				}
				if o.Type != typ {
					return "", true, refuse("names an output of type " + o.Type + ", not " + typ)
				}
				return blob.Ref(key), true, nil
			}
		}
	}
	return "", true, refuse("names a file of this server that is not an asset or run output of this workspace (or no longer exists)")
}

func (s *Service) assetRef(a *store.Asset, typ string) (string, bool, error) {
	if a.Type != typ {
		return "", true, refuse("asset " + a.ID + " is " + a.ContentType + " (" + a.Type + "), not " + typ)
	}
	return blob.Ref(a.BlobKey), true, nil
}

// refuse is a refusal of the input's value; the caller puts it under the
// value's path.
func refuse(msg string) error { return validation.New("value", msg) }

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
