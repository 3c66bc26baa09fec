// Package workspace is the admin service for workspaces, their API keys and
// their credits. The CLI calls it; so do tests and the first-start demo.
package workspace

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/florad/florad/internal/auth"
	"github.com/florad/florad/internal/ident"
	"github.com/florad/florad/internal/store"
)

// Service manages workspaces.
type Service struct {
	Store store.Store
	Now   func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// NewKey is a key as shown once, at creation.
type NewKey struct {
	KeyID            string   `json:"key_id"`
	WorkspaceID      string   `json:"workspace_id"`
	Key              string   `json:"key"`
	WebhookSecret    string   `json:"webhook_secret"`
	Scopes           []string `json:"scopes"`
	MaxCreditsPerDay *int64   `json:"max_credits_per_day"`
}

// UpdateKey changes a key's scopes (nil keeps them) and cap (clearCap
// removes it; nil max keeps it). It takes effect on the key's next request.
func (s *Service) UpdateKey(ctx context.Context, keyID string, scopes []string, maxPerDay *int64, clearCap bool) (*store.APIKey, error) {
	if maxPerDay != nil && *maxPerDay < 0 {
		return nil, errors.New("max credits per day must not be negative")
	}
	var k *store.APIKey
	err := s.Store.InTx(ctx, func(tx store.Tx) (err error) {
		k, err = tx.APIKeyUpdate(ctx, &store.APIKeyUpdateParams{ID: keyID, Scopes: scopes, MaxCreditsPerDay: maxPerDay, ClearCap: clearCap})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("error updating key: %w", err)
	}
	return k, nil
}

// SpentToday is what the key reserved today (UTC).
func (s *Service) SpentToday(ctx context.Context, keyID string) (int64, error) {
	return s.Store.KeySpendGet(ctx, keyID, store.SpendDay(s.now().UnixMilli()))
}

// Create makes a workspace, granting it credits in the same transaction.
func (s *Service) Create(ctx context.Context, name string, credits int64) (*store.Workspace, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, errors.New("a workspace needs a name")
	}
	if credits < 0 {
		return nil, errors.New("credits must not be negative")
	}
	now := s.now()
	var w *store.Workspace
	err := s.Store.InTx(ctx, func(tx store.Tx) error {
		var err error
		w, err = tx.WorkspaceInsert(ctx, &store.WorkspaceInsertParams{
			ID: ident.New("ws_", now), Name: name, WebhookSecret: auth.NewWebhookSecret(), CreatedAt: now.UnixMilli(),
		})
		if err != nil {
			return err
		}
		if credits > 0 {
			e, err := tx.CreditsApply(ctx, &store.CreditsApplyParams{WorkspaceID: w.ID, Kind: store.LedgerGrant,
				Amount: credits, Memo: "initial grant", CreatedAt: now.UnixMilli()})
			if err != nil {
				return err
			}
			w.Balance = e.BalanceAfter
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("error creating workspace: %w", err)
	}
	return w, nil
}

// KeyOptions are what a new key may do.
type KeyOptions struct {
	// Scopes default to all of them.
	Scopes []string
	// MaxCreditsPerDay caps the key's spending per UTC day; nil for none.
	MaxCreditsPerDay *int64
}

// CreateKey issues a key with every scope and no cap for the workspace.
// The secret is returned once and only its hash is stored.
func (s *Service) CreateKey(ctx context.Context, workspaceID string) (*NewKey, error) {
	return s.CreateKeyWith(ctx, workspaceID, KeyOptions{})
}

// CreateKeyWith issues a key with the given scopes and cap.
func (s *Service) CreateKeyWith(ctx context.Context, workspaceID string, o KeyOptions) (*NewKey, error) {
	scopes := o.Scopes
	if len(scopes) == 0 {
		scopes = auth.AllScopes()
	}
	if o.MaxCreditsPerDay != nil && *o.MaxCreditsPerDay < 0 {
		return nil, errors.New("max credits per day must not be negative")
	}
	now := s.now()
	secret, hash := auth.NewKey()
	var out *NewKey
	err := s.Store.InTx(ctx, func(tx store.Tx) error {
		w, err := tx.WorkspaceGet(ctx, workspaceID)
		if err != nil {
			return err
		}
		k, err := tx.APIKeyInsert(ctx, &store.APIKeyInsertParams{ID: ident.New("key_", now), WorkspaceID: w.ID,
			Hash: hash, Prefix: auth.DisplayPrefix(secret), CreatedAt: now.UnixMilli(), Scopes: scopes,
			MaxCreditsPerDay: o.MaxCreditsPerDay})
		if err != nil {
			return err
		}
		out = &NewKey{KeyID: k.ID, WorkspaceID: w.ID, Key: secret, WebhookSecret: w.WebhookSecret,
			Scopes: k.Scopes, MaxCreditsPerDay: k.MaxCreditsPerDay}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("error creating key: %w", err)
	}
	return out, nil
}

// RevokeKey revokes a key at once: the next request with it gets 401.
func (s *Service) RevokeKey(ctx context.Context, keyID string) error {
	err := s.Store.InTx(ctx, func(tx store.Tx) error { return tx.APIKeyRevoke(ctx, keyID, s.now().UnixMilli()) })
	if err != nil {
		return fmt.Errorf("error revoking key: %w", err)
	}
	return nil
}

// Grant adds credits and returns the new balance.
func (s *Service) Grant(ctx context.Context, workspaceID string, credits int64, memo string) (int64, error) {
	if credits <= 0 {
		return 0, errors.New("credits to grant must be positive")
	}
	var balance int64
	err := s.Store.InTx(ctx, func(tx store.Tx) error {
		e, err := tx.CreditsApply(ctx, &store.CreditsApplyParams{WorkspaceID: workspaceID, Kind: store.LedgerGrant,
			Amount: credits, Memo: memo, CreatedAt: s.now().UnixMilli()})
		if err != nil {
			return err
		}
		balance = e.BalanceAfter
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("error granting credits: %w", err)
	}
	return balance, nil
}

// Balance returns the workspace's available credits.
func (s *Service) Balance(ctx context.Context, workspaceID string) (int64, error) {
	w, err := s.Store.WorkspaceGet(ctx, workspaceID)
	if err != nil {
		return 0, err
	}
	return w.Balance, nil
}

// Get returns the workspace.
func (s *Service) Get(ctx context.Context, workspaceID string) (*store.Workspace, error) {
	return s.Store.WorkspaceGet(ctx, workspaceID)
}

// Ledger returns up to limit of the workspace's ledger entries after Seq
// afterSeq, oldest first, and whether more follow.
func (s *Service) Ledger(ctx context.Context, workspaceID string, afterSeq int64, limit int) ([]*store.LedgerEntry, bool, error) {
	entries, err := s.Store.LedgerPage(ctx, workspaceID, afterSeq, limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("error reading ledger: %w", err)
	}
	if len(entries) > limit {
		return entries[:limit], true, nil
	}
	return entries, false, nil
}
