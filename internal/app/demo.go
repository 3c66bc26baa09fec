package app

import (
	"context"

	"github.com/florad/florad/internal/store"
)

// Demo is the workspace made on first start.
type Demo struct {
	WorkspaceID   string
	Credits       int64
	Key           string
	WebhookSecret string
}

// EnsureDemo creates a demo workspace with credits and a key when the
// database has no workspace at all, and returns it; otherwise nil. Of
// several processes starting together on an empty database, only the one
// that claims the "demo_workspace" setting first makes it.
func (a *App) EnsureDemo(ctx context.Context, credits int64) (*Demo, error) {
	ws, err := a.Store.WorkspaceList(ctx)
	if err != nil || len(ws) > 0 {
		return nil, err
	}
	claim, got := randomHex(16), ""
	err = a.Store.InTx(ctx, func(tx store.Tx) error {
		var err error
		got, err = tx.SettingInsertIfAbsent(ctx, "demo_workspace", claim)
		return err
	})
	if err != nil || got != claim {
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
