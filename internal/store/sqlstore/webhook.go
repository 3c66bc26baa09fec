package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/florad/florad/internal/store"
)

const webhookDeliveryColumns = `id, workspace_id, run_id, event_type, url, body, state, attempt_count, job_id,
	next_attempt_at, created_at, completed_at`

// webhookDeliveryFromRow maps one row into our record; the only place that
// knows the column layout of webhook_deliveries.
func webhookDeliveryFromRow(sc interface{ Scan(...any) error }) (*store.WebhookDelivery, error) {
	d := &store.WebhookDelivery{}
	var next, completed sql.NullInt64
	err := sc.Scan(&d.ID, &d.WorkspaceID, &d.RunID, &d.EventType, &d.URL, &d.Body, &d.State, &d.AttemptCount,
		&d.JobID, &next, &d.CreatedAt, &completed)
	if err != nil {
		return nil, err
	}
	if next.Valid {
		d.NextAttemptAt = &next.Int64
	}
	if completed.Valid {
		d.CompletedAt = &completed.Int64
	}
	return d, nil
}

func nullInt64(p *int64) sql.NullInt64 {
	if p == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: *p, Valid: true}
}

func (q *queries) webhookDeliveryGet(ctx context.Context, where string, args ...any) (*store.WebhookDelivery, error) {
	d, err := webhookDeliveryFromRow(q.queryRow(ctx,
		`SELECT `+webhookDeliveryColumns+` FROM webhook_deliveries WHERE `+where, args...))
	if err != nil {
		return nil, fmt.Errorf("error getting webhook delivery: %w", q.scanErr(err))
	}
	return d, nil
}

func (q *queries) WebhookDeliveryGet(ctx context.Context, workspaceID, id string) (*store.WebhookDelivery, error) {
	return q.webhookDeliveryGet(ctx, `id = ? AND workspace_id = ?`, id, workspaceID)
}

func (q *queries) WebhookDeliveryGetByID(ctx context.Context, id string) (*store.WebhookDelivery, error) {
	return q.webhookDeliveryGet(ctx, `id = ?`, id)
}

func (q *queries) WebhookDeliveryList(ctx context.Context, p *store.WebhookDeliveryListParams) ([]*store.WebhookDelivery, error) {
	where := []string{`workspace_id = ?`}
	args := []any{p.WorkspaceID}
	if p.RunID != "" {
		where = append(where, `run_id = ?`)
		args = append(args, p.RunID)
	}
	if p.State != "" {
		where = append(where, `state = ?`)
		args = append(args, p.State)
	}
	if p.AfterID != "" {
		where = append(where, `(created_at < ? OR (created_at = ? AND id < ?))`)
		args = append(args, p.AfterCreatedAt, p.AfterCreatedAt, p.AfterID)
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit)
	return q.webhookDeliveries(ctx, `SELECT `+webhookDeliveryColumns+` FROM webhook_deliveries WHERE `+
		strings.Join(where, ` AND `)+` ORDER BY created_at DESC, id DESC LIMIT ?`, args...)
}

func (q *queries) WebhookDeliveryListOverdue(ctx context.Context, before int64, limit int) ([]*store.WebhookDelivery, error) {
	return q.webhookDeliveries(ctx, `SELECT `+webhookDeliveryColumns+` FROM webhook_deliveries
		WHERE state = 'pending' AND next_attempt_at < ? ORDER BY next_attempt_at LIMIT ?`, before, limit)
}

