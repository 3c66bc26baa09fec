package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// This file holds the run-management side of the API that florad adds to
// FLORA's: cancel, run history, the workspace and its ledger, and run event
// streams (mode "stream" and the events endpoint).

// Event types of a run's event stream.
const (
	// EventSnapshot comes first on a stream without a resume point; its
	// data is the whole run object.
	EventSnapshot = "run.snapshot"
	EventCreated  = "run.created"
	EventStarted  = "run.started"
	EventProgress = "run.progress"
	// EventOutput announces one technique output as soon as its step ends;
	// its data is {"run_id", "output": {"output_id", "type", "url"}}.
	EventOutput = "run.output"
	// EventCompleted and EventFailed end a stream; their data is the whole
	// run object.
	EventCompleted = "run.completed"
	EventFailed    = "run.failed"
	// EventError is sent instead of the next event when the server fails
	// after the stream began; its data is the API's error body.
	EventError = "error"
)

// Cancel ends a pending or running run as failed with error_code
// "run_canceled" and refunds it. Canceling a run that already ended returns
// it unchanged.
func (s *RunsService) Cancel(ctx context.Context, technique, runID string, opts ...RequestOption) (*Run, error) {
	out := &Run{}
	resp, err := s.c.doJSON(ctx, http.MethodPost,
		"/api/v1/techniques/"+url.PathEscape(technique)+"/runs/"+url.PathEscape(runID)+"/cancel", nil, out, opts...)
	if err != nil {
		return nil, err
	}
	out.Response = resp
	return out, nil
}

// RunListParams selects a page of the run history. Zero values are left
// out, so the server's defaults apply (limit 20, first page, no filter).
// Filters the typed fields cannot express (or malformed values, in tests)
// can be sent with WithQuery.
type RunListParams struct {
	// Technique (slug or tech_ id) lists that technique's runs through
	// GET /techniques/{technique}/runs; empty lists every run of the
	// workspace through GET /technique-runs.
	Technique string
	// TechniqueID filters by technique (slug or tech_ id) on either path.
	TechniqueID string
	// Status is pending, running, completed or failed.
	Status string
	// CreatedAfter and CreatedBefore bound created_at, both exclusive;
	// sent as unix milliseconds.
	CreatedAfter  time.Time
	CreatedBefore time.Time
	Limit         int
	Cursor        string
}

