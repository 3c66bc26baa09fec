package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
)

// WebhookDelivery is one webhook event sent (or being sent) to a run's
// callback_url, with every attempt so far.
type WebhookDelivery struct {
	ID            string           `json:"id"`
	RunID         string           `json:"run_id"`
	Type          string           `json:"type"`
	URL           string           `json:"url"`
	State         string           `json:"state"`
	CreatedAt     int64            `json:"created_at"`
	NextAttemptAt *int64           `json:"next_attempt_at,omitempty"`
	CompletedAt   *int64           `json:"completed_at,omitempty"`
	AttemptCount  int              `json:"attempt_count"`
	Payload       json.RawMessage  `json:"payload"`
	Attempts      []WebhookAttempt `json:"attempts"`
}

// WebhookAttempt is one try of a delivery; StatusCode is nil when no
// answer came.
type WebhookAttempt struct {
	AttemptedAt int64  `json:"attempted_at"`
	StatusCode  *int   `json:"status_code"`
	LatencyMS   int64  `json:"latency_ms"`
	Error       string `json:"error,omitempty"`
}

// WebhookDeliveryList is one page of deliveries, newest first.
type WebhookDeliveryList struct {
	WebhookDeliveries []WebhookDelivery `json:"webhook_deliveries"`
	Page
}

// WebhookDeliveryListParams filters the list; zero values are left out.
type WebhookDeliveryListParams struct {
	RunID  string
	State  string // pending, succeeded or failed
	Limit  int
	Cursor string
}

// WebhookDeliveriesService lists and redelivers webhook deliveries.
type WebhookDeliveriesService struct{ c *Client }

// List returns one page of the workspace's deliveries.
func (s *WebhookDeliveriesService) List(ctx context.Context, p *WebhookDeliveryListParams, opts ...RequestOption) (*WebhookDeliveryList, error) {
	q := url.Values{}
	if p != nil {
		for k, v := range map[string]string{"run_id": p.RunID, "state": p.State, "cursor": p.Cursor} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if p.Limit != 0 {
			q.Set("limit", strconv.Itoa(p.Limit))
		}
	}
	path := "/api/v1/webhook-deliveries"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	out := &WebhookDeliveryList{}
	if _, err := s.c.doJSON(ctx, http.MethodGet, path, nil, out, opts...); err != nil {
		return nil, err
	}
	return out, nil
}

// Redeliver sends a delivery again with the same id and bytes.
func (s *WebhookDeliveriesService) Redeliver(ctx context.Context, id string, opts ...RequestOption) (*WebhookDelivery, error) {
	out := &WebhookDelivery{}
	if _, err := s.c.doJSON(ctx, http.MethodPost, "/api/v1/webhook-deliveries/"+url.PathEscape(id)+"/redeliver",
		nil, out, opts...); err != nil {
		return nil, err
	}
	return out, nil
}
