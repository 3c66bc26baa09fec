package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/florad/florad/internal/store"
)

const stepCallColumns = `run_id, step_id, provider, state, request_id, handle, status, created_at, updated_at`

func (q *queries) StepCallBegin(ctx context.Context, p *store.StepCallBeginParams) error {
	if _, err := q.exec(ctx, `INSERT INTO provider_slots (provider, in_flight) VALUES (?, 0) ON CONFLICT (provider) DO NOTHING`,
		p.Provider); err != nil {
		return fmt.Errorf("error preparing provider slots: %w", err)
	}
	// The guarded increment is the cap: it takes the row's lock, so
	// concurrent transactions on PostgreSQL queue on it and see each
	// other's slots.
	query, args := `UPDATE provider_slots SET in_flight = in_flight + 1 WHERE provider = ?`, []any{p.Provider}
	if p.Limit > 0 {
		query, args = query+` AND in_flight < ?`, append(args, p.Limit)
	}
	res, err := q.exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("error taking a provider slot: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("error taking a provider slot: %w", err)
	} else if n == 0 {
		return store.ErrProviderBusy
	}
	if _, err := q.exec(ctx, `INSERT INTO run_step_calls (`+stepCallColumns+`) VALUES (?, ?, ?, ?, '', '', '', ?, ?)`,
		p.RunID, p.StepID, p.Provider, store.CallSubmitting, p.At, p.At); err != nil {
		return fmt.Errorf("error recording provider call of step %s: %w", p.StepID, err)
	}
	return nil
}

func (q *queries) StepCallSubmitted(ctx context.Context, runID, stepID, requestID, handle string, at int64) error {
	res, err := q.exec(ctx, `UPDATE run_step_calls SET state = ?, request_id = ?, handle = ?, updated_at = ? WHERE run_id = ? AND step_id = ?`,
		store.CallSubmitted, requestID, handle, at, runID, stepID)
	if err != nil {
		return fmt.Errorf("error recording provider submission: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("error recording provider submission: %w", err)
	} else if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

func (q *queries) StepCallSetStatus(ctx context.Context, runID, stepID, status string, at int64) (bool, error) {
	res, err := q.exec(ctx, `UPDATE run_step_calls SET status = ?, updated_at = ? WHERE run_id = ? AND step_id = ? AND status <> ?`,
		status, at, runID, stepID, status)
	if err != nil {
		return false, fmt.Errorf("error recording provider status: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("error recording provider status: %w", err)
	}
	if n == 1 {
		return true, nil
	}
	var one int
	if err := q.queryRow(ctx, `SELECT 1 FROM run_step_calls WHERE run_id = ? AND step_id = ?`, runID, stepID).Scan(&one); err != nil {
		return false, fmt.Errorf("error reading provider call: %w", q.scanErr(err))
	}
	return false, nil
}

func (q *queries) StepCallDelete(ctx context.Context, runID, stepID string) error {
	var provider string
	err := q.queryRow(ctx, `DELETE FROM run_step_calls WHERE run_id = ? AND step_id = ? RETURNING provider`, runID, stepID).Scan(&provider)
	if err = q.scanErr(err); errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("error removing provider call: %w", err)
	}
	if _, err := q.exec(ctx, `UPDATE provider_slots SET in_flight = in_flight - 1 WHERE provider = ?`, provider); err != nil {
		return fmt.Errorf("error freeing a provider slot: %w", err)
	}
	return nil
}

func (q *queries) StepCallList(ctx context.Context, runID string) ([]*store.StepCall, error) {
	rows, err := q.query(ctx, `SELECT `+stepCallColumns+` FROM run_step_calls WHERE run_id = ? ORDER BY step_id`, runID)
	if err != nil {
		return nil, fmt.Errorf("error listing provider calls: %w", err)
	}
	defer rows.Close()
	var out []*store.StepCall
	for rows.Next() {
		c, err := stepCallFromRow(rows)
		if err != nil {
			return nil, fmt.Errorf("error scanning provider call: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (q *queries) ProviderInFlight(ctx context.Context, provider string) (int, error) {
	var n int
	err := q.queryRow(ctx, `SELECT in_flight FROM provider_slots WHERE provider = ?`, provider).Scan(&n)
	if err = q.scanErr(err); errors.Is(err, store.ErrNotFound) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("error reading provider slots: %w", err)
	}
	return n, nil
}

func stepCallFromRow(sc interface{ Scan(...any) error }) (*store.StepCall, error) {
	c := &store.StepCall{}
	err := sc.Scan(&c.RunID, &c.StepID, &c.Provider, &c.State, &c.RequestID, &c.Handle, &c.Status, &c.CreatedAt, &c.UpdatedAt)
	return c, err
}

func (q *queries) StepCallByRequest(ctx context.Context, provider, requestID string) (*store.StepCall, error) {
	if requestID == "" {
		return nil, store.ErrNotFound
	}
	c, err := stepCallFromRow(q.queryRow(ctx, `SELECT `+stepCallColumns+` FROM run_step_calls
		WHERE provider = ? AND request_id = ? AND request_id <> ''`, provider, requestID))
	if err != nil {
		return nil, fmt.Errorf("error finding provider call: %w", q.scanErr(err))
	}
	return c, nil
}
