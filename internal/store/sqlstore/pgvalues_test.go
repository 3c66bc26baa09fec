package sqlstore_test

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store/pgtest"
	"github.com/florad/florad/internal/store/sqlstore"
)

// textArray is a Valuer in the manner of lib/pq's arrays, which River's
// job insert passes: its value is the array's text form.
type textArray []string

func (a textArray) Value() (driver.Value, error) {
	if a == nil {
		return nil, nil
	}
	out := "{"
	for i, s := range a {
		if i > 0 {
			out += ","
		}
		out += `"` + s + `"`
	}
	return out + "}", nil
}

type failingValuer struct{}

func (failingValuer) Value() (driver.Value, error) { return nil, errors.New("no value") }

// TestPostgresValuerArguments: Valuer arguments reach PostgreSQL as their
// values, whatever the column type, NULL included.
func TestPostgresValuerArguments(t *testing.T) {
	t.Parallel()
	s, err := sqlstore.OpenPostgres(t.Context(), sqlstore.PostgresConfig{URL: pgtest.NewDatabase(t)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	db := s.WriterDB()
	ctx := t.Context()

	var n int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT cardinality($1::text[])`, textArray{"a", "b,c", "d"}).Scan(&n))
	require.Equal(t, 3, n)
	var second string
	require.NoError(t, db.QueryRowContext(ctx, `SELECT ($1::text[])[2]`, textArray{"a", "b,c"}).Scan(&second))
	require.Equal(t, "b,c", second)

	var isNull bool
	require.NoError(t, db.QueryRowContext(ctx, `SELECT $1::text[] IS NULL`, textArray(nil)).Scan(&isNull))
	require.True(t, isNull)
	var none *sql.NullString
	require.NoError(t, db.QueryRowContext(ctx, `SELECT $1::text IS NULL`, none).Scan(&isNull))
	require.True(t, isNull, "a nil pointer to a Valuer is NULL")

	var got sql.NullInt64
	require.NoError(t, db.QueryRowContext(ctx, `SELECT $1::bigint + 1`, sql.NullInt64{Int64: 41, Valid: true}).Scan(&got))
	require.Equal(t, int64(42), got.Int64)
	require.NoError(t, db.QueryRowContext(ctx, `SELECT $1::bigint`, sql.NullInt64{}).Scan(&got))
	require.False(t, got.Valid)

	err = db.QueryRowContext(ctx, `SELECT $1::text`, failingValuer{}).Scan(&second)
	require.ErrorContains(t, err, "no value")
}
