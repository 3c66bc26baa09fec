package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/florad/florad/internal/store"
)

var _ store.RunEventListener = (*Store)(nil)

// ListenRunEvents implements store.RunEventListener on PostgreSQL, on a
// connection of its own outside the pool (a LISTEN holds its connection
// for as long as it listens). On SQLite it returns errors.ErrUnsupported.
func (s *Store) ListenRunEvents(ctx context.Context, ready func(), fn func(from, runID string)) error {
	if s.pool == nil {
		return errors.ErrUnsupported
	}
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("error connecting to listen for run events: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+RunEventsChannel); err != nil {
		return fmt.Errorf("error listening for run events: %w", err)
	}
	ready()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("error waiting for run events: %w", err)
		}
		fields := strings.Fields(n.Payload)
		for _, runID := range fields[min(1, len(fields)):] {
			fn(fields[0], runID)
		}
	}
}

// AnnounceRunEvents implements store.RunEventListener on PostgreSQL: one
// statement in a transaction of its own that writes nothing, so its commit
// flushes nothing while it holds PostgreSQL's notification lock. The
// payload is the sender and the run ids, separated by spaces.
func (s *Store) AnnounceRunEvents(ctx context.Context, from string, runIDs []string) error {
	if s.pool == nil {
		return errors.ErrUnsupported
	}
	if len(runIDs) == 0 {
		return nil
	}
	payload := from + " " + strings.Join(runIDs, " ")
	if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, RunEventsChannel, payload); err != nil {
		return fmt.Errorf("error announcing run events: %w", err)
	}
	return nil
}
