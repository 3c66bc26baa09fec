package storetest

import (
	"cmp"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
)

func exerciseWebhook(t *testing.T, setup setupFunc) {
	t.Helper()

	// deliveryParams is a delivery of run r; the body is not valid UTF-8 on
	// purpose: the store keeps bytes, not text.
	deliveryParams := func(b *testBundle, r *store.Run) *store.WebhookDeliveryInsertParams {
		return &store.WebhookDeliveryInsertParams{
			ID: b.fix.ID("whd"), WorkspaceID: r.WorkspaceID, RunID: r.ID, EventType: "run.completed",
			URL: "https://example.com/hooks/" + r.ID, Body: []byte("{\"id\":\"x\",\"s\":\"ü\"}\n\xff\x00"),
			JobID: 42, CreatedAt: b.fix.Now(),
		}
	}
	insert := func(b *testBundle, p *store.WebhookDeliveryInsertParams) (*store.WebhookDelivery, error) {
		var d *store.WebhookDelivery
		err := b.store.InTx(b.ctx, func(tx store.Tx) (err error) {
			d, err = tx.WebhookDeliveryInsert(b.ctx, p)
			return err
		})
		return d, err
	}
	mustInsert := func(t *testing.T, b *testBundle, p *store.WebhookDeliveryInsertParams) *store.WebhookDelivery {
		t.Helper()
		d, err := insert(b, p)
		require.NoError(t, err)
		return d
	}
	update := func(b *testBundle, p *store.WebhookDeliveryUpdateParams) (*store.WebhookDelivery, error) {
		var d *store.WebhookDelivery
		err := b.store.InTx(b.ctx, func(tx store.Tx) (err error) {
			d, err = tx.WebhookDeliveryUpdate(b.ctx, p)
			return err
		})
		return d, err
	}
	attempt := func(b *testBundle, p *store.WebhookAttemptInsertParams) (*store.WebhookAttempt, error) {
		var a *store.WebhookAttempt
		err := b.store.InTx(b.ctx, func(tx store.Tx) (err error) {
			a, err = tx.WebhookAttemptInsert(b.ctx, p)
			return err
		})
		return a, err
	}
	rotate := func(b *testBundle, p *store.WebhookSecretRotateParams) (*store.WebhookSecrets, error) {
		var s *store.WebhookSecrets
		err := b.store.InTx(b.ctx, func(tx store.Tx) (err error) {
			s, err = tx.WorkspaceWebhookSecretRotate(b.ctx, p)
			return err
		})
		return s, err
	}
	t.Run("InsertGet", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws, other := b.fix.Workspace(), b.fix.Workspace()
		r := b.fix.Run(ws.ID)

		p := deliveryParams(b, r)
		d := mustInsert(t, b, p)
		require.Equal(t, p.ID, d.ID)
		require.Equal(t, ws.ID, d.WorkspaceID)
		require.Equal(t, r.ID, d.RunID)
		require.Equal(t, p.EventType, d.EventType)
		require.Equal(t, p.URL, d.URL)
		require.Equal(t, p.Body, d.Body, "the body is stored byte for byte")
		require.Equal(t, store.WebhookPending, d.State)
		require.Zero(t, d.AttemptCount)
		require.Equal(t, p.JobID, d.JobID)
		require.Equal(t, p.CreatedAt, d.CreatedAt)
		require.NotNil(t, d.NextAttemptAt)
		require.Equal(t, p.CreatedAt, *d.NextAttemptAt, "a new delivery is due at once")
		require.Nil(t, d.CompletedAt)

		got, err := b.store.WebhookDeliveryGet(b.ctx, ws.ID, d.ID)
		require.NoError(t, err)
		require.Equal(t, d, got)
		got, err = b.store.WebhookDeliveryGetByID(b.ctx, d.ID)
		require.NoError(t, err)
		require.Equal(t, d, got)

		_, err = b.store.WebhookDeliveryGet(b.ctx, other.ID, d.ID)
		require.ErrorIs(t, err, store.ErrNotFound, "WebhookDeliveryGet is scoped to the workspace")
		_, err = b.store.WebhookDeliveryGetByID(b.ctx, b.fix.ID("whd"))
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("OneDeliveryPerRunAndEvent", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		r := b.fix.Run(ws.ID)
		mustInsert(t, b, deliveryParams(b, r))

		dup := deliveryParams(b, r)
		_, err := insert(b, dup)
		require.ErrorIs(t, err, store.ErrAlreadyExists)
		_, err = b.store.WebhookDeliveryGetByID(b.ctx, dup.ID)
		require.ErrorIs(t, err, store.ErrNotFound, "the refused delivery was not written")

		failed := deliveryParams(b, r)
		failed.EventType = "run.failed"
		mustInsert(t, b, failed)
	})

	t.Run("InsertRollsBack", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		r := b.fix.Run(ws.ID)
		p := deliveryParams(b, r)
		errBoom := errors.New("boom")
		err := b.store.InTx(b.ctx, func(tx store.Tx) error {
			if _, err := tx.WebhookDeliveryInsert(b.ctx, p); err != nil {
				return err
			}
			got, err := tx.WebhookDeliveryGetByID(b.ctx, p.ID)
			require.NoError(t, err, "a transaction reads its own writes")
			require.Equal(t, p.ID, got.ID)
			return errBoom
		})
		require.ErrorIs(t, err, errBoom)
		_, err = b.store.WebhookDeliveryGetByID(b.ctx, p.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("Attempts", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		d1 := mustInsert(t, b, deliveryParams(b, b.fix.Run(ws.ID)))
		d2 := mustInsert(t, b, deliveryParams(b, b.fix.Run(ws.ID)))
		d3 := mustInsert(t, b, deliveryParams(b, b.fix.Run(ws.ID)))

		inputs := []*store.WebhookAttemptInsertParams{
			{DeliveryID: d1.ID, AttemptedAt: b.fix.Now(), StatusCode: 500, LatencyMS: 12, Error: "the receiver answered 500"},
			{DeliveryID: d2.ID, AttemptedAt: b.fix.Now(), StatusCode: 0, LatencyMS: 10000, Error: "timed out"},
			{DeliveryID: d1.ID, AttemptedAt: b.fix.Now(), StatusCode: 204, LatencyMS: 3},
		}
		var recorded []*store.WebhookAttempt
		for _, p := range inputs {
			a, err := attempt(b, p)
			require.NoError(t, err)
			require.NotZero(t, a.ID)
			require.Equal(t, p.DeliveryID, a.DeliveryID)
			require.Equal(t, p.AttemptedAt, a.AttemptedAt)
			require.Equal(t, p.StatusCode, a.StatusCode)
			require.Equal(t, p.LatencyMS, a.LatencyMS)
			require.Equal(t, p.Error, a.Error)
			recorded = append(recorded, a)
		}

		got, err := b.store.WebhookDeliveryGetByID(b.ctx, d1.ID)
		require.NoError(t, err)
		require.Equal(t, 2, got.AttemptCount)
		got, err = b.store.WebhookDeliveryGetByID(b.ctx, d3.ID)
		require.NoError(t, err)
		require.Zero(t, got.AttemptCount)

		list, err := b.store.WebhookAttemptList(b.ctx, []string{d1.ID, d2.ID, d3.ID})
		require.NoError(t, err)
		byDelivery := map[string][]*store.WebhookAttempt{}
		for _, a := range list {
			byDelivery[a.DeliveryID] = append(byDelivery[a.DeliveryID], a)
		}
		require.Equal(t, []*store.WebhookAttempt{recorded[0], recorded[2]}, byDelivery[d1.ID], "oldest first")
		require.Equal(t, []*store.WebhookAttempt{recorded[1]}, byDelivery[d2.ID])
		require.Empty(t, byDelivery[d3.ID])

		list, err = b.store.WebhookAttemptList(b.ctx, nil)
		require.NoError(t, err)
		require.Empty(t, list)

		_, err = attempt(b, &store.WebhookAttemptInsertParams{DeliveryID: b.fix.ID("whd"), AttemptedAt: b.fix.Now()})
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("Update", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()
		d := mustInsert(t, b, deliveryParams(b, b.fix.Run(ws.ID)))

		next := b.fix.Now() + 10_000
		got, err := update(b, &store.WebhookDeliveryUpdateParams{ID: d.ID, State: store.WebhookPending, JobID: d.JobID, NextAttemptAt: &next})
		require.NoError(t, err)
		require.Equal(t, store.WebhookPending, got.State)
		require.Equal(t, &next, got.NextAttemptAt)

		done := b.fix.Now()
		got, err = update(b, &store.WebhookDeliveryUpdateParams{ID: d.ID, State: store.WebhookSucceeded, JobID: d.JobID, CompletedAt: &done})
		require.NoError(t, err)
		require.Equal(t, store.WebhookSucceeded, got.State)
		require.Nil(t, got.NextAttemptAt)
		require.Equal(t, &done, got.CompletedAt)
		require.Equal(t, d.Body, got.Body, "an update never touches the body")

		// A redelivery: pending again, on a new job.
		again := b.fix.Now()
		got, err = update(b, &store.WebhookDeliveryUpdateParams{ID: d.ID, State: store.WebhookPending, JobID: 77, NextAttemptAt: &again})
		require.NoError(t, err)
		require.Equal(t, store.WebhookPending, got.State)
		require.Equal(t, int64(77), got.JobID)
		require.Nil(t, got.CompletedAt)
		reread, err := b.store.WebhookDeliveryGetByID(b.ctx, d.ID)
		require.NoError(t, err)
		require.Equal(t, got, reread)

		_, err = update(b, &store.WebhookDeliveryUpdateParams{ID: d.ID, State: "lost"})
		require.Error(t, err)
		_, err = update(b, &store.WebhookDeliveryUpdateParams{ID: b.fix.ID("whd"), State: store.WebhookFailed})
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	t.Run("List", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws, other := b.fix.Workspace(), b.fix.Workspace()
		r1, r2 := b.fix.Run(ws.ID), b.fix.Run(ws.ID)

		// Five deliveries; two share a created_at so the id breaks the tie.
		var all []*store.WebhookDelivery
		same := b.fix.Now()
		for i := range 5 {
			r := r1
			if i%2 == 1 {
				r = r2
			}
			p := deliveryParams(b, r)
			p.EventType = []string{"run.completed", "run.completed", "run.failed", "run.failed", "run.x"}[i]
			if i == 2 || i == 3 {
				p.CreatedAt = same
			}
			all = append(all, mustInsert(t, b, p))
		}
		mustInsert(t, b, deliveryParams(b, b.fix.Run(other.ID)))
		done := b.fix.Now()
		_, err := update(b, &store.WebhookDeliveryUpdateParams{ID: all[1].ID, State: store.WebhookSucceeded, CompletedAt: &done})
		require.NoError(t, err)
		_, err = update(b, &store.WebhookDeliveryUpdateParams{ID: all[4].ID, State: store.WebhookFailed, CompletedAt: &done})
		require.NoError(t, err)

		ids := func(ds []*store.WebhookDelivery) []string {
			var out []string
			for _, d := range ds {
				out = append(out, d.ID)
			}
			return out
		}
		// newestFirst orders by created_at DESC, id DESC, independently of
		// the store.
		newestFirst := func(ds ...*store.WebhookDelivery) []string {
			slices.SortFunc(ds, func(a, c *store.WebhookDelivery) int {
				if n := cmp.Compare(c.CreatedAt, a.CreatedAt); n != 0 {
					return n
				}
				return strings.Compare(c.ID, a.ID)
			})
			return ids(ds)
		}

		got, err := b.store.WebhookDeliveryList(b.ctx, &store.WebhookDeliveryListParams{WorkspaceID: ws.ID, Limit: 10})
		require.NoError(t, err)
		want := newestFirst(all[0], all[1], all[2], all[3], all[4])
		require.Equal(t, want, ids(got), "newest first, only this workspace")

		// Pages of two follow the keyset cursor, through the tie.
		var paged []string
		p := &store.WebhookDeliveryListParams{WorkspaceID: ws.ID, Limit: 2}
		for range 4 {
			page, err := b.store.WebhookDeliveryList(b.ctx, p)
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			paged = append(paged, ids(page)...)
			last := page[len(page)-1]
			p.AfterCreatedAt, p.AfterID = last.CreatedAt, last.ID
		}
		require.Equal(t, want, paged)

		got, err = b.store.WebhookDeliveryList(b.ctx, &store.WebhookDeliveryListParams{WorkspaceID: ws.ID, RunID: r2.ID, Limit: 10})
		require.NoError(t, err)
		require.Equal(t, newestFirst(all[1], all[3]), ids(got))

		got, err = b.store.WebhookDeliveryList(b.ctx, &store.WebhookDeliveryListParams{WorkspaceID: ws.ID, State: store.WebhookPending, Limit: 10})
		require.NoError(t, err)
		require.Equal(t, newestFirst(all[0], all[2], all[3]), ids(got))

		got, err = b.store.WebhookDeliveryList(b.ctx, &store.WebhookDeliveryListParams{WorkspaceID: ws.ID, RunID: r2.ID, State: store.WebhookSucceeded, Limit: 10})
		require.NoError(t, err)
		require.Equal(t, []string{all[1].ID}, ids(got))

		got, err = b.store.WebhookDeliveryList(b.ctx, &store.WebhookDeliveryListParams{WorkspaceID: other.ID, RunID: r1.ID, Limit: 10})
		require.NoError(t, err)
		require.Empty(t, got, "another workspace never sees these runs' deliveries")
	})

	t.Run("ListOverdue", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()

		// Due times long before the factory's clock, so that no other
		// delivery (ours or anyone's on a shared database) is more overdue.
		ptr := func(v int64) *int64 { return &v }
		deliveryDue := func(state string, next *int64) *store.WebhookDelivery {
			d := mustInsert(t, b, deliveryParams(b, b.fix.Run(ws.ID)))
			var completed *int64
			if state != store.WebhookPending {
				completed = ptr(b.fix.Now())
			}
			d, err := update(b, &store.WebhookDeliveryUpdateParams{ID: d.ID, State: state, JobID: d.JobID, NextAttemptAt: next, CompletedAt: completed})
			require.NoError(t, err)
			return d
		}
		due30 := deliveryDue(store.WebhookPending, ptr(30))
		due10 := deliveryDue(store.WebhookPending, ptr(10))
		due40 := deliveryDue(store.WebhookPending, ptr(40))
		deliveryDue(store.WebhookSucceeded, ptr(5)) // not pending: never overdue
		deliveryDue(store.WebhookFailed, ptr(6))
		deliveryDue(store.WebhookSucceeded, nil)

		overdue := func(t *testing.T, before int64, limit int) []string {
			t.Helper()
			list, err := b.store.WebhookDeliveryListOverdue(b.ctx, before, limit)
			require.NoError(t, err)
			require.LessOrEqual(t, len(list), limit)
			var ids []string
			for _, d := range list {
				require.Equal(t, store.WebhookPending, d.State)
				require.Less(t, *d.NextAttemptAt, before)
				ids = append(ids, d.ID)
			}
			return ids
		}
		require.Equal(t, []string{due10.ID, due30.ID}, overdue(t, 40, 100), "pending and due before 40, most overdue first")
		require.Equal(t, []string{due10.ID}, overdue(t, 40, 1))
		require.Equal(t, []string{due10.ID, due30.ID, due40.ID}, overdue(t, 41, 100))
		require.Empty(t, overdue(t, 10, 100), "due at `before` is not overdue before it")

		list, err := b.store.WebhookDeliveryListOverdue(b.ctx, 11, 1)
		require.NoError(t, err)
		require.Equal(t, []*store.WebhookDelivery{due10}, list, "the whole delivery, for the reconciler")

		// Once it succeeds, or is retried later, it is no longer overdue.
		_, err = update(b, &store.WebhookDeliveryUpdateParams{ID: due10.ID, State: store.WebhookSucceeded, JobID: due10.JobID, CompletedAt: ptr(b.fix.Now())})
		require.NoError(t, err)
		_, err = update(b, &store.WebhookDeliveryUpdateParams{ID: due30.ID, State: store.WebhookPending, JobID: due30.JobID, NextAttemptAt: ptr(b.fix.Now())})
		require.NoError(t, err)
		require.Equal(t, []string{due40.ID}, overdue(t, 41, 100))
	})

	t.Run("Secrets", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ws := b.fix.Workspace()

		s, err := b.store.WorkspaceWebhookSecrets(b.ctx, ws.ID)
		require.NoError(t, err)
		require.Equal(t, &store.WebhookSecrets{WorkspaceID: ws.ID, Current: ws.WebhookSecret}, s)
		require.Equal(t, []string{ws.WebhookSecret}, s.Active(b.fix.Now()))

		expires := b.fix.Now() + 1000
		s, err = rotate(b, &store.WebhookSecretRotateParams{WorkspaceID: ws.ID, Secret: "whsec_second", PreviousExpiresAt: expires})
		require.NoError(t, err)
		require.Equal(t, &store.WebhookSecrets{WorkspaceID: ws.ID, Current: "whsec_second", Previous: ws.WebhookSecret,
			PreviousExpiresAt: expires}, s)
		require.Equal(t, []string{"whsec_second", ws.WebhookSecret}, s.Active(expires-1), "both sign during the overlap")
		require.Equal(t, []string{"whsec_second"}, s.Active(expires), "the previous secret stops at its expiry")

		reread, err := b.store.WorkspaceWebhookSecrets(b.ctx, ws.ID)
		require.NoError(t, err)
		require.Equal(t, s, reread)
		w, err := b.store.WorkspaceGet(b.ctx, ws.ID)
		require.NoError(t, err)
		require.Equal(t, "whsec_second", w.WebhookSecret, "the workspace shows the current secret")

		// A second rotation drops the oldest secret.
		s, err = rotate(b, &store.WebhookSecretRotateParams{WorkspaceID: ws.ID, Secret: "whsec_third", PreviousExpiresAt: expires})
		require.NoError(t, err)
		require.Equal(t, []string{"whsec_third", "whsec_second"}, s.Active(expires-1))

		_, err = rotate(b, &store.WebhookSecretRotateParams{WorkspaceID: b.fix.ID("ws"), Secret: "whsec_x", PreviousExpiresAt: expires})
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = b.store.WorkspaceWebhookSecrets(b.ctx, b.fix.ID("ws"))
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}
