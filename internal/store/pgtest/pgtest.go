// Package pgtest gives each test its own PostgreSQL database, created from
// FLORA_TEST_DATABASE_URL and dropped when the test ends. Tests that need
// PostgreSQL skip, saying why, when the variable is unset.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// EnvVar names the variable holding the admin connection URL.
const EnvVar = "FLORA_TEST_DATABASE_URL"

// NewDatabase creates an empty database and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvVar)
	if base == "" {
		t.Skipf("PostgreSQL tests skipped: set %s (for example postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)", EnvVar)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", EnvVar, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "florad_test_" + hex.EncodeToString(b)

	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("error opening %s: %v", EnvVar, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		admin.Close()
		t.Fatalf("error creating test database: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Logf("error dropping test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
