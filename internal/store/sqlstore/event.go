package sqlstore

import (
	"context"
	"fmt"

	"github.com/florad/florad/internal/store"
)

// RunEventInsert takes the run's next event number with an UPDATE of the
// run's row, which on PostgreSQL also locks it until commit: the events of a
// run commit in the order of their numbers, so a reader resuming after N can
// never miss a smaller number committed later. SQLite's single writer gives
// the same order. The same statement refuses an ended run unless the event
// is the final one.
func (q *queries) RunEventInsert(ctx context.Context, p *store.RunEventInsertParams) (*store.RunEvent, error) {
	final := 0
	if p.Final {
		final = 1
	}
	e := &store.RunEvent{RunID: p.RunID, Type: p.Type, Data: p.Data, CreatedAt: p.CreatedAt}
	err := q.queryRow(ctx, `UPDATE runs SET event_seq = event_seq + 1
		WHERE id = ? AND (`+openRun+` OR ? = 1) RETURNING event_seq`, p.RunID, final).Scan(&e.Seq)
	if err != nil {
		if err = q.scanErr(err); err != store.ErrNotFound {
			return nil, fmt.Errorf("error numbering %s event: %w", p.Type, err)
		}
		if _, gerr := q.RunStateGet(ctx, p.RunID); gerr != nil {
			return nil, fmt.Errorf("error recording %s event: %w", p.Type, gerr)
		}
		return nil, fmt.Errorf("error recording %s event of run %s: %w", p.Type, p.RunID, store.ErrRunFinished)
	}
	if _, err := q.exec(ctx, `INSERT INTO run_events (run_id, seq, type, data, created_at) VALUES (?, ?, ?, ?, ?)`,
		p.RunID, e.Seq, p.Type, string(p.Data), p.CreatedAt); err != nil {
		return nil, fmt.Errorf("error recording %s event: %w", p.Type, err)
	}
	return e, nil
}

func (q *queries) RunEventList(ctx context.Context, runID string, afterSeq int64, limit int) ([]*store.RunEvent, error) {
	rows, err := q.query(ctx,
		`SELECT run_id, seq, type, data, created_at FROM run_events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
		runID, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("error listing run events: %w", err)
	}
	defer rows.Close()
	var out []*store.RunEvent
	for rows.Next() {
		e := &store.RunEvent{}
		var data string
		if err := rows.Scan(&e.RunID, &e.Seq, &e.Type, &data, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("error scanning run event: %w", err)
		}
		e.Data = []byte(data)
		out = append(out, e)
	}
	return out, rows.Err()
}
