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
	if q.d.name() == "postgres" {
		// One round trip (round trips, not work, set the pace there): a
		// payment without a key. A second settlement of a run fails on
		// the ledger's unique index and, as ever on PostgreSQL, takes the
		// transaction with it.
		return q.payOneStatement(ctx, &store.Payment{Entry: p})
	}
	e := &store.LedgerEntry{
		WorkspaceID: p.WorkspaceID, RunID: p.RunID, Kind: p.Kind, Amount: p.Amount, Memo: p.Memo, CreatedAt: p.CreatedAt,
	}
	runID := nullString(p.RunID)
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

// payOneStatement makes a payment in one statement on PostgreSQL.
func (q *queries) payOneStatement(ctx context.Context, pay *store.Payment) (*store.LedgerEntry, error) {
	pp, err := q.pgPaymentOf(ctx, pay, "")
	if err != nil {
		return nil, err
	}
	var out paymentOutcome
	if err := q.queryRow(ctx, `WITH `+pp.ctes+` SELECT `+paymentOutcomeColumns, pp.args...).Scan(out.dest()...); err != nil {
		return nil, fmt.Errorf("error applying credits: %w", q.scanErr(err))
	}
	return q.paymentResult(ctx, pay, pp.limit, &out)
}

func (q *queries) CreditsReserve(ctx context.Context, pay *store.Payment) (*store.LedgerEntry, error) {
	if q.d.name() == "postgres" {
		return q.payOneStatement(ctx, pay)
	}
	return q.creditsReserveInSteps(ctx, pay)
}

// creditsReserveInSteps is a payment as two statements, where one cannot
// do it (SQLite's single writer has no row locks to hold anyway).
func (q *queries) creditsReserveInSteps(ctx context.Context, pay *store.Payment) (*store.LedgerEntry, error) {
	if pay.Spend != nil {
		if _, err := q.KeySpendAdd(ctx, pay.Spend); err != nil {
			return nil, err
		}
	}
	return q.CreditsApply(ctx, pay.Entry)
}

// pgPayment is a payment as common table expressions of one PostgreSQL
// statement: k, the key's spend (when there is a key), w, the guarded
// balance, and i, the ledger entry. Every create of a key and of a
// workspace waits on these two rows, and each round trip between taking
// the first and committing is time all of them wait.
type pgPayment struct {
	ctes  string
	args  []any
	limit int64
}

// paymentOutcomeColumns report a pgPayment: no spend means the key's cap
// refused, no entry the balance.
const paymentOutcomeColumns = `(SELECT credits FROM k), (SELECT balance_after FROM i), (SELECT seq FROM i)`

type paymentOutcome struct{ spent, balance, seq sql.NullInt64 }

func (o *paymentOutcome) dest() []any { return []any{&o.spent, &o.balance, &o.seq} }

// pgPaymentOf builds pay's expressions; guard, when not empty, is one more
// condition of the balance update (another expression's row must exist).
func (q *queries) pgPaymentOf(ctx context.Context, pay *store.Payment, guard string) (*pgPayment, error) {
	e := pay.Entry
	pp := &pgPayment{limit: noCap}
	k := `k AS (SELECT 1 AS credits)`
	if sp := pay.Spend; sp != nil {
		limit, err := spendLimit(sp)
		if err != nil {
			return nil, err
		}
		if sp.Credits > limit {
			// The upsert's guard covers only a row already there.
			return nil, q.keyCapError(ctx, sp, limit)
		}
		pp.limit = limit
		k = `k AS (INSERT INTO key_spend (key_id, day, credits) VALUES (?::text, ?::bigint, ?::bigint)
		     ON CONFLICT (key_id, day) DO UPDATE SET credits = key_spend.credits + excluded.credits
		     WHERE key_spend.credits + excluded.credits <= ?::bigint RETURNING credits)`
		pp.args = append(pp.args, sp.KeyID, sp.Day, sp.Credits, limit)
	}
	if guard != "" {
		guard = " AND " + guard
	}
	pp.ctes = k + `,
		 w AS (UPDATE workspaces SET balance = balance + ?::bigint, ledger_seq = ledger_seq + 1
		     WHERE id = ?::text AND balance + ?::bigint >= 0 AND EXISTS (SELECT 1 FROM k)` + guard + `
		     RETURNING balance, ledger_seq),
		 i AS (INSERT INTO credit_ledger (workspace_id, seq, run_id, kind, amount, balance_after, memo, created_at)
		     SELECT ?::text, w.ledger_seq, ?::text, ?::text, ?::bigint, w.balance, ?::text, ?::bigint FROM w
		     RETURNING balance_after, seq)`
	pp.args = append(pp.args, e.Amount, e.WorkspaceID, e.Amount,
		e.WorkspaceID, nullString(e.RunID), e.Kind, e.Amount, e.Memo, e.CreatedAt)
	return pp, nil
}

// paymentResult turns a pgPayment's outcome into the entry or the refusal.
func (q *queries) paymentResult(ctx context.Context, pay *store.Payment, limit int64, o *paymentOutcome) (*store.LedgerEntry, error) {
	e := pay.Entry
	switch {
	case !o.spent.Valid:
		return nil, q.keyCapError(ctx, pay.Spend, limit)
	case !o.seq.Valid:
		w, err := q.WorkspaceGet(ctx, e.WorkspaceID)
		if err != nil {
			return nil, fmt.Errorf("error reserving credits: %w", err)
		}
		return nil, &store.InsufficientCreditsError{Required: -e.Amount, Available: w.Balance}
	}
	return &store.LedgerEntry{Seq: o.seq.Int64, WorkspaceID: e.WorkspaceID, RunID: e.RunID, Kind: e.Kind, Amount: e.Amount,
		BalanceAfter: o.balance.Int64, Memo: e.Memo, CreatedAt: e.CreatedAt}, nil
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
