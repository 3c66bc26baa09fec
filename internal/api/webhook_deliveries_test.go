package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/webhook"
)

// TestWebhookDeliveryListJSON checks the list's shape: attempts without an
// answer have a null status_code, the payload is the stored JSON itself,
// next_attempt_at only while pending, and the cursor pages through.
func TestWebhookDeliveryListJSON(t *testing.T) {
	t.Parallel()
	b := setup(t, func(cfg *Config) { cfg.Webhooks = &webhook.Service{Store: cfg.Workspaces.Store} })
	ctx := t.Context()

	body := []byte(`{"id":"whd_a","type":"run.completed"}`)
	var ids []string
	require.NoError(t, b.store.InTx(ctx, func(tx store.Tx) error {
		for i, state := range []string{store.WebhookFailed, store.WebhookPending} {
			r, err := tx.RunInsert(ctx, &store.RunInsertParams{ID: "run_webhook" + string(rune('a'+i)),
				WorkspaceID: b.ws.WorkspaceID, TechniqueID: "tech_x", TechniqueSlug: "x", TechniqueVersion: "1",
				Mode: "async", CallbackURL: "https://hooks.example/x", Fingerprint: "fp", CreatedAt: int64(1000 + i)})
			if err != nil {
				return err
			}
			d, err := tx.WebhookDeliveryInsert(ctx, &store.WebhookDeliveryInsertParams{ID: "whd_" + string(rune('a'+i)),
				WorkspaceID: r.WorkspaceID, RunID: r.ID, EventType: "run.completed", URL: r.CallbackURL, Body: body,
				JobID: 1, CreatedAt: int64(2000 + i)})
			if err != nil {
				return err
			}
			if _, err := tx.WebhookAttemptInsert(ctx, &store.WebhookAttemptInsertParams{DeliveryID: d.ID,
				AttemptedAt: int64(3000 + i), LatencyMS: 10000, Error: "the receiver did not answer within 10s"}); err != nil {
				return err
			}
			done := int64(4000)
			up := &store.WebhookDeliveryUpdateParams{ID: d.ID, State: state, JobID: 1, NextAttemptAt: &done}
			if state == store.WebhookFailed {
				up.CompletedAt = &done
			}
			if _, err := tx.WebhookDeliveryUpdate(ctx, up); err != nil {
				return err
			}
			ids = append(ids, d.ID)
		}
		return nil
	}))

	rec := b.do(t, http.MethodGet, "/api/v1/webhook-deliveries?limit=1", "", nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var page struct {
		WebhookDeliveries []map[string]any `json:"webhook_deliveries"`
		Meta              struct {
			NextCursor *string `json:"next_cursor"`
		} `json:"meta"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
	require.Len(t, page.WebhookDeliveries, 1)
	pending := page.WebhookDeliveries[0]
	require.Equal(t, ids[1], pending["id"], "newest first")
	require.Equal(t, "pending", pending["state"])
	require.EqualValues(t, 4000, pending["next_attempt_at"])
	require.NotContains(t, pending, "completed_at")
	require.Equal(t, map[string]any{"id": "whd_a", "type": "run.completed"}, pending["payload"])
	require.Equal(t, []any{map[string]any{"attempted_at": float64(3001), "status_code": nil, "latency_ms": float64(10000),
		"error": "the receiver did not answer within 10s"}}, pending["attempts"])
	require.NotNil(t, page.Meta.NextCursor)

	rec = b.do(t, http.MethodGet, "/api/v1/webhook-deliveries?limit=1&cursor="+url.QueryEscape(*page.Meta.NextCursor), "", nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	page.WebhookDeliveries = nil // a fresh decode, not merged into the first page's maps
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
	require.Len(t, page.WebhookDeliveries, 1)
	failed := page.WebhookDeliveries[0]
	require.Equal(t, ids[0], failed["id"])
	require.Equal(t, "failed", failed["state"])
	require.NotContains(t, failed, "next_attempt_at", "only a pending delivery has a next attempt")
	require.EqualValues(t, 4000, failed["completed_at"])
	require.Nil(t, page.Meta.NextCursor)

	rec = b.doAs(t, b.otherWorkspace(t), http.MethodGet, "/api/v1/webhook-deliveries", "", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	require.JSONEq(t, `{"webhook_deliveries": [], "meta": {"next_cursor": null}}`, rec.Body.String())

	rec = b.do(t, http.MethodGet, "/api/v1/webhook-deliveries?state=gone&run_id=x", "", nil)
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Contains(t, rec.Body.String(), `"field":"run_id"`)
	require.Contains(t, rec.Body.String(), `"field":"state"`)
}
