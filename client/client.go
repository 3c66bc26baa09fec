// Package client is a small Go client of florad's Techniques API (the same
// API FLORA serves): list and read techniques, start runs, poll them until
// they end. It speaks plain net/http and JSON and has no dependencies.
//
// Every method returns an *APIError for a response with a non-2xx status,
// carrying the error's code, message, field failures, the 402 figures and
// the response's request id, so callers decide with errors.As and the code.
//
// The client reads the run object in both spellings the API sends:
// snake_case (the default) and the older camelCase that a request with
// WithFloraVersion("2026-05-11") asks for.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Run statuses.
const (
	StatusPending   = "pending"
	StatusRunning   = "running"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
)

// FloraVersionCamelCase is the Flora-Version that asks for the camelCase
// run object of FLORA's API before 2026-05-15.
const FloraVersionCamelCase = "2026-05-11"

// PollIntervalDefault is how often WaitForRun polls when
// Client.PollInterval is zero.
const PollIntervalDefault = 500 * time.Millisecond

// maxResponseBytes bounds what the client reads of one response body; run
// objects and technique lists are a few kilobytes.
const maxResponseBytes = 16 << 20

// Client talks to one florad (or FLORA) API with one API key. It is safe
// for concurrent use; set its fields before the first request.
type Client struct {
	// BaseURL is the server's address without /api/v1, e.g.
	// "http://127.0.0.1:8080".
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <APIKey>"; empty sends no
	// Authorization header.
	APIKey string
	// HTTPClient does the requests. Defaults to http.DefaultClient.
	HTTPClient *http.Client
	// PollInterval is WaitForRun's pause between polls. Defaults to
	// PollIntervalDefault.
	PollInterval time.Duration

	// Techniques reads the technique catalog.
	Techniques *TechniquesService
	// Runs starts and reads technique runs.
	Runs *RunsService
	// Assets uploads and reads files to use as run inputs.
	Assets *AssetsService
	// WebhookDeliveries lists the workspace's webhook deliveries.
	WebhookDeliveries *WebhookDeliveriesService
}

// New returns a client for baseURL authenticating with apiKey. A nil
// httpClient means http.DefaultClient.
func New(baseURL, apiKey string, httpClient *http.Client) *Client {
	c := &Client{BaseURL: strings.TrimRight(baseURL, "/"), APIKey: apiKey, HTTPClient: httpClient}
	c.Techniques = &TechniquesService{c: c}
	c.Runs = &RunsService{c: c}
	c.Assets = &AssetsService{c: c}
	c.WebhookDeliveries = &WebhookDeliveriesService{c: c}
	return c
}

// RequestOption changes one request before it is sent.
type RequestOption func(*http.Request)

// WithHeader sets a request header.
func WithHeader(name, value string) RequestOption {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

// WithIdempotencyKey sends the Idempotency-Key header. It means the same as
// the body's idempotency_key; if both are sent they must be equal.
func WithIdempotencyKey(key string) RequestOption { return WithHeader("Idempotency-Key", key) }

// WithFloraVersion sends the Flora-Version header; FloraVersionCamelCase
// makes run objects come back in camelCase (which this client reads too).
func WithFloraVersion(v string) RequestOption { return WithHeader("Flora-Version", v) }

// WithQuery adds a query parameter, for example workspace_id.
func WithQuery(name, value string) RequestOption {
	return func(r *http.Request) {
		q := r.URL.Query()
		q.Add(name, value)
		r.URL.RawQuery = q.Encode()
	}
}

// Response is the raw answer to a request.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// RequestID is the server's id for the request (the request-id header).
func (r *Response) RequestID() string { return r.Header.Get("request-id") }

// Replayed reports whether the server answered an idempotent replay with an
// existing run (the idempotent-replayed header).
func (r *Response) Replayed() bool { return r.Header.Get("idempotent-replayed") == "true" }

// FieldError is one rejected request field.
type FieldError struct {
	// Field is the JSON path of the field, e.g. "inputs[0].value".
	Field   string `json:"field"`
	Message string `json:"message"`
}

// APIError is a non-2xx response.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is the stable error code, e.g. "input_validation_error"; empty
	// when the body was not in the API's error shape.
	Code string
	// Message is a sentence for a person.
	Message string
	// Fields lists rejected fields of a 400 input_validation_error.
	Fields []FieldError
	// Required and Available are the figures of a 402 insufficient_credits.
	Required  *int64
	Available *int64
	// RequestID is the response's request-id header, to quote in reports.
	RequestID string
	// Header holds all response headers (e.g. retry-after).
	Header http.Header
	// Body is the raw response body.
	Body []byte
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "flora API: %d", e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request " + e.RequestID + ")")
	}
	return b.String()
}