func (q *queries) webhookDeliveries(ctx context.Context, query string, args ...any) ([]*store.WebhookDelivery, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("error listing webhook deliveries: %w", err)
	}
	defer rows.Close()
	var out []*store.WebhookDelivery
	for rows.Next() {
		d, err := webhookDeliveryFromRow(rows)
		if err != nil {
			return nil, fmt.Errorf("error scanning webhook delivery: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (q *queries) WebhookDeliveryInsert(ctx context.Context, p *store.WebhookDeliveryInsertParams) (*store.WebhookDelivery, error) {
	body := p.Body
	if body == nil {
		body = []byte{}
	}
	d, err := webhookDeliveryFromRow(q.queryRow(ctx,
		`INSERT INTO webhook_deliveries (id, workspace_id, run_id, event_type, url, body, state, job_id,
			next_attempt_at, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)
		 RETURNING `+webhookDeliveryColumns,
		p.ID, p.WorkspaceID, p.RunID, p.EventType, p.URL, body, p.JobID, p.CreatedAt, p.CreatedAt))
	if err != nil {
		return nil, fmt.Errorf("error inserting webhook delivery: %w", q.scanErr(err))
	}
	return d, nil
}

func (q *queries) WebhookDeliveryUpdate(ctx context.Context, p *store.WebhookDeliveryUpdateParams) (*store.WebhookDelivery, error) {
	switch p.State {
	case store.WebhookPending, store.WebhookSucceeded, store.WebhookFailed:
	default:
		return nil, fmt.Errorf("error updating webhook delivery: invalid state %q", p.State)
	}
	d, err := webhookDeliveryFromRow(q.queryRow(ctx,
		`UPDATE webhook_deliveries SET state = ?, job_id = ?, next_attempt_at = ?, completed_at = ?
		 WHERE id = ? RETURNING `+webhookDeliveryColumns,
		p.State, p.JobID, nullInt64(p.NextAttemptAt), nullInt64(p.CompletedAt), p.ID))
	if err != nil {
		return nil, fmt.Errorf("error updating webhook delivery: %w", q.scanErr(err))
	}
	return d, nil
}

func (q *queries) WebhookAttemptInsert(ctx context.Context, p *store.WebhookAttemptInsertParams) (*store.WebhookAttempt, error) {
	res, err := q.exec(ctx, `UPDATE webhook_deliveries SET attempt_count = attempt_count + 1 WHERE id = ?`, p.DeliveryID)
	if err != nil {
		return nil, fmt.Errorf("error counting webhook attempt: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("error counting webhook attempt: %w", err)
	} else if n == 0 {
		return nil, fmt.Errorf("error recording webhook attempt: %w", store.ErrNotFound)
	}
	a := &store.WebhookAttempt{DeliveryID: p.DeliveryID, AttemptedAt: p.AttemptedAt, StatusCode: p.StatusCode,
		LatencyMS: p.LatencyMS, Error: p.Error}
	err = q.queryRow(ctx,
		`INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, latency_ms, error)
		 VALUES (?, ?, ?, ?, ?) RETURNING id`,
		p.DeliveryID, p.AttemptedAt, p.StatusCode, p.LatencyMS, p.Error).Scan(&a.ID)
	if err != nil {
		return nil, fmt.Errorf("error recording webhook attempt: %w", q.scanErr(err))
	}
	return a, nil
}

func (q *queries) WebhookAttemptList(ctx context.Context, deliveryIDs []string) ([]*store.WebhookAttempt, error) {
	if len(deliveryIDs) == 0 {
		return nil, nil
	}
	args := make([]any, len(deliveryIDs))
	for i, id := range deliveryIDs {
		args[i] = id
	}
	// One placeholder per id; pages are bounded (100), so the rebind cache
	// holds at most that many shapes of this query.
	placeholders := strings.TrimSuffix(strings.Repeat("?, ", len(deliveryIDs)), ", ")
	rows, err := q.query(ctx,
		`SELECT id, delivery_id, attempted_at, status_code, latency_ms, error FROM webhook_attempts
		 WHERE delivery_id IN (`+placeholders+`) ORDER BY delivery_id, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("error listing webhook attempts: %w", err)
	}
	defer rows.Close()
	var out []*store.WebhookAttempt
	for rows.Next() {
		a := &store.WebhookAttempt{}
		if err := rows.Scan(&a.ID, &a.DeliveryID, &a.AttemptedAt, &a.StatusCode, &a.LatencyMS, &a.Error); err != nil {
			return nil, fmt.Errorf("error scanning webhook attempt: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

const webhookSecretsColumns = `id, webhook_secret, webhook_secret_previous, webhook_secret_previous_expires_at`

func webhookSecretsFromRow(sc interface{ Scan(...any) error }) (*store.WebhookSecrets, error) {
	s := &store.WebhookSecrets{}
	if err := sc.Scan(&s.WorkspaceID, &s.Current, &s.Previous, &s.PreviousExpiresAt); err != nil {
		return nil, err
	}
	return s, nil
}

func (q *queries) WorkspaceWebhookSecrets(ctx context.Context, workspaceID string) (*store.WebhookSecrets, error) {
	s, err := webhookSecretsFromRow(q.queryRow(ctx,
		`SELECT `+webhookSecretsColumns+` FROM workspaces WHERE id = ?`, workspaceID))
	if err != nil {
		return nil, fmt.Errorf("error getting webhook secrets: %w", q.scanErr(err))
	}
	return s, nil
}

func (q *queries) WorkspaceWebhookSecretRotate(ctx context.Context, p *store.WebhookSecretRotateParams) (*store.WebhookSecrets, error) {
	if p.Secret == "" {
		return nil, errors.New("error replacing workspace secret: the new secret is empty")
	}
	// SET expressions read the row as it was, so the old current secret
	// becomes the previous one in the same statement.
	s, err := webhookSecretsFromRow(q.queryRow(ctx,
		`UPDATE workspaces SET webhook_secret_previous = webhook_secret, webhook_secret = ?,
			webhook_secret_previous_expires_at = ?
		 WHERE id = ? RETURNING `+webhookSecretsColumns,
		p.Secret, p.PreviousExpiresAt, p.WorkspaceID))
	if err != nil {
		return nil, fmt.Errorf("error replacing workspace secret: %w", q.scanErr(err))
	}
	return s, nil
}
