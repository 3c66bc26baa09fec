package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/florad/florad/internal/store"
)

// runViewColumns are the columns of runs but inputs, for the API's reads,
// which never show them: a poll should not read and decode up to a
// megabyte of text on every call.
const runViewColumns = `id, workspace_id, technique_id, technique_slug, technique_version, status, progress,
	mode, callback_url, idempotency_key, fingerprint, credits, charged_credits, outputs,
	error_code, error_message, created_at, started_at, completed_at, job_id, lease_until, event_seq, key_id`

// runColumns are all of them, inputs last.
const runColumns = runViewColumns + `, inputs`

// runFromRow maps one row of runColumns, or of runViewColumns when
// withInputs is false, into our record; the only place that knows the
// column layout of runs.
func runFromRow(sc interface{ Scan(...any) error }, withInputs bool) (*store.Run, error) {
	r := &store.Run{}
	var (
		inputs, outputs      string
		idemKey              sql.NullString
		charged              sql.NullInt64
		startedAt, completed sql.NullInt64
		jobID, leaseUntil    sql.NullInt64
		keyID                sql.NullString
	)
	dest := []any{&r.ID, &r.WorkspaceID, &r.TechniqueID, &r.TechniqueSlug, &r.TechniqueVersion, &r.Status,
		&r.Progress, &r.Mode, &r.CallbackURL, &idemKey, &r.Fingerprint, &r.Credits, &charged,
		&outputs, &r.ErrorCode, &r.ErrorMessage, &r.CreatedAt, &startedAt, &completed, &jobID, &leaseUntil, &r.EventSeq, &keyID, &inputs}
	if !withInputs {
		dest = dest[:len(dest)-1]
	}
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	if withInputs {
		if err := json.Unmarshal([]byte(inputs), &r.Inputs); err != nil {
			return nil, fmt.Errorf("error decoding run inputs: %w", err)
		}
	}
	if err := json.Unmarshal([]byte(outputs), &r.Outputs); err != nil {
		return nil, fmt.Errorf("error decoding run outputs: %w", err)
	}
	r.IdempotencyKey = idemKey.String
	if charged.Valid {
		r.ChargedCredits = &charged.Int64
	}
	if startedAt.Valid {
		r.StartedAt = &startedAt.Int64
	}
	if completed.Valid {
		r.CompletedAt = &completed.Int64
	}
	r.JobID = jobID.Int64
	r.KeyID = keyID.String
	if leaseUntil.Valid {
		r.LeaseUntil = &leaseUntil.Int64
	}
	return r, nil
}

func (q *queries) runGet(ctx context.Context, withInputs bool, where string, args ...any) (*store.Run, error) {
	cols := runViewColumns
	if withInputs {
		cols = runColumns
	}
	r, err := runFromRow(q.queryRow(ctx, `SELECT `+cols+` FROM runs WHERE `+where, args...), withInputs)
	if err != nil {
		return nil, fmt.Errorf("error getting run: %w", q.scanErr(err))
	}
	return r, nil
}

// prefixScanner scans a row whose first columns belong to another record.
type prefixScanner struct {
	row    interface{ Scan(...any) error }
	prefix []any
}

func (p prefixScanner) Scan(dest ...any) error { return p.row.Scan(append(p.prefix, dest...)...) }

// runWithKeyQuery reads a key by hash and a run of its workspace together:
// the poll's authentication and read in one statement.
var runWithKeyQuery = `SELECT ` + qualify(apiKeyColumns, "k") + `, ` + qualify(runViewColumns, "r") + `
	FROM api_keys k JOIN runs r ON r.workspace_id = k.workspace_id WHERE k.hash = ? AND r.id = ?`