// HasField reports whether the error names the field path.
func (e *APIError) HasField(field string) bool {
	for _, f := range e.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

// AsAPIError returns err's *APIError, or nil when it has none.
func AsAPIError(err error) *APIError {
	var e *APIError
	if errors.As(err, &e) {
		return e
	}
	return nil
}

type errorBody struct {
	Error struct {
		Code      string       `json:"code"`
		Message   string       `json:"message"`
		Fields    []FieldError `json:"fields"`
		Required  *int64       `json:"required"`
		Available *int64       `json:"available"`
	} `json:"error"`
}

func newAPIError(resp *Response) *APIError {
	e := &APIError{Status: resp.StatusCode, RequestID: resp.RequestID(), Header: resp.Header, Body: resp.Body}
	var body errorBody
	if json.Unmarshal(resp.Body, &body) == nil {
		e.Code, e.Message, e.Fields = body.Error.Code, body.Error.Message, body.Error.Fields
		e.Required, e.Available = body.Error.Required, body.Error.Available
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// newRequest builds an authenticated request for path, relative to BaseURL,
// with body (if any) sent as JSON and accept as the Accept header.
func (c *Client) newRequest(ctx context.Context, accept, method, path string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, fmt.Errorf("error building request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", accept)
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	return req, nil
}

// Do sends a request to path (relative to BaseURL, e.g. "/api/v1/techniques")
// with an optional body, which is sent as JSON. A 2xx answer is returned as
// is; any other status gives an *APIError (and the Response too). Do is the
// way to reach endpoints or send bodies the typed methods do not cover.
func (c *Client) Do(ctx context.Context, method, path string, body []byte, opts ...RequestOption) (*Response, error) {
	req, err := c.newRequest(ctx, "application/json", method, path, body)
	if err != nil {
		return nil, err
	}
	return c.send(req, nil, opts)
}

// send applies opts, sends req and reads the answer; a 2xx one is decoded
// into out when out is not nil.
func (c *Client) send(req *http.Request, out any, opts []RequestOption) (*Response, error) {
	for _, o := range opts {
		o(req)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	method, path := req.Method, req.URL.Path
	httpResp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("error sending %s %s: %w", method, path, err)
	}
	defer httpResp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(httpResp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("error reading response to %s %s: %w", method, path, err)
	}
	resp := &Response{StatusCode: httpResp.StatusCode, Header: httpResp.Header, Body: data}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, newAPIError(resp)
	}
	if out != nil {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			return resp, fmt.Errorf("error decoding response to %s %s: %w", method, path, err)
		}
	}
	return resp, nil
}

// doJSON sends v (when not nil) as JSON and decodes a 2xx answer into out.
func (c *Client) doJSON(ctx context.Context, method, path string, v, out any, opts ...RequestOption) (*Response, error) {
	var body []byte
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("error encoding request: %w", err)
		}
	}
	resp, err := c.Do(ctx, method, path, body, opts...)
	if err != nil {
		return resp, err
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return resp, fmt.Errorf("error decoding response to %s %s: %w", method, path, err)
	}
	return resp, nil
}

// IO is one input or output of a technique.
type IO struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	Optional    bool   `json:"optional,omitempty"`
}

// Technique is one technique of the catalog.
type Technique struct {
	TechniqueID string  `json:"technique_id"`
	Slug        string  `json:"slug"`
	Name        string  `json:"name"`
	Description string  `json:"description"`
	RunCost     float64 `json:"run_cost"`
	RunCredits  int64   `json:"run_credits"`
	Inputs      []IO    `json:"inputs"`
	Outputs     []IO    `json:"outputs"`
}

// TechniqueList is one page of techniques. NextCursor is empty on the last
// page.
type TechniqueList struct {
	Techniques []Technique `json:"techniques"`
	Page
}

// Page is the pagination part every list response shares.
type Page struct {
	Meta struct {
		NextCursor *string `json:"next_cursor"`
	} `json:"meta"`
}

// NextCursor is the cursor of the next page, or "" on the last one.
func (p *Page) NextCursor() string {
	if p.Meta.NextCursor == nil {
		return ""
	}
	return *p.Meta.NextCursor
}

