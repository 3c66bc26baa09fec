package run

import (
	"context"
	"fmt"

	"github.com/florad/florad/internal/store"
)

// ListParams filters a workspace's run history.
type ListParams struct {
	WorkspaceID string
	// Technique is a slug or tech_ id; empty for all.
	Technique     string
	Status        string
	CreatedAfter  *int64
	CreatedBefore *int64
	Limit         int
	// Cursor is the last run of the previous page, if any.
	CursorCreatedAt int64
	CursorID        string
}

// List returns one page of runs, newest first, and whether more follow. A
// technique filter naming no technique matches nothing rather than
// everything.
func (s *Service) List(ctx context.Context, p *ListParams) ([]*store.Run, bool, error) {
	q := &store.RunListParams{WorkspaceID: p.WorkspaceID, Status: p.Status, CreatedAfter: p.CreatedAfter,
		CreatedBefore: p.CreatedBefore, AfterCreatedAt: p.CursorCreatedAt, AfterID: p.CursorID, Limit: p.Limit + 1}
	if p.Technique != "" {
		t, ok, err := s.Techniques.Get(ctx, p.WorkspaceID, p.Technique)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			return nil, false, nil
		}
		q.TechniqueID = t.ID
	}
	runs, err := s.Store.RunList(ctx, q)
	if err != nil {
		return nil, false, fmt.Errorf("error listing runs: %w", err)
	}
	if len(runs) > p.Limit {
		return runs[:p.Limit], true, nil
	}
	return runs, false, nil
}
