package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/florad/florad/internal/store"
)

const assetColumns = `id, workspace_id, type, content_type, size_bytes, blob_key, source, idempotency_key,
	fingerprint, created_at`

// assetFromRow is the only place that knows the column layout of assets.
func assetFromRow(sc interface{ Scan(...any) error }) (*store.Asset, error) {
	a := &store.Asset{}
	var source, key sql.NullString
	if err := sc.Scan(&a.ID, &a.WorkspaceID, &a.Type, &a.ContentType, &a.SizeBytes, &a.BlobKey, &source, &key,
		&a.Fingerprint, &a.CreatedAt); err != nil {
		return nil, err
	}
	a.Source, a.IdempotencyKey = source.String, key.String
	return a, nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func (q *queries) assetGet(ctx context.Context, where string, args ...any) (*store.Asset, error) {
	a, err := assetFromRow(q.queryRow(ctx, `SELECT `+assetColumns+` FROM assets WHERE `+where, args...))
	if err != nil {
		return nil, fmt.Errorf("error getting asset: %w", q.scanErr(err))
	}
	return a, nil
}

func (q *queries) AssetGet(ctx context.Context, workspaceID, id string) (*store.Asset, error) {
	return q.assetGet(ctx, `id = ? AND workspace_id = ?`, id, workspaceID)
}

func (q *queries) AssetGetByIdempotencyKey(ctx context.Context, workspaceID, key string) (*store.Asset, error) {
	return q.assetGet(ctx, `workspace_id = ? AND idempotency_key = ?`, workspaceID, key)
}

// AssetList pages with a keyset on (created_at, id), served by the
// assets_workspace_created index.
func (q *queries) AssetList(ctx context.Context, p *store.AssetListParams) ([]*store.Asset, error) {
	where := `workspace_id = ?`
	args := []any{p.WorkspaceID}
	if p.AfterID != "" {
		where += ` AND (created_at < ? OR (created_at = ? AND id < ?))`
		args = append(args, p.AfterCreatedAt, p.AfterCreatedAt, p.AfterID)
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	return q.assets(ctx, `SELECT `+assetColumns+` FROM assets WHERE `+where+
		` ORDER BY created_at DESC, id DESC LIMIT ?`, append(args, limit)...)
}

func (q *queries) AssetListCreatedBefore(ctx context.Context, before int64, limit int) ([]*store.Asset, error) {
	return q.assets(ctx, `SELECT `+assetColumns+` FROM assets WHERE created_at < ? ORDER BY created_at, id LIMIT ?`,
		before, limit)
}

func (q *queries) assets(ctx context.Context, query string, args ...any) ([]*store.Asset, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("error listing assets: %w", err)
	}
	defer rows.Close()
	var out []*store.Asset
	for rows.Next() {
		a, err := assetFromRow(rows)
		if err != nil {
			return nil, fmt.Errorf("error scanning asset: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func (q *queries) WorkspaceStorageUsed(ctx context.Context, workspaceID string) (int64, error) {
	var n int64
	if err := q.queryRow(ctx, `SELECT storage_bytes FROM workspaces WHERE id = ?`, workspaceID).Scan(&n); err != nil {
		return 0, fmt.Errorf("error reading storage used: %w", q.scanErr(err))
	}
	return n, nil
}

// AssetInsert counts the bytes with a guarded UPDATE first, so concurrent
// uploads can never both pass a stale check, then writes the row; a refused
// quota has written nothing.
func (q *queries) AssetInsert(ctx context.Context, p *store.AssetInsertParams) (*store.Asset, error) {
	var used int64
	err := q.queryRow(ctx,
		`UPDATE workspaces SET storage_bytes = storage_bytes + ?
		 WHERE id = ? AND (? <= 0 OR storage_bytes + ? <= ?) RETURNING storage_bytes`,
		p.SizeBytes, p.WorkspaceID, p.QuotaBytes, p.SizeBytes, p.QuotaBytes).Scan(&used)
	if err != nil {
		err = q.scanErr(err)
		if errors.Is(err, store.ErrNotFound) {
			before, uerr := q.WorkspaceStorageUsed(ctx, p.WorkspaceID)
			if uerr != nil {
				return nil, fmt.Errorf("error inserting asset: %w", uerr)
			}
			return nil, &store.StorageQuotaError{Used: before, Limit: p.QuotaBytes, Size: p.SizeBytes}
		}
		return nil, fmt.Errorf("error counting asset bytes: %w", err)
	}
	a, err := assetFromRow(q.queryRow(ctx,
		`INSERT INTO assets (`+assetColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+assetColumns,
		p.ID, p.WorkspaceID, p.Type, p.ContentType, p.SizeBytes, p.BlobKey, nullString(p.Source),
		nullString(p.IdempotencyKey), p.Fingerprint, p.CreatedAt))
	if err != nil {
		return nil, fmt.Errorf("error inserting asset: %w", q.scanErr(err))
	}
	return a, nil
}

func (q *queries) AssetDelete(ctx context.Context, id string) error {
	var ws string
	var size int64
	if err := q.queryRow(ctx, `DELETE FROM assets WHERE id = ? RETURNING workspace_id, size_bytes`, id).Scan(&ws, &size); err != nil {
		return fmt.Errorf("error deleting asset %s: %w", id, q.scanErr(err))
	}
	if _, err := q.exec(ctx, `UPDATE workspaces SET storage_bytes = storage_bytes - ? WHERE id = ?`, size, ws); err != nil {
		return fmt.Errorf("error uncounting asset bytes: %w", err)
	}
	return nil
}

func (q *queries) RunListPurgeable(ctx context.Context, before int64, limit int) ([]*store.RunPurge, error) {
	rows, err := q.query(ctx, `SELECT id, completed_at, outputs FROM runs
		WHERE outputs_purged_at IS NULL AND completed_at IS NOT NULL AND completed_at < ?
		ORDER BY completed_at, id LIMIT ?`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("error listing purgeable runs: %w", err)
	}
	var out []*store.RunPurge
	func() {
		defer rows.Close()
		for rows.Next() {
			p := &store.RunPurge{}
			var outputs string
			if err = rows.Scan(&p.RunID, &p.CompletedAt, &outputs); err != nil {
				return
			}
			var os []store.RunOutput
			if err = json.Unmarshal([]byte(outputs), &os); err != nil {
				return
			}
			p.BlobKeys = appendBlobKeys(p.BlobKeys, os)
			out = append(out, p)
		}
		err = rows.Err()
	}()
	if err != nil {
		return nil, fmt.Errorf("error listing purgeable runs: %w", err)
	}
	// Steps can hold files the outputs do not name (intermediate results,
	// a failed run's finished steps).
	for _, p := range out {
		steps, err := q.RunStepList(ctx, p.RunID)
		if err != nil {
			return nil, err
		}
		for _, s := range steps {
			p.BlobKeys = appendBlobKeys(p.BlobKeys, s.Outputs)
		}
	}
	return out, nil
}

// appendBlobKeys adds the outputs' blob keys not already in keys.
func appendBlobKeys(keys []string, outs []store.RunOutput) []string {
	for _, o := range outs {
		if o.BlobKey == "" {
			continue
		}
		seen := false
		for _, k := range keys {
			seen = seen || k == o.BlobKey
		}
		if !seen {
			keys = append(keys, o.BlobKey)
		}
	}
	return keys
}

func (q *queries) RunPurgeOutputs(ctx context.Context, runID string, at int64) error {
	res, err := q.exec(ctx, `UPDATE runs SET outputs = '[]', outputs_purged_at = ?
		WHERE id = ? AND outputs_purged_at IS NULL AND completed_at IS NOT NULL`, at, runID)
	if err != nil {
		return fmt.Errorf("error purging run outputs: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("error purging run outputs: %w", err)
	} else if n == 0 {
		return fmt.Errorf("error purging outputs of run %s: %w", runID, store.ErrNotFound)
	}
	if _, err := q.exec(ctx, `DELETE FROM run_steps WHERE run_id = ?`, runID); err != nil {
		return fmt.Errorf("error deleting run steps: %w", err)
	}
	return nil
}