// ListParams selects a page of techniques. Zero values are left out, so the
// server's defaults apply (limit 20, first page, no search).
type ListParams struct {
	Limit  int
	Cursor string
	Query  string
}

// TechniquesService reads the technique catalog.
type TechniquesService struct{ c *Client }

// List returns one page of the techniques the key's workspace can run.
func (s *TechniquesService) List(ctx context.Context, p *ListParams, opts ...RequestOption) (*TechniqueList, error) {
	q := url.Values{}
	if p != nil {
		if p.Limit != 0 {
			q.Set("limit", strconv.Itoa(p.Limit))
		}
		if p.Cursor != "" {
			q.Set("cursor", p.Cursor)
		}
		if p.Query != "" {
			q.Set("query", p.Query)
		}
	}
	path := "/api/v1/techniques"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	out := &TechniqueList{}
	if _, err := s.c.doJSON(ctx, http.MethodGet, path, nil, out, opts...); err != nil {
		return nil, err
	}
	return out, nil
}

// Get returns one technique by slug or tech_ id.
func (s *TechniquesService) Get(ctx context.Context, ref string, opts ...RequestOption) (*Technique, error) {
	out := &Technique{}
	if _, err := s.c.doJSON(ctx, http.MethodGet, "/api/v1/techniques/"+url.PathEscape(ref), nil, out, opts...); err != nil {
		return nil, err
	}
	return out, nil
}

