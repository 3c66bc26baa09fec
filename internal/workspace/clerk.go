package workspace

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/florad/florad/internal/auth"
	"github.com/florad/florad/internal/ident"
	"github.com/florad/florad/internal/store"
)

// LinkClerkSubject makes Clerk keys of subject (org_... or user_...) speak
// for the workspace. A subject speaks for one workspace; linking it again
// is refused.
func (s *Service) LinkClerkSubject(ctx context.Context, workspaceID, subject string) error {
	if err := checkSubject(subject); err != nil {
		return err
	}
	err := s.Store.InTx(ctx, func(tx store.Tx) error {
		if _, err := tx.WorkspaceGet(ctx, workspaceID); err != nil {
			return fmt.Errorf("workspace %s: %w", workspaceID, err)
		}
		err := tx.ClerkSubjectInsert(ctx, &store.ClerkSubject{Subject: subject, WorkspaceID: workspaceID,
			CreatedAt: s.now().UnixMilli()})
		if errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("clerk subject %s is already linked to a workspace: %w", subject, err)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("error linking Clerk subject: %w", err)
	}
	return nil
}

func checkSubject(subject string) error {
	if subject == "" || len(subject) > 200 || strings.ContainsAny(subject, " \t\r\n") {
		return fmt.Errorf("clerk subject %q: not a Clerk user or organization id", subject)
	}
	return nil
}

// ClerkResolver maps Clerk subjects to workspaces: the linked one, or, when
// auto is set, one made on the subject's first request with startCredits
// (named after the subject, and linked in the same transaction). Two first
// requests at once make one workspace: the second link fails on the
// subject's key and reads the first.
func (s *Service) ClerkResolver(auto bool, startCredits int64) auth.SubjectResolver {
	return func(ctx context.Context, subject string) (string, error) {
		if err := checkSubject(subject); err != nil {
			return "", fmt.Errorf("%w: %w", auth.ErrNoWorkspace, err)
		}
		link, err := s.Store.ClerkSubjectGet(ctx, subject)
		if err == nil {
			return link.WorkspaceID, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
		if !auto {
			return "", auth.ErrNoWorkspace
		}
		now := s.now()
		var wsID string
		err = s.Store.InTx(ctx, func(tx store.Tx) error {
			w, err := tx.WorkspaceInsert(ctx, &store.WorkspaceInsertParams{ID: ident.New("ws_", now),
				Name: "clerk " + subject, WebhookSecret: auth.NewWebhookSecret(), CreatedAt: now.UnixMilli()})
			if err != nil {
				return err
			}
			if startCredits > 0 {
				if _, err := tx.CreditsApply(ctx, &store.CreditsApplyParams{WorkspaceID: w.ID, Kind: store.LedgerGrant,
					Amount: startCredits, Memo: "starting balance of a Clerk workspace", CreatedAt: now.UnixMilli()}); err != nil {
					return err
				}
			}
			wsID = w.ID
			return tx.ClerkSubjectInsert(ctx, &store.ClerkSubject{Subject: subject, WorkspaceID: w.ID, CreatedAt: now.UnixMilli()})
		})
		if errors.Is(err, store.ErrAlreadyExists) {
			link, err := s.Store.ClerkSubjectGet(ctx, subject)
			if err != nil {
				return "", err
			}
			return link.WorkspaceID, nil
		}
		if err != nil {
			return "", fmt.Errorf("error making the workspace of Clerk subject %s: %w", subject, err)
		}
		return wsID, nil
	}
}
