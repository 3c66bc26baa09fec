package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migrations
var migrationFS embed.FS

type migrationSet struct {
	dir   string
	goose goose.Dialect
}

var migrationsSQLite = migrationSet{dir: "migrations/sqlite", goose: goose.DialectSQLite3}

func migrate(ctx context.Context, s *Store, set migrationSet) error {
	sub, err := fs.Sub(migrationFS, set.dir)
	if err != nil {
		return fmt.Errorf("error reading embedded migrations: %w", err)
	}
	p, err := goose.NewProvider(set.goose, s.writer, sub)
	if err != nil {
		return fmt.Errorf("error preparing migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("error applying migrations: %w", err)
	}
	return nil
}

// MigrateRiver applies River's own migrations with the given driver.
func MigrateRiver[TTx any](ctx context.Context, driver riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return fmt.Errorf("error preparing River migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("error applying River migrations: %w", err)
	}
	return nil
}
