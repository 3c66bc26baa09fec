package run

import (
	"context"
	"fmt"

	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/technique"
)

// Get returns a run of the workspace, and its technique. A run of another
// workspace, or of another technique than the one named, is not found: the
// answer never reveals that it exists.
func (s *Service) Get(ctx context.Context, workspaceID, techniqueRef, runID string) (*store.Run, *technique.Technique, error) {
	t, ok, err := s.Techniques.Get(ctx, workspaceID, techniqueRef)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, fmt.Errorf("error finding technique: %w", store.ErrNotFound)
	}
	r, err := s.Store.RunGet(ctx, workspaceID, runID)
	if err != nil {
		return nil, nil, err
	}
	if r.TechniqueID != t.ID {
		return nil, nil, fmt.Errorf("error finding run: %w", store.ErrNotFound)
	}
	return r, t, nil
}
