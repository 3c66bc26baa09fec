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
	if q.d.name() == "postgres" {
		return q.runEventInsertOneStatement(ctx, p, e, final)
	}
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

// RunEventsChannel is the PostgreSQL notification channel on which run
// events are announced after their commit (AnnounceRunEvents), with
// "<process> <run id> <run id> ..." as payload, so that each process's stream hub
// learns of other processes' events at once.
const RunEventsChannel = "florad_run_events"

// runEventInsertOneStatement is RunEventInsert in one round trip, for
// PostgreSQL: numbering and insert in one statement. No row means the run
// is missing or ended, as above. (No NOTIFY here: a notifying transaction
// holds a database-wide lock through its commit, which measured POST at
// 32 connections at a quarter of the bare transaction's rate.)
func (q *queries) runEventInsertOneStatement(ctx context.Context, p *store.RunEventInsertParams, e *store.RunEvent, final int) (*store.RunEvent, error) {
	err := q.queryRow(ctx, `WITH n AS (UPDATE runs SET event_seq = event_seq + 1
		     WHERE id = ?::text AND (`+openRun+` OR ?::int = 1) RETURNING id, event_seq),
		 i AS (INSERT INTO run_events (run_id, seq, type, data, created_at)
		     SELECT n.id, n.event_seq, ?::text, ?::text, ?::bigint FROM n RETURNING seq)
		 SELECT seq FROM i`,
		p.RunID, final, p.Type, string(p.Data), p.CreatedAt).Scan(&e.Seq)
	if err == nil {
		return e, nil
	}
	if err = q.scanErr(err); err != store.ErrNotFound {
		return nil, fmt.Errorf("error recording %s event: %w", p.Type, err)
	}
	if _, gerr := q.RunStateGet(ctx, p.RunID); gerr != nil {
		return nil, fmt.Errorf("error recording %s event: %w", p.Type, gerr)
	}
	return nil, fmt.Errorf("error recording %s event of run %s: %w", p.Type, p.RunID, store.ErrRunFinished)
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
