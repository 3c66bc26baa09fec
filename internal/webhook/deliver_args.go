package webhook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/florad/florad/internal/ident"
	"github.com/florad/florad/internal/store"
)

// QueueWebhooks is the River queue deliveries go to, apart from runs, so
// that receivers that hang or are down never hold up a run.
const QueueWebhooks = "webhooks"

// WorkersDefault is how many deliveries one process attempts at once. An
// attempt waits at most TimeoutDefault, so this many hanging receivers
// delay other deliveries by at most that long.
const WorkersDefault = 50

// DeliverArgs is the River job that delivers one webhook. It carries only
// the delivery id: the url, the body and the state are in the delivery row.
type DeliverArgs struct {
	DeliveryID string `json:"delivery_id"`
}

// Kind implements river.JobArgs.
func (DeliverArgs) Kind() string { return "webhook_deliver" }

// InsertOpts implements river.JobArgsWithInsertOpts: the webhooks queue, and
// one attempt more than the retry schedule has delays.
func (DeliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueWebhooks, MaxAttempts: MaxAttemptsDefault}
}

// JobInserter is the part of River's client that enqueues deliveries.
type JobInserter interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// EnqueueTx creates, inside tx, the delivery of the event that ends r and
// the River job that sends it; r must have ended and have a callback URL.
// The body is built and stored now, so every attempt sends the same bytes.
// A second call for the same run returns ErrAlreadyExists from the store.
func EnqueueTx(ctx context.Context, tx store.Tx, jobs JobInserter, r *store.Run, at int64) (*store.WebhookDelivery, error) {
	if r.CallbackURL == "" {
		return nil, fmt.Errorf("error enqueueing webhook: run %s has no callback URL", r.ID)
	}
	if jobs == nil {
		return nil, errors.New("error enqueueing webhook: no job inserter")
	}
	id := ident.New("whd_", time.UnixMilli(at))
	ev, err := NewEvent(id, r, at)
	if err != nil {
		return nil, fmt.Errorf("error enqueueing webhook: %w", err)
	}
	body, err := ev.Marshal()
	if err != nil {
		return nil, err
	}
	res, err := jobs.InsertTx(ctx, tx.SQLTx(), DeliverArgs{DeliveryID: id}, nil)
	if err != nil {
		return nil, fmt.Errorf("error enqueueing webhook job: %w", err)
	}
	d, err := tx.WebhookDeliveryInsert(ctx, &store.WebhookDeliveryInsertParams{
		ID: id, WorkspaceID: r.WorkspaceID, RunID: r.ID, EventType: ev.Type, URL: r.CallbackURL, Body: body,
		JobID: res.Job.ID, CreatedAt: at,
	})
	if err != nil {
		return nil, fmt.Errorf("error enqueueing webhook of run %s: %w", r.ID, err)
	}
	return d, nil
}
