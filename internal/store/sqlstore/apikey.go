package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/florad/florad/internal/store"
)

const apiKeyColumns = `id, workspace_id, hash, prefix, created_at, revoked_at, scopes, max_credits_per_day`

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
	var (
		revoked, maxPerDay sql.NullInt64
		scopes             string
	)
	return k, []any{&k.ID, &k.WorkspaceID, &k.Hash, &k.Prefix, &k.CreatedAt, &revoked, &scopes, &maxPerDay}, func() {
		if revoked.Valid {
			k.RevokedAt = &revoked.Int64
		}
		if maxPerDay.Valid {
			k.MaxCreditsPerDay = &maxPerDay.Int64
		}
		k.Scopes = strings.Fields(scopes)
	}
}

// joinScopes is the column's spelling of a scope list: space-separated,
// as OAuth writes scopes.
func joinScopes(scopes []string) (string, error) {
	if len(scopes) == 0 {
		return "", errors.New("a key needs at least one scope")
	}
	for _, s := range scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			return "", fmt.Errorf("scope %q: not a scope name", s)
		}
	}
	return strings.Join(scopes, " "), nil
}

func nullInt(p *int64) sql.NullInt64 {
	if p == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: *p, Valid: true}
}

func (q *queries) APIKeyGetByHash(ctx context.Context, hash []byte) (*store.APIKey, error) {
	k, err := scanAPIKey(q.queryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, hash))
	if err != nil {
		return nil, fmt.Errorf("error getting API key: %w", q.scanErr(err))
	}
	return k, nil
}

func (q *queries) APIKeyGet(ctx context.Context, id string) (*store.APIKey, error) {
	k, err := scanAPIKey(q.queryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("error getting API key: %w", q.scanErr(err))
	}
	return k, nil
}

func (q *queries) APIKeyInsert(ctx context.Context, p *store.APIKeyInsertParams) (*store.APIKey, error) {
	scopes, err := joinScopes(p.Scopes)
	if err != nil {
		return nil, fmt.Errorf("error inserting API key: %w", err)
	}
	k, err := scanAPIKey(q.queryRow(ctx,
		`INSERT INTO api_keys (id, workspace_id, hash, prefix, created_at, scopes, max_credits_per_day)
		 VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING `+apiKeyColumns,
		p.ID, p.WorkspaceID, p.Hash, p.Prefix, p.CreatedAt, scopes, nullInt(p.MaxCreditsPerDay)))
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

func (q *queries) APIKeyUpdate(ctx context.Context, p *store.APIKeyUpdateParams) (*store.APIKey, error) {
	k, err := q.APIKeyGet(ctx, p.ID)
	if err != nil {
		return nil, fmt.Errorf("error updating API key: %w", err)
	}
	scopes := k.Scopes
	if p.Scopes != nil {
		scopes = p.Scopes
	}
	joined, err := joinScopes(scopes)
	if err != nil {
		return nil, fmt.Errorf("error updating API key: %w", err)
	}
	maxPerDay := k.MaxCreditsPerDay
	if p.ClearCap {
		maxPerDay = nil
	} else if p.MaxCreditsPerDay != nil {
		maxPerDay = p.MaxCreditsPerDay
	}
	k, err = scanAPIKey(q.queryRow(ctx,
		`UPDATE api_keys SET scopes = ?, max_credits_per_day = ? WHERE id = ? RETURNING `+apiKeyColumns,
		joined, nullInt(maxPerDay), p.ID))
	if err != nil {
		return nil, fmt.Errorf("error updating API key: %w", q.scanErr(err))
	}
	return k, nil
}

func (q *queries) KeySpendGet(ctx context.Context, keyID string, day int64) (int64, error) {
	var n int64
	err := q.queryRow(ctx, `SELECT credits FROM key_spend WHERE key_id = ? AND day = ?`, keyID, day).Scan(&n)
	if err = q.scanErr(err); err != nil && err != store.ErrNotFound {
		return 0, fmt.Errorf("error reading key spend: %w", err)
	}
	return n, nil
}

// noCap stands for "no cap" in the guarded upsert, so that the statement
// is the same with and without one.
const noCap = int64(1) << 62

// KeySpendAdd is one upsert whose update only happens while the sum stays
// within the cap: the row's own value decides, under its lock on
// PostgreSQL and under the single writer on SQLite, so two creates that
// each fit but not together can never both pass.
func (q *queries) KeySpendAdd(ctx context.Context, p *store.KeySpendParams) (int64, error) {
	limit, err := spendLimit(p)
	if err != nil {
		return 0, err
	}
	if p.Credits > limit {
		return 0, q.keyCapError(ctx, p, limit)
	}
	var total int64
	err = q.queryRow(ctx,
		`INSERT INTO key_spend (key_id, day, credits) VALUES (?, ?, ?)
		 ON CONFLICT (key_id, day) DO UPDATE SET credits = key_spend.credits + excluded.credits
		 WHERE key_spend.credits + excluded.credits <= ?
		 RETURNING credits`, p.KeyID, p.Day, p.Credits, limit).Scan(&total)
	if err = q.scanErr(err); err == store.ErrNotFound {
		return 0, q.keyCapError(ctx, p, limit)
	} else if err != nil {
		return 0, fmt.Errorf("error adding key spend: %w", err)
	}
	return total, nil
}

// spendLimit is the cap the guarded upsert compares with.
func spendLimit(p *store.KeySpendParams) (int64, error) {
	if p.Credits < 0 {
		return 0, fmt.Errorf("error adding key spend: negative credits %d", p.Credits)
	}
	if p.Cap == nil {
		return noCap, nil
	}
	return *p.Cap, nil
}

// keyCapError is the refusal of p, with what the key may still spend.
func (q *queries) keyCapError(ctx context.Context, p *store.KeySpendParams, limit int64) error {
	spent, err := q.KeySpendGet(ctx, p.KeyID, p.Day)
	if err != nil {
		return err
	}
	return &store.KeyCapError{Required: p.Credits, Available: max(0, limit-spent), Cap: limit}
}

func (q *queries) KeySpendRefund(ctx context.Context, keyID string, day, credits int64) error {
	if credits < 0 {
		return fmt.Errorf("error refunding key spend: negative credits %d", credits)
	}
	_, err := q.exec(ctx, `UPDATE key_spend SET credits = CASE WHEN credits > ? THEN credits - ? ELSE 0 END
		 WHERE key_id = ? AND day = ?`, credits, credits, keyID, day)
	if err != nil {
		return fmt.Errorf("error refunding key spend: %w", q.scanErr(err))
	}
	return nil
}

func (q *queries) ClerkSubjectGet(ctx context.Context, subject string) (*store.ClerkSubject, error) {
	c := &store.ClerkSubject{}
	err := q.queryRow(ctx, `SELECT subject, workspace_id, created_at FROM clerk_subjects WHERE subject = ?`, subject).
		Scan(&c.Subject, &c.WorkspaceID, &c.CreatedAt)
	if err != nil {
		return nil, fmt.Errorf("error getting Clerk subject: %w", q.scanErr(err))
	}
	return c, nil
}

func (q *queries) ClerkSubjectInsert(ctx context.Context, p *store.ClerkSubject) error {
	if _, err := q.exec(ctx, `INSERT INTO clerk_subjects (subject, workspace_id, created_at) VALUES (?, ?, ?)`,
		p.Subject, p.WorkspaceID, p.CreatedAt); err != nil {
		return fmt.Errorf("error linking Clerk subject: %w", err)
	}
	return nil
}
