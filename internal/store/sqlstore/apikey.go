package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/florad/florad/internal/store"
)

const apiKeyColumns = `id, workspace_id, hash, prefix, created_at, revoked_at`

func scanAPIKey(sc interface{ Scan(...any) error }) (*store.APIKey, error) {
	k, dest, finish := apiKeyFromRow()
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	finish()
	return k, nil
}

// apiKeyFromRow returns a key, the Scan destinations of apiKeyColumns for
// it, and what to call once they are filled.
func apiKeyFromRow() (k *store.APIKey, dest []any, finish func()) {
	k = &store.APIKey{}
	var revoked sql.NullInt64
	return k, []any{&k.ID, &k.WorkspaceID, &k.Hash, &k.Prefix, &k.CreatedAt, &revoked}, func() {
		if revoked.Valid {
			k.RevokedAt = &revoked.Int64
		}
	}
}

func (q *queries) APIKeyGetByHash(ctx context.Context, hash []byte) (*store.APIKey, error) {
	k, err := scanAPIKey(q.queryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, hash))
	if err != nil {
		return nil, fmt.Errorf("error getting API key: %w", q.scanErr(err))
	}
	return k, nil
}

func (q *queries) APIKeyInsert(ctx context.Context, p *store.APIKeyInsertParams) (*store.APIKey, error) {
	k, err := scanAPIKey(q.queryRow(ctx,
		`INSERT INTO api_keys (id, workspace_id, hash, prefix, created_at) VALUES (?, ?, ?, ?, ?)
		 RETURNING `+apiKeyColumns, p.ID, p.WorkspaceID, p.Hash, p.Prefix, p.CreatedAt))
	if err != nil {
		return nil, fmt.Errorf("error inserting API key: %w", q.scanErr(err))
	}
	return k, nil
}

func (q *queries) APIKeyRevoke(ctx context.Context, id string, at int64) error {
	res, err := q.exec(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, at, id)
	if err != nil {
		return fmt.Errorf("error revoking API key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("error revoking API key: %w", err)
	} else if n == 0 {
		return fmt.Errorf("error revoking API key: %w", store.ErrNotFound)
	}
	return nil
}
