package app

import (
	"context"
)

// Demo is the workspace made on first start.
type Demo struct {
	WorkspaceID   string
	Credits       int64
	Key           string
	WebhookSecret string
}

// EnsureDemo creates a demo workspace with credits and a key when the
// database has no workspace at all, and returns it; otherwise nil.
func (a *App) EnsureDemo(ctx context.Context, credits int64) (*Demo, error) {
	ws, err := a.Store.WorkspaceList(ctx)
	if err != nil || len(ws) > 0 {
		return nil, err
	}
	w, err := a.Workspaces.Create(ctx, "Demo", credits)
	if err != nil {
		return nil, err
	}
	k, err := a.Workspaces.CreateKey(ctx, w.ID)
	if err != nil {
		return nil, err
	}
	return &Demo{WorkspaceID: w.ID, Credits: w.Balance, Key: k.Key, WebhookSecret: k.WebhookSecret}, nil
}
