package sqlstore

import (
	"context"
	"fmt"

	"github.com/florad/florad/internal/store"
)

const workspaceColumns = `id, name, balance, webhook_secret, created_at`

func scanWorkspace(sc interface{ Scan(...any) error }) (*store.Workspace, error) {
	w := &store.Workspace{}
	if err := sc.Scan(&w.ID, &w.Name, &w.Balance, &w.WebhookSecret, &w.CreatedAt); err != nil {
		return nil, err
	}
	return w, nil
}

func (q *queries) WorkspaceGet(ctx context.Context, id string) (*store.Workspace, error) {
	w, err := scanWorkspace(q.queryRow(ctx, `SELECT `+workspaceColumns+` FROM workspaces WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("error getting workspace: %w", q.scanErr(err))
	}
	return w, nil
}

func (q *queries) WorkspaceList(ctx context.Context) ([]*store.Workspace, error) {
	rows, err := q.query(ctx, `SELECT `+workspaceColumns+` FROM workspaces ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("error listing workspaces: %w", err)
	}
	defer rows.Close()
	var out []*store.Workspace
	for rows.Next() {
		w, err := scanWorkspace(rows)
		if err != nil {
			return nil, fmt.Errorf("error scanning workspace: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

func (q *queries) WorkspaceInsert(ctx context.Context, p *store.WorkspaceInsertParams) (*store.Workspace, error) {
	w, err := scanWorkspace(q.queryRow(ctx,
		`INSERT INTO workspaces (id, name, balance, webhook_secret, created_at) VALUES (?, ?, 0, ?, ?)
		 RETURNING `+workspaceColumns, p.ID, p.Name, p.WebhookSecret, p.CreatedAt))
	if err != nil {
		return nil, fmt.Errorf("error inserting workspace: %w", q.scanErr(err))
	}
	return w, nil
}
