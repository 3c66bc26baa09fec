package webhook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/florad/florad/internal/auth"
	"github.com/florad/florad/internal/store"
)

// Jobs is the part of River's client the service uses.
type Jobs interface {
	JobInserter
	JobRetryTx(ctx context.Context, tx *sql.Tx, id int64) (*rivertype.JobRow, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
}

// Service is what a workspace (through the API) and an operator (through
// the CLI) do with webhooks.
type Service struct {
	Store store.Store
	// Jobs enqueues redeliveries; not needed for RotateSecret.
	Jobs Jobs
	Now  func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Delivery is a delivery with its attempts, oldest first.
type Delivery struct {
	*store.WebhookDelivery
	Attempts []*store.WebhookAttempt
}

// List returns a page of the workspace's deliveries, newest first, each
// with its attempts.
func (s *Service) List(ctx context.Context, p *store.WebhookDeliveryListParams) ([]*Delivery, error) {
	ds, err := s.Store.WebhookDeliveryList(ctx, p)
	if err != nil {
		return nil, err
	}
	return s.withAttempts(ctx, s.Store, ds...)
}

func (s *Service) withAttempts(ctx context.Context, r store.Reader, ds ...*store.WebhookDelivery) ([]*Delivery, error) {
	ids := make([]string, len(ds))
	out := make([]*Delivery, len(ds))
	byID := make(map[string]*Delivery, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
		out[i] = &Delivery{WebhookDelivery: d, Attempts: []*store.WebhookAttempt{}}
		byID[d.ID] = out[i]
	}
	attempts, err := r.WebhookAttemptList(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, a := range attempts {
		if d := byID[a.DeliveryID]; d != nil {
			d.Attempts = append(d.Attempts, a)
		}
	}
	return out, nil
}

// Redeliver sends a delivery of the workspace again, with the same id and
// the same bytes (signed anew at each attempt), and returns it. A delivery
// that ended, succeeded or failed, becomes pending on a new job with a
// fresh retry schedule. A pending one waiting for its next retry is tried
// now instead, keeping its schedule. ErrNotFound if the delivery does not
// exist or belongs to another workspace.
func (s *Service) Redeliver(ctx context.Context, workspaceID, id string) (*Delivery, error) {
	var out *Delivery
	err := s.Store.InTx(ctx, func(tx store.Tx) error {
		d, err := tx.WebhookDeliveryGet(ctx, workspaceID, id)
		if err != nil {
			return err
		}
		now := s.now().UnixMilli()
		jobID := int64(0)
		if d.State == store.WebhookPending && d.JobID != 0 {
			// River leaves a running job alone. Its attempt may be over
			// already (the job is about to be scheduled for a distant
			// retry), so a new job takes the delivery over; the running
			// one notices when it records its attempt and stops there.
			job, err := s.Jobs.JobRetryTx(ctx, tx.SQLTx(), d.JobID)
			switch {
			case err == nil && job.State != rivertype.JobStateRunning:
				jobID = d.JobID
			case err != nil && !errors.Is(err, rivertype.ErrNotFound):
				return fmt.Errorf("error retrying webhook job: %w", err)
			}
		}
		if jobID == 0 {
			res, err := s.Jobs.InsertTx(ctx, tx.SQLTx(), DeliverArgs{DeliveryID: d.ID}, nil)
			if err != nil {
				return fmt.Errorf("error enqueueing webhook redelivery: %w", err)
			}
			jobID = res.Job.ID
		}
		d, err = tx.WebhookDeliveryUpdate(ctx, &store.WebhookDeliveryUpdateParams{ID: d.ID, State: store.WebhookPending,
			JobID: jobID, NextAttemptAt: &now})
		if err != nil {
			return err
		}
		ds, err := s.withAttempts(ctx, tx, d)
		if err != nil {
			return err
		}
		out = ds[0]
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("error redelivering webhook: %w", err)
	}
	return out, nil
}

// RotatedSecret is the outcome of a rotation, shown once to the operator.
type RotatedSecret struct {
	WorkspaceID string `json:"workspace_id"`
	// Secret is the new signing secret.
	Secret string `json:"webhook_secret"`
	// PreviousSecretExpiresAt is when the replaced secret stops signing
	// (unix ms); deliveries carry both signatures until then.
	PreviousSecretExpiresAt int64 `json:"previous_secret_expires_at"`
}

// OverlapDefault is how long a replaced secret keeps signing.
const OverlapDefault = 24 * time.Hour

// RotateSecret issues a new signing secret for the workspace. The replaced
// one keeps signing for overlap (zero: not at all), so receivers can switch
// at their pace; a secret replaced earlier stops signing now.
func (s *Service) RotateSecret(ctx context.Context, workspaceID string, overlap time.Duration) (*RotatedSecret, error) {
	if overlap < 0 {
		return nil, errors.New("the overlap must not be negative")
	}
	secret := auth.NewWebhookSecret()
	expires := s.now().Add(overlap).UnixMilli()
	var got *store.WebhookSecrets
	err := s.Store.InTx(ctx, func(tx store.Tx) error {
		var err error
		got, err = tx.WorkspaceWebhookSecretRotate(ctx, &store.WebhookSecretRotateParams{
			WorkspaceID: workspaceID, Secret: secret, PreviousExpiresAt: expires})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("error rotating webhook secret: %w", err)
	}
	return &RotatedSecret{WorkspaceID: got.WorkspaceID, Secret: got.Current, PreviousSecretExpiresAt: got.PreviousExpiresAt}, nil
}

// Compile-time check that River's client is what the service needs.
var _ Jobs = (*river.Client[*sql.Tx])(nil)
