package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/florad/florad/internal/store"
)

// CreditsApply moves the balance with a guarded UPDATE, so two concurrent
// debits can never both pass a stale check: the row's own value decides, and
// the CHECK constraint backs it up.
func (q *queries) CreditsApply(ctx context.Context, p *store.CreditsApplyParams) (*store.LedgerEntry, error) {
	var balance int64
	err := q.queryRow(ctx,
		`UPDATE workspaces SET balance = balance + ? WHERE id = ? AND balance + ? >= 0 RETURNING balance`,
		p.Amount, p.WorkspaceID, p.Amount).Scan(&balance)
	if err != nil {
		err = q.scanErr(err)
		if err == store.ErrNotFound {
			w, werr := q.WorkspaceGet(ctx, p.WorkspaceID)
			if werr != nil {
				return nil, fmt.Errorf("error applying credits: %w", werr)
			}
			return nil, &store.InsufficientCreditsError{Required: -p.Amount, Available: w.Balance}
		}
		return nil, fmt.Errorf("error applying credits: %w", err)
	}
	var runID sql.NullString
	if p.RunID != "" {
		runID = sql.NullString{String: p.RunID, Valid: true}
	}
	e := &store.LedgerEntry{
		WorkspaceID: p.WorkspaceID, RunID: p.RunID, Kind: p.Kind, Amount: p.Amount,
		BalanceAfter: balance, Memo: p.Memo, CreatedAt: p.CreatedAt,
	}
	err = q.queryRow(ctx,
		`INSERT INTO credit_ledger (workspace_id, run_id, kind, amount, balance_after, memo, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		p.WorkspaceID, runID, p.Kind, p.Amount, balance, p.Memo, p.CreatedAt).Scan(&e.ID)
	if err != nil {
		// SQLite undoes only the failed statement: put the balance back so a
		// caller that carries on (say, after ErrAlreadyExists) never commits
		// a balance change the ledger does not explain. On PostgreSQL the
		// failed statement already doomed the whole transaction.
		if q.d.name() == "sqlite" {
			if _, uerr := q.exec(ctx, `UPDATE workspaces SET balance = balance - ? WHERE id = ?`, p.Amount, p.WorkspaceID); uerr != nil {
				return nil, fmt.Errorf("error undoing balance change: %w (after %w)", uerr, err)
			}
		}
		return nil, fmt.Errorf("error writing ledger entry: %w", q.scanErr(err))
	}
	return e, nil
}

func (q *queries) LedgerList(ctx context.Context, workspaceID string) ([]*store.LedgerEntry, error) {
	return q.ledger(ctx, `workspace_id = ? ORDER BY id`, workspaceID)
}

func (q *queries) LedgerPage(ctx context.Context, workspaceID string, afterID int64, limit int) ([]*store.LedgerEntry, error) {
	return q.ledger(ctx, `workspace_id = ? AND id > ? ORDER BY id LIMIT ?`, workspaceID, afterID, limit)
}

func (q *queries) ledger(ctx context.Context, where string, args ...any) ([]*store.LedgerEntry, error) {
	rows, err := q.query(ctx,
		`SELECT id, workspace_id, run_id, kind, amount, balance_after, memo, created_at
		 FROM credit_ledger WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("error listing ledger: %w", err)
	}
	defer rows.Close()
	var out []*store.LedgerEntry
	for rows.Next() {
		e := &store.LedgerEntry{}
		var runID sql.NullString
		if err := rows.Scan(&e.ID, &e.WorkspaceID, &runID, &e.Kind, &e.Amount, &e.BalanceAfter, &e.Memo, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("error scanning ledger entry: %w", err)
		}
		e.RunID = runID.String
		out = append(out, e)
	}
	return out, rows.Err()
}
