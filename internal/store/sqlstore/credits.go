package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/florad/florad/internal/store"
)

// CreditsApply moves the balance with a guarded UPDATE, so two concurrent
// debits can never both pass a stale check: the row's own value decides, and
// the CHECK constraint backs it up. The same UPDATE numbers the entry in the
// workspace's sequence (and on PostgreSQL holds the row until commit, so
// entries commit in number order).
func (q *queries) CreditsApply(ctx context.Context, p *store.CreditsApplyParams) (*store.LedgerEntry, error) {
	e := &store.LedgerEntry{
		WorkspaceID: p.WorkspaceID, RunID: p.RunID, Kind: p.Kind, Amount: p.Amount, Memo: p.Memo, CreatedAt: p.CreatedAt,
	}
	var runID sql.NullString
	if p.RunID != "" {
		runID = sql.NullString{String: p.RunID, Valid: true}
	}
	if q.d.name() == "postgres" {
		return q.creditsApplyOneStatement(ctx, p, e, runID)
	}
	err := q.queryRow(ctx,
		`UPDATE workspaces SET balance = balance + ?, ledger_seq = ledger_seq + 1
		 WHERE id = ? AND balance + ? >= 0 RETURNING balance, ledger_seq`,
		p.Amount, p.WorkspaceID, p.Amount).Scan(&e.BalanceAfter, &e.Seq)
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
	// A refused entry (a second settlement of a run) leaves the balance
	// moved on SQLite, which undoes only the failed statement; the Tx
	// contract has the caller give the transaction up, as PostgreSQL does
	// by itself.
	if _, err := q.exec(ctx,
		`INSERT INTO credit_ledger (workspace_id, seq, run_id, kind, amount, balance_after, memo, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		p.WorkspaceID, e.Seq, runID, p.Kind, p.Amount, e.BalanceAfter, p.Memo, p.CreatedAt); err != nil {
		return nil, fmt.Errorf("error writing ledger entry: %w", err)
	}
	return e, nil
}

// creditsApplyOneStatement is CreditsApply in one round trip, for
// PostgreSQL (round trips, not work, set the pace there): the guarded
// UPDATE and the entry in one statement. No row means the guard refused;
// a second settlement of a run fails on the ledger's unique index and,
// as ever on PostgreSQL, takes the transaction with it.
func (q *queries) creditsApplyOneStatement(ctx context.Context, p *store.CreditsApplyParams, e *store.LedgerEntry,
	runID sql.NullString) (*store.LedgerEntry, error) {
	err := q.queryRow(ctx,
		`WITH w AS (UPDATE workspaces SET balance = balance + ?::bigint, ledger_seq = ledger_seq + 1
		     WHERE id = ?::text AND balance + ?::bigint >= 0 RETURNING balance, ledger_seq)
		 INSERT INTO credit_ledger (workspace_id, seq, run_id, kind, amount, balance_after, memo, created_at)
		 SELECT ?::text, w.ledger_seq, ?::text, ?::text, ?::bigint, w.balance, ?::text, ?::bigint FROM w
		 RETURNING balance_after, seq`,
		p.Amount, p.WorkspaceID, p.Amount, p.WorkspaceID, runID, p.Kind, p.Amount, p.Memo, p.CreatedAt).
		Scan(&e.BalanceAfter, &e.Seq)
	if err == nil {
		return e, nil
	}
	if err = q.scanErr(err); err != store.ErrNotFound {
		return nil, fmt.Errorf("error applying credits: %w", err)
	}
	w, werr := q.WorkspaceGet(ctx, p.WorkspaceID)
	if werr != nil {
		return nil, fmt.Errorf("error applying credits: %w", werr)
	}
	return nil, &store.InsufficientCreditsError{Required: -p.Amount, Available: w.Balance}
}

func (q *queries) CreditsReserve(ctx context.Context, spend *store.KeySpendParams, entry *store.CreditsApplyParams) (*store.LedgerEntry, error) {
	if q.d.name() == "postgres" && spend != nil {
		return q.creditsReserveOneStatement(ctx, spend, entry)
	}
	if spend != nil {
		if _, err := q.KeySpendAdd(ctx, spend); err != nil {
			return nil, err
		}
	}
	return q.CreditsApply(ctx, entry)
}

// creditsReserveOneStatement takes the key's spend and the workspace's
// balance in one statement on PostgreSQL: every create of a key and of a
// workspace waits on these two rows, and each round trip between taking
// the first and committing is time all of them wait. The result row says
// which guard refused: no spend (the key's cap) or no entry (the balance).
func (q *queries) creditsReserveOneStatement(ctx context.Context, spend *store.KeySpendParams, p *store.CreditsApplyParams) (*store.LedgerEntry, error) {
	limit, err := spendLimit(spend)
	if err != nil {
		return nil, err
	}
	if spend.Credits > limit {
		// The upsert's guard covers only a row already there.
		return nil, q.keyCapError(ctx, spend, limit)
	}
	e := &store.LedgerEntry{
		WorkspaceID: p.WorkspaceID, RunID: p.RunID, Kind: p.Kind, Amount: p.Amount, Memo: p.Memo, CreatedAt: p.CreatedAt,
	}
	var spent, balance, seq sql.NullInt64
	err = q.queryRow(ctx,
		`WITH k AS (INSERT INTO key_spend (key_id, day, credits) VALUES (?::text, ?::bigint, ?::bigint)
		     ON CONFLICT (key_id, day) DO UPDATE SET credits = key_spend.credits + excluded.credits
		     WHERE key_spend.credits + excluded.credits <= ?::bigint RETURNING credits),
		 w AS (UPDATE workspaces SET balance = balance + ?::bigint, ledger_seq = ledger_seq + 1
		     WHERE id = ?::text AND balance + ?::bigint >= 0 AND EXISTS (SELECT 1 FROM k) RETURNING balance, ledger_seq),
		 i AS (INSERT INTO credit_ledger (workspace_id, seq, run_id, kind, amount, balance_after, memo, created_at)
		     SELECT ?::text, w.ledger_seq, ?::text, ?::text, ?::bigint, w.balance, ?::text, ?::bigint FROM w
		     RETURNING balance_after, seq)
		 SELECT (SELECT credits FROM k), (SELECT balance_after FROM i), (SELECT seq FROM i)`,
		spend.KeyID, spend.Day, spend.Credits, limit,
		p.Amount, p.WorkspaceID, p.Amount,
		p.WorkspaceID, nullString(p.RunID), p.Kind, p.Amount, p.Memo, p.CreatedAt).Scan(&spent, &balance, &seq)
	if err != nil {
		return nil, fmt.Errorf("error reserving credits: %w", q.scanErr(err))
	}
	switch {
	case !spent.Valid:
		return nil, q.keyCapError(ctx, spend, limit)
	case !seq.Valid:
		w, err := q.WorkspaceGet(ctx, p.WorkspaceID)
		if err != nil {
			return nil, fmt.Errorf("error reserving credits: %w", err)
		}
		return nil, &store.InsufficientCreditsError{Required: -p.Amount, Available: w.Balance}
	}
	e.BalanceAfter, e.Seq = balance.Int64, seq.Int64
	return e, nil
}

func (q *queries) LedgerList(ctx context.Context, workspaceID string) ([]*store.LedgerEntry, error) {
	return q.ledger(ctx, `workspace_id = ? ORDER BY seq`, workspaceID)
}

func (q *queries) LedgerPage(ctx context.Context, workspaceID string, afterSeq int64, limit int) ([]*store.LedgerEntry, error) {
	return q.ledger(ctx, `workspace_id = ? AND seq > ? ORDER BY seq LIMIT ?`, workspaceID, afterSeq, limit)
}

func (q *queries) ledger(ctx context.Context, where string, args ...any) ([]*store.LedgerEntry, error) {
	rows, err := q.query(ctx,
		`SELECT seq, workspace_id, run_id, kind, amount, balance_after, memo, created_at
		 FROM credit_ledger WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("error listing ledger: %w", err)
	}
	defer rows.Close()
	var out []*store.LedgerEntry
	for rows.Next() {
		e := &store.LedgerEntry{}
		var runID sql.NullString
		if err := rows.Scan(&e.Seq, &e.WorkspaceID, &runID, &e.Kind, &e.Amount, &e.BalanceAfter, &e.Memo, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("error scanning ledger entry: %w", err)
		}
		e.RunID = runID.String
		out = append(out, e)
	}
	return out, rows.Err()
}
