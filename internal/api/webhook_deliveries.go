package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/validation"
	"github.com/florad/florad/internal/webhook"
)

// webhookDeliveryJSON is a delivery as the workspace sees it: where it went,
// what was sent (payload, the exact bytes every attempt carries) and every
// attempt so far.
type webhookDeliveryJSON struct {
	ID            string               `json:"id"`
	RunID         string               `json:"run_id"`
	Type          string               `json:"type"`
	URL           string               `json:"url"`
	State         string               `json:"state"`
	CreatedAt     int64                `json:"created_at"`
	NextAttemptAt *int64               `json:"next_attempt_at,omitempty"`
	CompletedAt   *int64               `json:"completed_at,omitempty"`
	AttemptCount  int                  `json:"attempt_count"`
	Payload       json.RawMessage      `json:"payload"`
	Attempts      []webhookAttemptJSON `json:"attempts"`
}

type webhookAttemptJSON struct {
	AttemptedAt int64 `json:"attempted_at"`
	// StatusCode is null when no answer arrived.
	StatusCode *int   `json:"status_code"`
	LatencyMS  int64  `json:"latency_ms"`
	Error      string `json:"error,omitempty"`
}

type webhookDeliveryListJSON struct {
	WebhookDeliveries []webhookDeliveryJSON `json:"webhook_deliveries"`
	Meta              listMeta              `json:"meta"`
}

func toWebhookDeliveryJSON(d *webhook.Delivery) webhookDeliveryJSON {
	out := webhookDeliveryJSON{ID: d.ID, RunID: d.RunID, Type: d.EventType, URL: d.URL, State: d.State,
		CreatedAt: d.CreatedAt, NextAttemptAt: d.NextAttemptAt, CompletedAt: d.CompletedAt,
		AttemptCount: d.AttemptCount, Payload: d.Body, Attempts: make([]webhookAttemptJSON, 0, len(d.Attempts))}
	if d.State != store.WebhookPending {
		out.NextAttemptAt = nil
	}
	for _, a := range d.Attempts {
		aj := webhookAttemptJSON{AttemptedAt: a.AttemptedAt, LatencyMS: a.LatencyMS, Error: a.Error}
		if a.StatusCode != 0 {
			code := a.StatusCode
			aj.StatusCode = &code
		}
		out.Attempts = append(out.Attempts, aj)
	}
	return out
}

// webhookDeliveryList serves GET /api/v1/webhook-deliveries: the
// workspace's deliveries, newest first, filtered by run_id and state, with
// cursor pagination.
func (s *Server) webhookDeliveryList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	v := &validation.Error{}
	p := &store.WebhookDeliveryListParams{WorkspaceID: principal(r.Context()).WorkspaceID}
	var after timeCursor
	p.Limit, after = newestFirstPage(q, v)
	p.AfterCreatedAt, p.AfterID = after.CreatedAt, after.ID
	if id := q.Get("run_id"); id != "" {
		if !strings.HasPrefix(id, "run_") {
			v.Add("run_id", "must be a run id, starting with run_")
		}
		p.RunID = id
	}
	switch st := q.Get("state"); st {
	case "", store.WebhookPending, store.WebhookSucceeded, store.WebhookFailed:
		p.State = st
	default:
		v.Add("state", "must be pending, succeeded or failed")
	}
	if err := v.Err(); err != nil {
		return err
	}
	limit := p.Limit
	p.Limit++ // one more tells whether another page follows
	ds, err := s.Webhooks.List(r.Context(), p)
	if err != nil {
		return err
	}
	out := webhookDeliveryListJSON{WebhookDeliveries: make([]webhookDeliveryJSON, 0, min(len(ds), limit))}
	for _, d := range ds[:min(len(ds), limit)] {
		out.WebhookDeliveries = append(out.WebhookDeliveries, toWebhookDeliveryJSON(d))
	}
	if len(ds) > limit {
		last := ds[limit-1]
		out.Meta.NextCursor = nextCursor(last.CreatedAt, last.ID)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// webhookDeliveryRedeliver serves POST
// /api/v1/webhook-deliveries/{deliveryID}/redeliver: the same event (same
// id, same bytes) goes out again now; 202 with the delivery, pending.
func (s *Server) webhookDeliveryRedeliver(w http.ResponseWriter, r *http.Request) error {
	d, err := s.Webhooks.Redeliver(r.Context(), principal(r.Context()).WorkspaceID, chi.URLParam(r, "deliveryID"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, toWebhookDeliveryJSON(d))
	return nil
}
