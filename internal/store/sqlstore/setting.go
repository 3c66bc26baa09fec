package sqlstore

import (
	"context"
	"fmt"
)

func (q *queries) SettingGet(ctx context.Context, name string) (string, error) {
	var v string
	if err := q.queryRow(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v); err != nil {
		return "", fmt.Errorf("error getting setting %s: %w", name, q.scanErr(err))
	}
	return v, nil
}

func (q *queries) SettingInsertIfAbsent(ctx context.Context, name, value string) (string, error) {
	if _, err := q.exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, value); err != nil {
		return "", fmt.Errorf("error storing setting %s: %w", name, err)
	}
	return q.SettingGet(ctx, name)
}