// Input is one input of a run request. Type takes either spelling:
// "imageUrl" or "IMAGE_URL", "text" or "TEXT", and so on.
type Input struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// RunCreateParams is the body of a run request.
type RunCreateParams struct {
	Inputs []Input `json:"inputs"`
	// Mode is "async" (the default when empty) or "stream".
	Mode        string `json:"mode"`
	CallbackURL string `json:"callback_url,omitempty"`
	// IdempotencyKey makes retries safe: the same key and request return
	// the run made first. WithIdempotencyKey sends it as a header instead.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// Output is one output of a completed run. URL is the output's signed,
// expiring URL for media, or the text itself for text outputs.
type Output struct {
	OutputID string `json:"output_id"`
	Type     string `json:"type"`
	URL      string `json:"url"`
	// ExpiresAt is when the server's retention removes the file (unix
	// ms); nil when it keeps files.
	ExpiresAt *int64 `json:"expires_at,omitempty"`
}

// Run is a technique run as the API reports it.
type Run struct {
	RunID          string   `json:"run_id"`
	TechniqueID    string   `json:"technique_id"`
	Status         string   `json:"status"`
	Progress       int      `json:"progress"`
	CreatedAt      int64    `json:"created_at"`
	StartedAt      *int64   `json:"started_at,omitempty"`
	CompletedAt    *int64   `json:"completed_at,omitempty"`
	ChargedCost    *float64 `json:"charged_cost,omitempty"`
	ChargedCredits *int64   `json:"charged_credits,omitempty"`
	ErrorCode      string   `json:"error_code,omitempty"`
	ErrorMessage   string   `json:"error_message,omitempty"`
	Outputs        []Output `json:"outputs"`
	PollURL        string   `json:"poll_url"`

	// Response is the HTTP answer the run was read from (headers such as
	// idempotent-replayed, and the raw body).
	Response *Response `json:"-"`
}

// Finished reports whether the run has ended, completed or failed.
func (r *Run) Finished() bool { return r.Status == StatusCompleted || r.Status == StatusFailed }

// runWire reads both spellings of the run object: fields whose names are
// the same in both (status, progress, type, url) land once, the others in
// their snake_case or camelCase slot.
type runWire struct {
	RunID          string       `json:"run_id"`
	RunIDC         string       `json:"runId"`
	TechniqueID    string       `json:"technique_id"`
	TechniqueIDC   string       `json:"techniqueId"`
	Status         string       `json:"status"`
	Progress       int          `json:"progress"`
	CreatedAt      int64        `json:"created_at"`
	CreatedAtC     int64        `json:"createdAt"`
	StartedAt      *int64       `json:"started_at"`
	StartedAtC     *int64       `json:"startedAt"`
	CompletedAt    *int64       `json:"completed_at"`
	CompletedAtC   *int64       `json:"completedAt"`
	ChargedCost    *float64     `json:"charged_cost"`
	ChargedCostC   *float64     `json:"chargedCost"`
	ChargedCredits *int64       `json:"charged_credits"`
	ChargedCredC   *int64       `json:"chargedCredits"`
	ErrorCode      string       `json:"error_code"`
	ErrorCodeC     string       `json:"errorCode"`
	ErrorMessage   string       `json:"error_message"`
	ErrorMessageC  string       `json:"errorMessage"`
	Outputs        []outputWire `json:"outputs"`
	PollURL        string       `json:"poll_url"`
	PollURLC       string       `json:"pollUrl"`
}

type outputWire struct {
	OutputID   string `json:"output_id"`
	OutputIDC  string `json:"outputId"`
	Type       string `json:"type"`
	URL        string `json:"url"`
	ExpiresAt  *int64 `json:"expires_at"`
	ExpiresAtC *int64 `json:"expiresAt"`
}

// UnmarshalJSON reads the run object in snake_case or camelCase.
func (r *Run) UnmarshalJSON(b []byte) error {
	var w runWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = Run{
		RunID: or(w.RunID, w.RunIDC), TechniqueID: or(w.TechniqueID, w.TechniqueIDC), Status: w.Status,
		Progress: w.Progress, CreatedAt: max(w.CreatedAt, w.CreatedAtC), StartedAt: orPtr(w.StartedAt, w.StartedAtC),
		CompletedAt: orPtr(w.CompletedAt, w.CompletedAtC), ChargedCost: orPtr(w.ChargedCost, w.ChargedCostC),
		ChargedCredits: orPtr(w.ChargedCredits, w.ChargedCredC), ErrorCode: or(w.ErrorCode, w.ErrorCodeC),
		ErrorMessage: or(w.ErrorMessage, w.ErrorMessageC), PollURL: or(w.PollURL, w.PollURLC),
		Outputs: make([]Output, 0, len(w.Outputs)),
	}
	for _, o := range w.Outputs {
		r.Outputs = append(r.Outputs, Output{OutputID: or(o.OutputID, o.OutputIDC), Type: o.Type, URL: o.URL,
			ExpiresAt: orPtr(o.ExpiresAt, o.ExpiresAtC)})
	}
	return nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func orPtr[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

// RunsService starts and reads technique runs.
type RunsService struct{ c *Client }

// Create starts a run of the technique (slug or tech_ id). An empty Mode is
// sent as "async"; a nil p sends no inputs (the server answers 400). When the server replays an earlier run for the same
// idempotency key, the run's Response.Replayed() is true.
func (s *RunsService) Create(ctx context.Context, technique string, p *RunCreateParams, opts ...RequestOption) (*Run, error) {
	var body RunCreateParams
	if p != nil {
		body = *p
	}
	if body.Mode == "" {
		body.Mode = "async"
	}
	if body.Inputs == nil {
		body.Inputs = []Input{}
	}
	out := &Run{}
	resp, err := s.c.doJSON(ctx, http.MethodPost, "/api/v1/techniques/"+url.PathEscape(technique)+"/runs", body, out, opts...)
	if err != nil {
		return nil, err
	}
	out.Response = resp
	return out, nil
}

// Get reads a run of the technique.
func (s *RunsService) Get(ctx context.Context, technique, runID string, opts ...RequestOption) (*Run, error) {
	out := &Run{}
	resp, err := s.c.doJSON(ctx, http.MethodGet,
		"/api/v1/techniques/"+url.PathEscape(technique)+"/runs/"+url.PathEscape(runID), nil, out, opts...)
	if err != nil {
		return nil, err
	}
	out.Response = resp
	return out, nil
}

// WaitForRun polls the run every PollInterval until it is completed or
// failed, and returns its last state; a failed run is not an error (read
// ErrorCode). It stops with ctx's error when ctx ends first, and with the
// first error a poll returns (a 404, a refused key, a dropped connection):
// callers that want to ride out transient errors poll with Get themselves.
func (c *Client) WaitForRun(ctx context.Context, technique, runID string, opts ...RequestOption) (*Run, error) {
	interval := c.PollInterval
	if interval <= 0 {
		interval = PollIntervalDefault
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("error waiting for run %s: %w", runID, ctx.Err())
		case <-t.C:
		}
		r, err := c.Runs.Get(ctx, technique, runID, opts...)
		if err != nil {
			return nil, err
		}
		if r.Finished() {
			return r, nil
		}
		t.Reset(interval)
	}
}