func (p *RunListParams) path() string {
	q := url.Values{}
	path := "/api/v1/technique-runs"
	if p == nil {
		return path
	}
	if p.Technique != "" {
		path = "/api/v1/techniques/" + url.PathEscape(p.Technique) + "/runs"
	}
	if p.TechniqueID != "" {
		q.Set("technique_id", p.TechniqueID)
	}
	if p.Status != "" {
		q.Set("status", p.Status)
	}
	if !p.CreatedAfter.IsZero() {
		q.Set("created_after", strconv.FormatInt(p.CreatedAfter.UnixMilli(), 10))
	}
	if !p.CreatedBefore.IsZero() {
		q.Set("created_before", strconv.FormatInt(p.CreatedBefore.UnixMilli(), 10))
	}
	if p.Limit != 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.Cursor != "" {
		q.Set("cursor", p.Cursor)
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return path
}

// TechniqueRef names the technique of a run in the history.
type TechniqueRef struct {
	TechniqueID string `json:"technique_id"`
	Name        string `json:"name"`
}

// RunListItem is one run of the history: the run object plus the fields
// FLORA's list adds.
type RunListItem struct {
	Run
	TechniqueRunID string
	WorkspaceID    string
	ProjectID      *string
	Technique      TechniqueRef
}

// UnmarshalJSON reads the run object (in either spelling) and the list's
// own fields; without it the embedded Run's UnmarshalJSON would take over
// and drop them.
func (i *RunListItem) UnmarshalJSON(b []byte) error {
	if err := i.Run.UnmarshalJSON(b); err != nil {
		return err
	}
	var extra struct {
		TechniqueRunID string       `json:"technique_run_id"`
		WorkspaceID    string       `json:"workspace_id"`
		ProjectID      *string      `json:"project_id"`
		Technique      TechniqueRef `json:"technique"`
	}
	if err := json.Unmarshal(b, &extra); err != nil {
		return err
	}
	i.TechniqueRunID, i.WorkspaceID, i.ProjectID, i.Technique = extra.TechniqueRunID, extra.WorkspaceID, extra.ProjectID, extra.Technique
	return nil
}

// RunList is one page of the run history, newest first.
type RunList struct {
	TechniqueRuns []RunListItem `json:"technique_runs"`
	Page
}

// List returns one page of the workspace's runs, newest first.
func (s *RunsService) List(ctx context.Context, p *RunListParams, opts ...RequestOption) (*RunList, error) {
	out := &RunList{}
	if _, err := s.c.doJSON(ctx, http.MethodGet, p.path(), nil, out, opts...); err != nil {
		return nil, err
	}
	return out, nil
}

// All walks every page from p's cursor on and yields each run once. The
// cursor is a position in (created_at, id) order, so runs created while it
// walks never shift the pages. It stops at the first error, which it yields.
func (s *RunsService) All(ctx context.Context, p *RunListParams, opts ...RequestOption) iter.Seq2[*RunListItem, error] {
	return func(yield func(*RunListItem, error) bool) {
		page := RunListParams{}
		if p != nil {
			page = *p
		}
		for {
			l, err := s.List(ctx, &page, opts...)
			if err != nil {
				yield(nil, err)
				return
			}
			for i := range l.TechniqueRuns {
				if !yield(&l.TechniqueRuns[i], nil) {
					return
				}
			}
			if page.Cursor = l.NextCursor(); page.Cursor == "" {
				return
			}
		}
	}
}

// Workspace is the API key's workspace.
type Workspace struct {
	WorkspaceID    string         `json:"workspace_id"`
	Name           string         `json:"name"`
	CreditBalance  int64          `json:"credit_balance"`
	CreditPriceUSD float64        `json:"credit_price_usd"`
	Limits         map[string]any `json:"limits"`
	CreatedAt      int64          `json:"created_at"`
	// Key is the API key the request was made with.
	Key *WorkspaceKey `json:"key"`
}

// WorkspaceKey describes an API key: where it was verified ("local" or
// "clerk"), its scopes, and its daily spend cap and spending.
type WorkspaceKey struct {
	KeyID            string   `json:"key_id"`
	Source           string   `json:"source"`
	Scopes           []string `json:"scopes"`
	MaxCreditsPerDay *int64   `json:"max_credits_per_day"`
	SpentToday       int64    `json:"credits_spent_today"`
}

// Workspace returns the key's workspace with its credit balance.
func (c *Client) Workspace(ctx context.Context, opts ...RequestOption) (*Workspace, error) {
	out := &Workspace{}
	if _, err := c.doJSON(ctx, http.MethodGet, "/api/v1/workspace", nil, out, opts...); err != nil {
		return nil, err
	}
	return out, nil
}

// LedgerEntry is one credit movement: Amount is negative for a
// reservation, positive for a grant or a refund, zero for the charge that
// turns a reservation into a payment.
type LedgerEntry struct {
	ID           string `json:"id"`
	Kind         string `json:"kind"`
	Amount       int64  `json:"amount"`
	BalanceAfter int64  `json:"balance_after"`
	RunID        string `json:"run_id,omitempty"`
	Memo         string `json:"memo,omitempty"`
	CreatedAt    int64  `json:"created_at"`
}

// Ledger is one page of the workspace's ledger, oldest first.
type Ledger struct {
	LedgerEntries []LedgerEntry `json:"ledger_entries"`
	Page
}

// Ledger returns one page of the workspace's credit ledger, oldest first.
// Only p's Limit and Cursor are used.
func (c *Client) Ledger(ctx context.Context, p *ListParams, opts ...RequestOption) (*Ledger, error) {
	q := url.Values{}
	if p != nil {
		if p.Limit != 0 {
			q.Set("limit", strconv.Itoa(p.Limit))
		}
		if p.Cursor != "" {
			q.Set("cursor", p.Cursor)
		}
	}
	path := "/api/v1/workspace/ledger"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	out := &Ledger{}
	if _, err := c.doJSON(ctx, http.MethodGet, path, nil, out, opts...); err != nil {
		return nil, err
	}
	return out, nil
}

// Event is one server-sent event of a run's stream.
type Event struct {
	// ID is the event's id: resume after it with Last-Event-ID. A
	// snapshot's id is the newest event it already reflects.
	ID string
	// Type is the event field: run.snapshot, run.progress, ... or error.
	Type string
	// Data is the event's JSON data.
	Data json.RawMessage
}

// Run decodes the data of a snapshot, completed or failed event: the whole
// run object.
func (e *Event) Run() (*Run, error) {
	r := &Run{}
	if err := json.Unmarshal(e.Data, r); err != nil {
		return nil, fmt.Errorf("error decoding %s event %s: %w", e.Type, e.ID, err)
	}
	return r, nil
}

// Final reports whether the event ends the stream.
func (e *Event) Final() bool { return e.Type == EventCompleted || e.Type == EventFailed }

// maxEventBytes bounds one event of a stream; a run object with many text
// outputs is well under it.
const maxEventBytes = 16 << 20

// EventStream reads the events of one stream response. It is not safe for
// concurrent use. Close it when done, even after io.EOF.
type EventStream struct {
	// Response is the stream's HTTP answer (status, headers such as
	// idempotent-replayed); its Body is the stream.
	Response *Response
	body     io.ReadCloser
	sc       *bufio.Scanner
	lastID   string
	// Comments counts the comment lines read so far (keep-alives).
	Comments int
}

// Next returns the next event. It returns io.EOF when the server ended the
// stream (after the final event, or early; check the last event's Final),
// and an error when the connection broke or the context ended.
func (s *EventStream) Next() (*Event, error) {
	ev := &Event{}
	var data bytes.Buffer
	hasData := false
	for s.sc.Scan() {
		line := s.sc.Text()
		if line == "" {
			if !hasData {
				// As in browsers: an event without data is not dispatched
				// (an id alone still moves the resume point).
				ev.Type = ""
				continue
			}
			// The id persists across events in SSE, as browsers keep it.
			ev.ID = s.lastID
			if ev.Type == "" {
				ev.Type = "message"
			}
			ev.Data = json.RawMessage(bytes.Clone(data.Bytes()))
			return ev, nil
		}
		if strings.HasPrefix(line, ":") {
			s.Comments++
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			if !strings.ContainsRune(value, 0) {
				s.lastID = value
			}
		case "event":
			ev.Type = value
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.WriteString(value)
			hasData = true
		}
	}
	if err := s.sc.Err(); err != nil {
		return nil, fmt.Errorf("error reading event stream: %w", err)
	}
	return nil, io.EOF
}

// LastEventID is the id of the last event read: pass it to Events to resume
// after a dropped connection.
func (s *EventStream) LastEventID() string { return s.lastID }

// Close drops the connection.
func (s *EventStream) Close() error { return s.body.Close() }

// ReadAll reads events until the stream ends and closes it. It returns the
// events read, with an error when the stream broke (io.EOF is not one).
func (s *EventStream) ReadAll() ([]*Event, error) {
	defer s.Close()
	var out []*Event
	for {
		e, err := s.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
}

// Events opens the event stream of an existing run. With lastEventID empty
// it starts with a run.snapshot; otherwise it sends the Last-Event-ID header
// and the server resumes with the events after that one. The stream lives
// as long as ctx and the HTTP client's Timeout allow. Resuming after the
// final event of an ended run gives a stream that ends at once (the server
// answers 204 No Content, which also stops browsers' EventSource).
func (s *RunsService) Events(ctx context.Context, technique, runID, lastEventID string, opts ...RequestOption) (*EventStream, error) {
	req, err := s.c.newRequest(ctx, "text/event-stream", http.MethodGet,
		"/api/v1/techniques/"+url.PathEscape(technique)+"/runs/"+url.PathEscape(runID)+"/events", nil)
	if err != nil {
		return nil, err
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	return s.c.openStream(req, lastEventID, opts)
}

// CreateStream starts a run with mode "stream" and returns its event
// stream, which begins with the run.snapshot. A replay of an idempotency
// key streams the existing run (Response.Replayed() is then true).
func (s *RunsService) CreateStream(ctx context.Context, technique string, p *RunCreateParams, opts ...RequestOption) (*EventStream, error) {
	body := *p
	body.Mode = "stream"
	if body.Inputs == nil {
		body.Inputs = []Input{}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("error encoding request: %w", err)
	}
	req, err := s.c.newRequest(ctx, "text/event-stream", http.MethodPost, "/api/v1/techniques/"+url.PathEscape(technique)+"/runs", b)
	if err != nil {
		return nil, err
	}
	return s.c.openStream(req, "", opts)
}

// openStream sends req and checks that a stream came back: a non-2xx
// answer is an *APIError, as everywhere.
func (c *Client) openStream(req *http.Request, lastEventID string, opts []RequestOption) (*EventStream, error) {
	for _, o := range opts {
		o(req)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	httpResp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("error sending %s %s: %w", req.Method, req.URL.Path, err)
	}
	resp := &Response{StatusCode: httpResp.StatusCode, Header: httpResp.Header}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body, _ = io.ReadAll(io.LimitReader(httpResp.Body, maxResponseBytes))
		httpResp.Body.Close()
		return nil, newAPIError(resp)
	}
	// 204 is the server's "nothing more will come" (a resume point at the
	// end of an ended run): a stream without events.
	if mt, _, _ := mime.ParseMediaType(httpResp.Header.Get("Content-Type")); mt != "text/event-stream" &&
		resp.StatusCode != http.StatusNoContent {
		httpResp.Body.Close()
		return nil, fmt.Errorf("error opening event stream: the server answered %q, not text/event-stream",
			httpResp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(httpResp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventBytes)
	sc.Split(scanSSELines)
	return &EventStream{Response: resp, body: httpResp.Body, sc: sc, lastID: lastEventID}, nil
}

// scanSSELines splits at LF, CRLF or a lone CR, as the SSE format allows.
func scanSSELines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if atEOF && len(data) == 0 {
		return 0, nil, nil
	}
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		if data[i] == '\n' {
			return i + 1, data[:i], nil
		}
		// A CR: wait for the next byte to tell CR from CRLF.
		if i+1 < len(data) {
			if data[i+1] == '\n' {
				return i + 2, data[:i], nil
			}
			return i + 1, data[:i], nil
		}
		if atEOF {
			return i + 1, data[:i], nil
		}
		return 0, nil, nil
	}
	if atEOF {
		return len(data), data, nil
	}
	return 0, nil, nil
}
