package webhook_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/riverqueue/river/riverdriver/riversqlite"
	"go.uber.org/goleak"

	"github.com/florad/florad/internal/store/sqlstore"
)

// templateDir holds a database with our and River's migrations applied,
// made once and copied for each test: River's migrations cost seconds under
// the race detector, our tests milliseconds.
var (
	templateDir  string
	templateOnce sync.Once
	templateErr  error
)

// TestMain fails the package if a test leaves a goroutine behind: an
// attempt still in flight after River stopped would be one.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "florad-webhook-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	templateDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// migratedDB returns the path of a fresh, fully migrated SQLite database in
// dir.
func migratedDB(t *testing.T, dir string) string {
	t.Helper()
	template := filepath.Join(templateDir, "template.db")
	templateOnce.Do(func() {
		ctx := context.Background()
		s, err := sqlstore.OpenSQLite(ctx, sqlstore.SQLiteConfig{Path: template})
		if err != nil {
			templateErr = err
			return
		}
		templateErr = sqlstore.MigrateRiver(ctx, riversqlite.New(s.WriterDB()))
		// Closing the last connection checkpoints the WAL into the file.
		if err := s.Close(); templateErr == nil {
			templateErr = err
		}
	})
	if templateErr != nil {
		t.Fatalf("error preparing the template database: %v", templateErr)
	}
	data, err := os.ReadFile(template)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "florad.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
