package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/florad/florad/internal/store"
)

var _ store.RunEventListener = (*Store)(nil)

// ListenRunEvents implements store.RunEventListener on PostgreSQL, on a
// connection of its own outside the pool (a LISTEN holds its connection
// for as long as it listens). On SQLite it returns errors.ErrUnsupported.
func (s *Store) ListenRunEvents(ctx context.Context, ready func(), fn func(runID string, seq int64)) error {
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
		runID, seqText, ok := strings.Cut(n.Payload, " ")
		seq, perr := strconv.ParseInt(seqText, 10, 64)
		if !ok || perr != nil {
			continue
		}
		fn(runID, seq)
	}
}
