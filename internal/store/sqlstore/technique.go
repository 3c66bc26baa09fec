package sqlstore

import (
	"context"
	"fmt"

	"github.com/florad/florad/internal/store"
)

func (q *queries) TechniqueInsert(ctx context.Context, t *store.TechniqueRecord) error {
	if _, err := q.exec(ctx, `INSERT INTO techniques (workspace_id, slug, version, source, created_at) VALUES (?, ?, ?, ?, ?)`,
		t.WorkspaceID, t.Slug, t.Version, t.Source, t.CreatedAt); err != nil {
		return fmt.Errorf("error storing technique %s: %w", t.Slug, err)
	}
	return nil
}

// TechniqueLatestList returns the newest version of every technique, public
// and of every workspace.
func (q *queries) TechniqueLatestList(ctx context.Context) ([]*store.TechniqueRecord, error) {
	return q.techniques(ctx, `SELECT t.workspace_id, t.slug, t.version, t.source, t.created_at FROM techniques t
		WHERE t.created_at = (SELECT MAX(created_at) FROM techniques l WHERE l.workspace_id = t.workspace_id AND l.slug = t.slug)
		ORDER BY t.workspace_id, t.slug, t.version`)
}

func (q *queries) TechniqueGetVersion(ctx context.Context, workspaceID, slug, version string) (*store.TechniqueRecord, error) {
	out, err := q.techniques(ctx, `SELECT workspace_id, slug, version, source, created_at FROM techniques
		WHERE workspace_id = ? AND slug = ? AND version = ?`, workspaceID, slug, version)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("error getting technique %s version %s: %w", slug, version, store.ErrNotFound)
	}
	return out[0], nil
}

func (q *queries) techniques(ctx context.Context, query string, args ...any) ([]*store.TechniqueRecord, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("error listing techniques: %w", err)
	}
	defer rows.Close()
	var out []*store.TechniqueRecord
	for rows.Next() {
		t := &store.TechniqueRecord{}
		if err := rows.Scan(&t.WorkspaceID, &t.Slug, &t.Version, &t.Source, &t.CreatedAt); err != nil {
			return nil, fmt.Errorf("error scanning technique: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
