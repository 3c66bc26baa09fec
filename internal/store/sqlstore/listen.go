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
		from, runID, ok := strings.Cut(n.Payload, " ")
		if !ok {
			continue
		}
		fn(from, runID)
	}
}

// AnnounceRunEvents implements store.RunEventListener on PostgreSQL: one
// statement in a transaction of its own that writes nothing, so its commit
// flushes nothing while it holds PostgreSQL's notification lock.
func (s *Store) AnnounceRunEvents(ctx context.Context, from, runID string) error {
	if s.pool == nil {
		return errors.ErrUnsupported
	}
	if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, RunEventsChannel, from+" "+runID); err != nil {
		return fmt.Errorf("error announcing run events: %w", err)
	}
	return nil
}
