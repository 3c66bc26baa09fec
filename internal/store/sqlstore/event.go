package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/florad/florad/internal/store"
)

// RunEventInsert writes one event. On PostgreSQL it first locks the run's
// row, so that event ids of one run are allocated in commit order and a
// reader resuming after id N can never miss a smaller id committed later.
// (SQLite has a single writer, which gives the same order.) A run that
// ended gets no more events (ErrRunFinished): its final event stays last,
// and a step that finished after a cancel announces nothing.
func (q *queries) RunEventInsert(ctx context.Context, runID, typ string, data any, at int64) error {
	lock := ""
	if q.d.name() == "postgres" {
		lock = ` FOR UPDATE`
	}
	var status string
	if err := q.queryRow(ctx, `SELECT status FROM runs WHERE id = ?`+lock, runID).Scan(&status); err != nil {
		return fmt.Errorf("error locking run for event: %w", q.scanErr(err))
	}
	if status == store.RunCompleted || status == store.RunFailed {
		return fmt.Errorf("error recording %s event of run %s: %w", typ, runID, store.ErrRunFinished)
	}
	return q.insertEvent(ctx, runID, typ, data, at)
}

// insertEvent writes an event; the caller already holds the run's row lock
// (it just inserted or updated the row in this transaction).
func (q *queries) insertEvent(ctx context.Context, runID, typ string, data any, at int64) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("error encoding %s event: %w", typ, err)
	}
	if _, err := q.exec(ctx, `INSERT INTO run_events (run_id, type, data, created_at) VALUES (?, ?, ?, ?)`,
		runID, typ, string(b), at); err != nil {
		return fmt.Errorf("error recording %s event: %w", typ, err)
	}
	return nil
}

func (q *queries) RunEventList(ctx context.Context, runID string, afterID int64, limit int) ([]*store.RunEvent, error) {
	rows, err := q.query(ctx,
		`SELECT id, run_id, type, data, created_at FROM run_events WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?`,
		runID, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("error listing run events: %w", err)
	}
	defer rows.Close()
	var out []*store.RunEvent
	for rows.Next() {
		e := &store.RunEvent{}
		var data string
		if err := rows.Scan(&e.ID, &e.RunID, &e.Type, &data, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("error scanning run event: %w", err)
		}
		e.Data = []byte(data)
		out = append(out, e)
	}
	return out, rows.Err()
}

// runDelta is the data of the events the store writes itself: the fields
// that changed.
type runDelta struct {
	RunID          string `json:"run_id"`
	Status         string `json:"status"`
	Progress       int    `json:"progress"`
	StartedAt      *int64 `json:"started_at,omitempty"`
	CompletedAt    *int64 `json:"completed_at,omitempty"`
	ChargedCredits *int64 `json:"charged_credits,omitempty"`
	ErrorCode      string `json:"error_code,omitempty"`
	ErrorMessage   string `json:"error_message,omitempty"`
}

func deltaOf(r *store.Run) runDelta {
	return runDelta{RunID: r.ID, Status: r.Status, Progress: r.Progress, StartedAt: r.StartedAt,
		CompletedAt: r.CompletedAt, ChargedCredits: r.ChargedCredits, ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage}
}
