package webhook_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/webhook"
)

// A failed delivery redelivered goes out again on a new job with the same
// id and bytes, and its attempts accumulate.
func TestRedeliverFailed(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	rc := statusReceiver(t, http.StatusGone, http.StatusOK)

	d := b.endRun(t, b.ws, rc.hookURL(), store.RunCompleted)
	b.waitState(t, d.ID, store.WebhookFailed)

	other := b.workspace(t)
	_, err := b.svc.Redeliver(b.ctx, other.ID, d.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "another workspace's delivery does not exist for it")

	again, err := b.svc.Redeliver(b.ctx, b.ws.ID, d.ID)
	require.NoError(t, err)
	require.Equal(t, d.ID, again.ID)
	require.Equal(t, store.WebhookPending, again.State)
	require.NotEqual(t, d.JobID, again.JobID, "a new job")
	require.Nil(t, again.CompletedAt)
	require.Len(t, again.Attempts, 1, "the earlier attempt stays on record")

	done := b.waitState(t, d.ID, store.WebhookSucceeded)
	require.Equal(t, 2, done.AttemptCount)
	reqs := rc.requests()
	require.Len(t, reqs, 2)
	for _, r := range reqs {
		requireSigned(t, r, d, b.ws.WebhookSecret)
	}
	ds, err := b.svc.List(b.ctx, &store.WebhookDeliveryListParams{WorkspaceID: b.ws.ID, Limit: 10})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.Len(t, ds[0].Attempts, 2)
	require.Equal(t, http.StatusGone, ds[0].Attempts[0].StatusCode)
	require.Equal(t, http.StatusOK, ds[0].Attempts[1].StatusCode)

	_, err = b.svc.Redeliver(b.ctx, b.ws.ID, "whd_unknown")
	require.ErrorIs(t, err, store.ErrNotFound)
}

// A pending delivery waiting for a distant retry is tried at once.
func TestRedeliverPendingNow(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{schedule: []time.Duration{time.Hour}})
	rc := statusReceiver(t, http.StatusServiceUnavailable, http.StatusOK)

	d := b.endRun(t, b.ws, rc.hookURL(), store.RunCompleted)
	b.waitJobState(t, d.JobID, rivertype.JobStateRetryable)
	waiting, err := b.store.WebhookDeliveryGetByID(b.ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, 1, waiting.AttemptCount)
	require.Equal(t, store.WebhookPending, waiting.State)
	require.NotNil(t, waiting.NextAttemptAt)
	require.Greater(t, *waiting.NextAttemptAt, time.Now().Add(50*time.Minute).UnixMilli(), "an hour away, ±10%")

	again, err := b.svc.Redeliver(b.ctx, b.ws.ID, d.ID)
	require.NoError(t, err)
	require.Equal(t, d.JobID, again.JobID, "the same job, made due now")
	b.waitState(t, d.ID, store.WebhookSucceeded)
	require.Len(t, rc.requests(), 2)
}

// Redelivering while an attempt is in flight hands the delivery to a new
// job; the old attempt, when it ends, records itself and leaves the rest to
// the new job.
func TestRedeliverWhileInFlight(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{schedule: []time.Duration{10 * time.Millisecond}})
	release := make(chan struct{})
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
	})

	d := b.endRun(t, b.ws, rc.hookURL(), store.RunCompleted)
	<-rc.arrived
	again, err := b.svc.Redeliver(b.ctx, b.ws.ID, d.ID)
	require.NoError(t, err)
	require.NotEqual(t, d.JobID, again.JobID, "a running job cannot be made due, so a new one takes over")
	b.waitState(t, d.ID, store.WebhookSucceeded)

	close(release)
	released = true
	b.waitJobState(t, d.JobID, rivertype.JobStateCompleted)
	b.waitJobState(t, again.JobID, rivertype.JobStateCompleted)
	done, err := b.store.WebhookDeliveryGetByID(b.ctx, d.ID)
	require.NoError(t, err)
	require.Equal(t, store.WebhookSucceeded, done.State, "the late failure changes nothing")
	require.Equal(t, again.JobID, done.JobID)
	require.Equal(t, 2, done.AttemptCount)
	require.Len(t, rc.requests(), 2, "the old job does not retry")
}

// During a rotation's overlap both secrets sign; after it, only the new.
func TestRotateSecret(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	rc := statusReceiver(t, http.StatusOK)
	old := b.ws.WebhookSecret

	rot, err := b.svc.RotateSecret(b.ctx, b.ws.ID, time.Hour)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(rot.Secret, "whsec_"), rot.Secret)
	require.NotEqual(t, old, rot.Secret)
	require.InDelta(t, time.Now().Add(time.Hour).UnixMilli(), rot.PreviousSecretExpiresAt, 60_000)

	d := b.endRun(t, b.ws, rc.hookURL(), store.RunCompleted)
	b.waitState(t, d.ID, store.WebhookSucceeded)
	got := rc.requests()[0]
	sig := got.header.Get(webhook.HeaderSignature)
	require.Equal(t, 2, strings.Count(sig, "v1="), sig)
	requireSigned(t, got, d, rot.Secret)
	requireSigned(t, got, d, old)

	// Rotating again with no overlap: the secret of the first rotation
	// stops at once, the original one is long gone.
	rot2, err := b.svc.RotateSecret(b.ctx, b.ws.ID, 0)
	require.NoError(t, err)
	d = b.endRun(t, b.ws, rc.hookURL(), store.RunCompleted)
	b.waitState(t, d.ID, store.WebhookSucceeded)
	got = rc.requests()[1]
	sig = got.header.Get(webhook.HeaderSignature)
	require.Equal(t, 1, strings.Count(sig, "v1="), sig)
	requireSigned(t, got, d, rot2.Secret)
	require.Error(t, webhook.Verify(got.body, sig, rot.Secret, 0, time.Now()))
	require.Error(t, webhook.Verify(got.body, sig, old, 0, time.Now()))

	_, err = b.svc.RotateSecret(b.ctx, "ws_unknown", time.Hour)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.svc.RotateSecret(b.ctx, b.ws.ID, -time.Second)
	require.Error(t, err)
}

// TestPostgres runs retries and a redelivery on PostgreSQL, where River's
// driver and our SQL differ from SQLite's.
func TestPostgres(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{postgres: true, schedule: []time.Duration{20 * time.Millisecond, 20 * time.Millisecond}})
	rc := statusReceiver(t, 500, 500, http.StatusGone, http.StatusOK)

	d := b.endRun(t, b.ws, rc.hookURL(), store.RunFailed)
	failed := b.waitState(t, d.ID, store.WebhookFailed)
	require.Equal(t, 3, failed.AttemptCount)
	b.waitJobState(t, d.JobID, rivertype.JobStateCancelled)

	again, err := b.svc.Redeliver(b.ctx, b.ws.ID, d.ID)
	require.NoError(t, err)
	require.NotEqual(t, d.JobID, again.JobID)
	b.waitState(t, d.ID, store.WebhookSucceeded)

	reqs := rc.requests()
	require.Len(t, reqs, 4)
	for _, r := range reqs {
		requireSigned(t, r, d, b.ws.WebhookSecret)
	}
	ds, err := b.svc.List(b.ctx, &store.WebhookDeliveryListParams{WorkspaceID: b.ws.ID, RunID: d.RunID, Limit: 10})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	var codes []int
	for _, a := range ds[0].Attempts {
		codes = append(codes, a.StatusCode)
	}
	require.Equal(t, []int{500, 500, 410, 200}, codes)
}
