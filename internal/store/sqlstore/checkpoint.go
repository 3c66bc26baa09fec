package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// checkpointInterval is how often the WAL is copied back into the database
// file. A passive checkpoint never waits for the writer or readers; it does
// what it can and the next one does the rest.
const checkpointInterval = 500 * time.Millisecond

// startCheckpointer runs WAL checkpoints on a connection of their own, off
// the commit path, until the store closes.
func (s *Store) startCheckpointer(dsn string) error {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return fmt.Errorf("error opening SQLite checkpointer: %w", err)
	}
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(checkpointInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// Errors (a busy database) are retried on the next tick.
			_, _ = db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}()
	// Stop it before the pools close, and checkpoint once more so the file
	// holds everything when florad exits.
	s.closers = append([]func() error{func() error {
		cancel()
		wg.Wait()
		_, _ = db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		return db.Close()
	}}, s.closers...)
	return nil
}