// qualify prefixes each of a comma-separated column list with alias.
func qualify(columns, alias string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

func (q *queries) RunGetWithKey(ctx context.Context, keyHash []byte, runID string) (*store.APIKey, *store.Run, error) {
	k, keyDest, finish := apiKeyFromRow()
	r, err := runFromRow(prefixScanner{row: q.queryRow(ctx, runWithKeyQuery, keyHash, runID), prefix: keyDest}, false)
	if err != nil {
		return nil, nil, fmt.Errorf("error getting API key and run: %w", q.scanErr(err))
	}
	finish()
	return k, r, nil
}

func (q *queries) RunGet(ctx context.Context, workspaceID, runID string) (*store.Run, error) {
	return q.runGet(ctx, false, `id = ? AND workspace_id = ?`, runID, workspaceID)
}

func (q *queries) RunGetByID(ctx context.Context, runID string) (*store.Run, error) {
	return q.runGet(ctx, true, `id = ?`, runID)
}

func (q *queries) RunGetByIdempotencyKey(ctx context.Context, workspaceID, key string) (*store.Run, error) {
	return q.runGet(ctx, false, `workspace_id = ? AND idempotency_key = ?`, workspaceID, key)
}

// RunList pages runs newest first with a keyset on (created_at, id), which
// the runs_workspace_created index serves directly.
func (q *queries) RunList(ctx context.Context, p *store.RunListParams) ([]*store.Run, error) {
	where := `workspace_id = ?`
	args := []any{p.WorkspaceID}
	if p.TechniqueID != "" {
		where += ` AND technique_id = ?`
		args = append(args, p.TechniqueID)
	}
	if p.Status != "" {
		where += ` AND status = ?`
		args = append(args, p.Status)
	}
	if p.CreatedAfter != nil {
		where += ` AND created_at > ?`
		args = append(args, *p.CreatedAfter)
	}
	if p.CreatedBefore != nil {
		where += ` AND created_at < ?`
		args = append(args, *p.CreatedBefore)
	}
	if p.AfterID != "" {
		where += ` AND (created_at < ? OR (created_at = ? AND id < ?))`
		args = append(args, p.AfterCreatedAt, p.AfterCreatedAt, p.AfterID)
	}
	args = append(args, p.Limit)
	rows, err := q.query(ctx, `SELECT `+runViewColumns+` FROM runs WHERE `+where+` ORDER BY created_at DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("error listing runs: %w", err)
	}
	defer rows.Close()
	var out []*store.Run
	for rows.Next() {
		r, err := runFromRow(rows, false)
		if err != nil {
			return nil, fmt.Errorf("error scanning run: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (q *queries) RunInsert(ctx context.Context, p *store.RunInsertParams) (*store.Run, error) {
	inputs, err := json.Marshal(p.Inputs)
	if err != nil {
		return nil, fmt.Errorf("error encoding run inputs: %w", err)
	}
	var idemKey sql.NullString
	if p.IdempotencyKey != "" {
		idemKey = sql.NullString{String: p.IdempotencyKey, Valid: true}
	}
	args := []any{p.ID, p.WorkspaceID, p.TechniqueID, p.TechniqueSlug, p.TechniqueVersion, string(inputs), p.Mode,
		p.CallbackURL, idemKey, p.Fingerprint, p.Credits, p.CreatedAt, p.JobID, p.LeaseUntil, nullString(p.KeyID)}
	const insert = `INSERT INTO runs (id, workspace_id, technique_id, technique_slug, technique_version, status, progress,
			inputs, mode, callback_url, idempotency_key, fingerprint, credits, created_at, job_id, lease_until, key_id,
			event_seq)
		 VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	eventSeq := 0 // the newest event's number
	if p.FirstEvent != nil {
		eventSeq = 1
	}
	args = append(args, eventSeq)
	if q.d.name() == "postgres" && (p.FirstEvent != nil || p.Payment != nil) {
		r, err := q.runInsertOneStatement(ctx, p, insert, args)
		if err != nil {
			return nil, err
		}
		r.Inputs = p.Inputs
		return r, nil
	}
	r, err := runFromRow(q.queryRow(ctx, insert+` RETURNING `+runViewColumns, args...), false)
	if err != nil {
		return nil, fmt.Errorf("error inserting run: %w", q.scanErr(err))
	}
	if ev := p.FirstEvent; ev != nil {
		if _, err := q.exec(ctx, `INSERT INTO run_events (run_id, seq, type, data, created_at) VALUES (?, 1, ?, ?, ?)`,
			p.ID, ev.Type, string(ev.Data), ev.CreatedAt); err != nil {
			return nil, fmt.Errorf("error recording %s event: %w", ev.Type, err)
		}
	}
	if p.Payment != nil {
		if _, err := q.creditsReserveInSteps(ctx, p.Payment); err != nil {
			return nil, err
		}
	}
	r.Inputs = p.Inputs // as stored; no need to read them back
	return r, nil
}

// runInsertOneStatement is a create's writes of ours in one round trip on
// PostgreSQL, where a create's statements are most of its time: the run,
// its first event and its payment, the payment's hot rows last.
func (q *queries) runInsertOneStatement(ctx context.Context, p *store.RunInsertParams, insert string, args []any) (*store.Run, error) {
	query := `WITH r AS (` + insert + ` RETURNING ` + runViewColumns + `)`
	if ev := p.FirstEvent; ev != nil {
		query += `,
		 e AS (INSERT INTO run_events (run_id, seq, type, data, created_at)
		     SELECT id, 1, ?::text, ?::text, ?::bigint FROM r)`
		args = append(args, ev.Type, string(ev.Data), ev.CreatedAt)
	}
	if p.Payment == nil {
		r, err := runFromRow(q.queryRow(ctx, query+` SELECT `+runViewColumns+` FROM r`, args...), false)
		if err != nil {
			return nil, fmt.Errorf("error inserting run: %w", q.scanErr(err))
		}
		return r, nil
	}
	pp, err := q.pgPaymentOf(ctx, p.Payment, `EXISTS (SELECT 1 FROM r)`)
	if err != nil {
		return nil, err
	}
	var out paymentOutcome
	row := q.queryRow(ctx, query+`, `+pp.ctes+` SELECT `+runViewColumns+`, `+paymentOutcomeColumns+` FROM r`,
		append(args, pp.args...)...)
	r, err := runFromRow(rowWithExtra{row, out.dest()}, false)
	if err != nil {
		return nil, fmt.Errorf("error inserting run: %w", q.scanErr(err))
	}
	if _, err := q.paymentResult(ctx, p.Payment, pp.limit, &out); err != nil {
		return nil, err
	}
	return r, nil
}

// rowWithExtra scans a row of more columns than runFromRow knows, the rest
// into extra.
type rowWithExtra struct {
	row   *sql.Row
	extra []any
}

func (r rowWithExtra) Scan(dest ...any) error { return r.row.Scan(append(dest, r.extra...)...) }

// runUpdate applies a guarded UPDATE and tells a missing run apart from one
// whose status refused the change. It returns whether the row changed. args
// are those of set, then of guard.
func (q *queries) runUpdate(ctx context.Context, runID, set, guard string, args ...any) (*store.Run, bool, error) {
	r, err := runFromRow(q.queryRow(ctx,
		`UPDATE runs SET `+set+` WHERE `+guard+` AND id = ? RETURNING `+runColumns, append(args, runID)...), true)
	if err == nil {
		return r, true, nil
	}
	if err = q.scanErr(err); !errors.Is(err, store.ErrNotFound) {
		return nil, false, fmt.Errorf("error updating run: %w", err)
	}
	cur, gerr := q.RunGetByID(ctx, runID)
	if gerr != nil {
		return nil, false, gerr
	}
	if cur.Finished() {
		return cur, false, fmt.Errorf("error updating run %s: %w", runID, store.ErrRunFinished)
	}
	return cur, false, nil
}

// openRun is the guard of every change to a run that has not ended.
const openRun = `status IN ('pending', 'running')`

func (q *queries) RunStart(ctx context.Context, p *store.RunStartParams) (*store.Run, bool, error) {
	r, err := runFromRow(q.queryRow(ctx,
		`UPDATE runs SET status = 'running', started_at = ?, lease_until = ?
		 WHERE id = ? AND status = 'pending' AND job_id = ? RETURNING `+runColumns,
		p.At, p.LeaseUntil, p.RunID, p.JobID), true)
	if err == nil {
		return r, true, nil
	}
	if err = q.scanErr(err); !errors.Is(err, store.ErrNotFound) {
		return nil, false, fmt.Errorf("error starting run: %w", err)
	}
	// Not pending, or not ours: a retried job resumes its running run.
	if err := q.RunRenewLease(ctx, &store.RunLeaseParams{RunID: p.RunID, JobID: p.JobID, LeaseUntil: p.LeaseUntil}); err != nil {
		return nil, false, err
	}
	r, err = q.RunGetByID(ctx, p.RunID)
	return r, false, err
}

func (q *queries) RunSetProgress(ctx context.Context, runID string, progress int) (bool, error) {
	res, err := q.exec(ctx,
		`UPDATE runs SET progress = ? WHERE id = ? AND progress < ? AND `+openRun, progress, runID, progress)
	if err != nil {
		return false, fmt.Errorf("error setting run progress: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func (q *queries) RunFinish(ctx context.Context, p *store.RunFinishParams) (*store.Run, error) {
	if p.Status != store.RunCompleted && p.Status != store.RunFailed {
		return nil, fmt.Errorf("error finishing run: invalid final status %q", p.Status)
	}
	outputs, err := json.Marshal(nonNil(p.Outputs))
	if err != nil {
		return nil, fmt.Errorf("error encoding run outputs: %w", err)
	}
	var charged sql.NullInt64
	if p.ChargedCredits != nil {
		charged = sql.NullInt64{Int64: *p.ChargedCredits, Valid: true}
	}
	// A completed run reaches 100; a failed one keeps the progress it had.
	r, changed, err := q.runUpdate(ctx, p.RunID,
		`status = ?, outputs = ?, charged_credits = ?, error_code = ?, error_message = ?, completed_at = ?,
		 started_at = COALESCE(started_at, ?), lease_until = NULL,
		 progress = CASE WHEN ? = 'completed' THEN 100 ELSE progress END`,
		openRun+` AND (? = 0 OR job_id = ?)`,
		p.Status, string(outputs), charged, p.ErrorCode, p.ErrorMessage, p.At, p.At, p.Status, p.JobID, p.JobID)
	if err == nil && !changed {
		return nil, fmt.Errorf("error finishing run %s: %w", p.RunID, store.ErrNotOwner)
	}
	return r, err
}

// ownedUpdate applies an UPDATE to an open run owned by jobID and says why
// nothing changed when nothing did.
func (q *queries) ownedUpdate(ctx context.Context, runID string, jobID int64, set string, args ...any) error {
	res, err := q.exec(ctx, `UPDATE runs SET `+set+` WHERE id = ? AND job_id = ? AND `+openRun,
		append(args, runID, jobID)...)
	if err != nil {
		return fmt.Errorf("error updating run %s: %w", runID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	st, err := q.RunStateGet(ctx, runID)
	if err != nil {
		return err
	}
	if st.Finished() {
		return fmt.Errorf("error updating run %s: %w", runID, store.ErrRunFinished)
	}
	return fmt.Errorf("error updating run %s: %w", runID, store.ErrNotOwner)
}

func (q *queries) RunRenewLease(ctx context.Context, p *store.RunLeaseParams) error {
	return q.ownedUpdate(ctx, p.RunID, p.JobID, `lease_until = ?`, p.LeaseUntil)
}

func (q *queries) RunSetOwner(ctx context.Context, p *store.RunOwnerParams) error {
	return q.ownedUpdate(ctx, p.RunID, p.FromJobID, `job_id = ?, lease_until = ?`, p.ToJobID, p.LeaseUntil)
}

const runStateColumns = `id, status, job_id, lease_until, event_seq`

func runStateFromRow(sc interface{ Scan(...any) error }) (*store.RunState, error) {
	st := &store.RunState{}
	var jobID, lease sql.NullInt64
	if err := sc.Scan(&st.RunID, &st.Status, &jobID, &lease, &st.EventSeq); err != nil {
		return nil, err
	}
	st.JobID = jobID.Int64
	if lease.Valid {
		st.LeaseUntil = &lease.Int64
	}
	return st, nil
}

func (q *queries) RunStateGet(ctx context.Context, runID string) (*store.RunState, error) {
	st, err := runStateFromRow(q.queryRow(ctx, `SELECT `+runStateColumns+` FROM runs WHERE id = ?`, runID))
	if err != nil {
		return nil, fmt.Errorf("error getting run state: %w", q.scanErr(err))
	}
	return st, nil
}

// RunStateList reads the runs in chunks: both databases bound the number of
// parameters of one statement.
func (q *queries) RunStateList(ctx context.Context, runIDs []string) ([]*store.RunState, error) {
	const chunk = 500
	out := make([]*store.RunState, 0, len(runIDs))
	for len(runIDs) > 0 {
		n := min(len(runIDs), chunk)
		args := make([]any, n)
		for i, id := range runIDs[:n] {
			args[i] = id
		}
		rows, err := q.query(ctx, `SELECT `+runStateColumns+` FROM runs WHERE id IN (`+placeholders(n)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("error listing run states: %w", err)
		}
		for rows.Next() {
			st, err := runStateFromRow(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("error scanning run state: %w", err)
			}
			out = append(out, st)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		runIDs = runIDs[n:]
	}
	return out, nil
}

// placeholders is "?, ?, ..." n times.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func (q *queries) RunListLeaseExpired(ctx context.Context, before int64, limit int) ([]*store.Run, error) {
	rows, err := q.query(ctx, `SELECT `+runViewColumns+` FROM runs
		WHERE `+openRun+` AND lease_until < ? ORDER BY lease_until LIMIT ?`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("error listing runs past their lease: %w", err)
	}
	defer rows.Close()
	var out []*store.Run
	for rows.Next() {
		r, err := runFromRow(rows, false)
		if err != nil {
			return nil, fmt.Errorf("error scanning run: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (q *queries) RunCountOpen(ctx context.Context) (pending, running int64, err error) {
	// openRun is the predicate of the partial index runs_open_lease, so
	// the count reads that index, not the whole table.
	err = q.queryRow(ctx, `SELECT
		COALESCE(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END), 0)
		FROM runs WHERE `+openRun).Scan(&pending, &running)
	if err != nil {
		return 0, 0, fmt.Errorf("error counting open runs: %w", err)
	}
	return pending, running, nil
}

func (q *queries) RunStepInsert(ctx context.Context, p *store.RunStep) error {
	outputs, err := json.Marshal(nonNil(p.Outputs))
	if err != nil {
		return fmt.Errorf("error encoding step outputs: %w", err)
	}
	if _, err := q.exec(ctx, `INSERT INTO run_steps (run_id, step_id, outputs, finished_at) VALUES (?, ?, ?, ?)`,
		p.RunID, p.StepID, string(outputs), p.FinishedAt); err != nil {
		return fmt.Errorf("error recording step %s: %w", p.StepID, err)
	}
	return nil
}

func (q *queries) RunStepList(ctx context.Context, runID string) ([]*store.RunStep, error) {
	rows, err := q.query(ctx, `SELECT run_id, step_id, outputs, finished_at FROM run_steps WHERE run_id = ? ORDER BY finished_at, step_id`, runID)
	if err != nil {
		return nil, fmt.Errorf("error listing run steps: %w", err)
	}
	defer rows.Close()
	var out []*store.RunStep
	for rows.Next() {
		s := &store.RunStep{}
		var outputs string
		if err := rows.Scan(&s.RunID, &s.StepID, &outputs, &s.FinishedAt); err != nil {
			return nil, fmt.Errorf("error scanning run step: %w", err)
		}
		if err := json.Unmarshal([]byte(outputs), &s.Outputs); err != nil {
			return nil, fmt.Errorf("error decoding step outputs: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
