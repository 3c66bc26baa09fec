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
	t, err := s.technique(ctx, workspaceID, techniqueRef)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.Store.RunGet(ctx, workspaceID, runID)
	if err != nil {
		return nil, nil, err
	}
	return ofTechnique(r, t)
}

// OfTechnique is Get for a run of the workspace the caller already read
// (a poll reads it with the API key): the same answer, without the read.
func (s *Service) OfTechnique(ctx context.Context, workspaceID, techniqueRef string, r *store.Run) (*store.Run, *technique.Technique, error) {
	if r.WorkspaceID != workspaceID {
		return nil, nil, fmt.Errorf("error finding run: %w", store.ErrNotFound)
	}
	t, err := s.technique(ctx, workspaceID, techniqueRef)
	if err != nil {
		return nil, nil, err
	}
	return ofTechnique(r, t)
}

func (s *Service) technique(ctx context.Context, workspaceID, ref string) (*technique.Technique, error) {
	t, ok, err := s.Techniques.Get(ctx, workspaceID, ref)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("error finding technique: %w", store.ErrNotFound)
	}
	return t, nil
}

func ofTechnique(r *store.Run, t *technique.Technique) (*store.Run, *technique.Technique, error) {
	if r.TechniqueID != t.ID {
		return nil, nil, fmt.Errorf("error finding run: %w", store.ErrNotFound)
	}
	return r, t, nil
}
