package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
)

// TestEventsParsesTheSSEFormat feeds the reader what the SSE format allows
// beyond what florad sends (CRLF and CR line ends, multi-line data,
// comments, events without data, an id carried over), so that the reader
// behaves as a browser's EventSource would.
func TestEventsParsesTheSSEFormat(t *testing.T) {
	t.Parallel()
	var gotPath, gotLast, gotAccept string
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotLast, gotAccept = r.URL.Path, r.Header.Get("Last-Event-ID"), r.Header.Get("Accept")
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		_, _ = io.WriteString(w, ": keep-alive\n\n"+
			"id: 7\r\nevent: run.progress\r\ndata: {\"progress\":50}\r\n\r\n"+
			"event: ignored\n\n"+ // no data: not dispatched
			"data: {\"a\":\rdata: 1}\r\r"+ // lone CRs, two data lines, id kept from before
			"id: 9\nevent: run.completed\ndata: {\"run_id\":\"run_1\",\"status\":\"completed\",\"progress\":100,\"outputs\":[]}\n\n"+
			"id: 10\nevent: run.partial\ndata: cut off") // no blank line: discarded at EOF
	})
	s, err := c.Runs.Events(context.Background(), "prompt-expander", "run_1", "6")
	require.NoError(t, err)
	require.Equal(t, "/api/v1/techniques/prompt-expander/runs/run_1/events", gotPath)
	require.Equal(t, "6", gotLast)
	require.Equal(t, "text/event-stream", gotAccept)

	events, err := s.ReadAll()
	require.NoError(t, err)
	require.Len(t, events, 3)
	require.Equal(t, client.Event{ID: "7", Type: client.EventProgress, Data: []byte(`{"progress":50}`)}, *events[0])
	require.Equal(t, client.Event{ID: "7", Type: "message", Data: []byte("{\"a\":\n1}")}, *events[1])
	require.True(t, events[2].Final())
	r, err := events[2].Run()
	require.NoError(t, err)
	require.Equal(t, "run_1", r.RunID)
	require.Equal(t, client.StatusCompleted, r.Status)
	require.Equal(t, 1, s.Comments)
	require.Equal(t, "10", s.LastEventID(), "the id line of the cut-off event was read")
}

func TestEventsWithoutResumePointSendsNoHeader(t *testing.T) {
	t.Parallel()
	var had bool
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, had = r.Header["Last-Event-Id"]
		w.Header().Set("Content-Type", "text/event-stream")
	})
	s, err := c.Runs.Events(context.Background(), "t", "run_1", "")
	require.NoError(t, err)
	_, err = s.Next()
	require.ErrorIs(t, err, io.EOF)
	require.NoError(t, s.Close())
	require.False(t, had)
}

func TestEventsErrorsAreAPIErrors(t *testing.T) {
	t.Parallel()
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("plain") != "" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{}`)
			return
		}
		w.Header().Set("request-id", "req_9")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":{"code":"not_found","message":"No such run."}}`)
	})
	_, err := c.Runs.Events(context.Background(), "t", "run_x", "")
	e := client.AsAPIError(err)
	require.NotNil(t, e, "%v", err)
	require.Equal(t, http.StatusNotFound, e.Status)
	require.Equal(t, "not_found", e.Code)
	require.Equal(t, "req_9", e.RequestID)

	_, err = c.Runs.Events(context.Background(), "t", "run_x", "", client.WithQuery("plain", "1"))
	require.ErrorContains(t, err, "not text/event-stream")
}

// TestEventsStopsWithItsContext: a reader blocked on a silent stream
// returns when its context ends.
func TestEventsStopsWithItsContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "id: 1\nevent: run.snapshot\ndata: {}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	s, err := c.Runs.Events(ctx, "t", "run_1", "")
	require.NoError(t, err)
	e, err := s.Next()
	require.NoError(t, err)
	require.Equal(t, client.EventSnapshot, e.Type)
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = s.Next()
	require.Error(t, err)
	require.False(t, errors.Is(err, io.EOF), "a broken stream is not a clean end: %v", err)
	require.NoError(t, s.Close())
}

func TestCreateStreamSendsModeStream(t *testing.T) {
	t.Parallel()
	var body string
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("idempotent-replayed", "true")
		_, _ = io.WriteString(w, "id: 3\nevent: run.snapshot\ndata: {\"run_id\":\"run_1\",\"status\":\"pending\"}\n\n")
	})
	s, err := c.Runs.CreateStream(context.Background(), "prompt-expander", &client.RunCreateParams{Mode: "async",
		Inputs: []client.Input{{ID: "prompt", Type: "text", Value: "x"}}})
	require.NoError(t, err)
	defer s.Close()
	require.JSONEq(t, `{"inputs":[{"id":"prompt","type":"text","value":"x"}],"mode":"stream"}`, body)
	require.True(t, s.Response.Replayed())
	e, err := s.Next()
	require.NoError(t, err)
	r, err := e.Run()
	require.NoError(t, err)
	require.Equal(t, "run_1", r.RunID)
}

func TestListSendsFiltersAndReadsItems(t *testing.T) {
	t.Parallel()
	var got []*url.URL
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL)
		if r.URL.Query().Get("cursor") == "" {
			_, _ = io.WriteString(w, `{"technique_runs":[{"run_id":"run_2","technique_run_id":"run_2","workspace_id":"ws_1",
				"project_id":null,"technique":{"technique_id":"tech_1","name":"Prompt Expander"},"status":"failed",
				"progress":40,"created_at":2,"error_code":"run_canceled","outputs":[]}],"meta":{"next_cursor":"c1"}}`)
			return
		}
		_, _ = io.WriteString(w, `{"technique_runs":[{"runId":"run_1","technique_run_id":"run_1","status":"completed",
			"createdAt":1,"outputs":[]}],"meta":{"next_cursor":null}}`)
	})
	after, before := time.UnixMilli(1000), time.UnixMilli(2000)
	var ids []string
	for item, err := range c.Runs.All(context.Background(), &client.RunListParams{Technique: "prompt-expander",
		TechniqueID: "tech_1", Status: "failed", CreatedAfter: after, CreatedBefore: before, Limit: 1}) {
		require.NoError(t, err)
		ids = append(ids, item.RunID)
		if item.RunID == "run_2" {
			require.Equal(t, "run_2", item.TechniqueRunID)
			require.Equal(t, "ws_1", item.WorkspaceID)
			require.Nil(t, item.ProjectID)
			require.Equal(t, client.TechniqueRef{TechniqueID: "tech_1", Name: "Prompt Expander"}, item.Technique)
			require.Equal(t, "run_canceled", item.ErrorCode)
			require.Equal(t, 40, item.Progress)
		}
	}
	require.Equal(t, []string{"run_2", "run_1"}, ids)
	require.Len(t, got, 2)
	require.Equal(t, "/api/v1/techniques/prompt-expander/runs", got[0].Path)
	q := got[0].Query()
	require.Equal(t, "tech_1", q.Get("technique_id"))
	require.Equal(t, "failed", q.Get("status"))
	require.Equal(t, "1000", q.Get("created_after"))
	require.Equal(t, "2000", q.Get("created_before"))
	require.Equal(t, "1", q.Get("limit"))
	require.Equal(t, "c1", got[1].Query().Get("cursor"))
	require.Equal(t, "1", got[1].Query().Get("limit"), "the next page keeps the filters")

	l, err := c.Runs.List(context.Background(), nil)
	require.NoError(t, err)
	require.Equal(t, "/api/v1/technique-runs", got[2].Path)
	require.Empty(t, got[2].RawQuery)
	require.Equal(t, "c1", l.NextCursor())
}

func TestAllYieldsTheFirstError(t *testing.T) {
	t.Parallel()
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"code":"input_validation_error","message":"bad"}}`)
	})
	n := 0
	for item, err := range c.Runs.All(context.Background(), nil) {
		n++
		require.Nil(t, item)
		require.Equal(t, "input_validation_error", client.AsAPIError(err).Code)
	}
	require.Equal(t, 1, n)
}

func TestCancelWorkspaceAndLedger(t *testing.T) {
	t.Parallel()
	var paths []string
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.Method+" "+r.URL.RequestURI())
		switch {
		case strings.HasSuffix(r.URL.Path, "/cancel"):
			_, _ = io.WriteString(w, `{"run_id":"run_1","status":"failed","error_code":"run_canceled","outputs":[]}`)
		case r.URL.Path == "/api/v1/workspace":
			_, _ = io.WriteString(w, `{"workspace_id":"ws_1","name":"W","credit_balance":42,"credit_price_usd":0.001,
				"limits":{"max_inputs":100},"created_at":5}`)
		default:
			_, _ = io.WriteString(w, `{"ledger_entries":[{"id":"led_1","kind":"grant","amount":42,"balance_after":42,
				"created_at":5}],"meta":{"next_cursor":"Mg"}}`)
		}
	})
	ctx := context.Background()
	r, err := c.Runs.Cancel(ctx, "prompt-expander", "run_1")
	require.NoError(t, err)
	require.Equal(t, "run_canceled", r.ErrorCode)
	ws, err := c.Workspace(ctx)
	require.NoError(t, err)
	require.Equal(t, client.Workspace{WorkspaceID: "ws_1", Name: "W", CreditBalance: 42, CreditPriceUSD: 0.001,
		Limits: map[string]any{"max_inputs": float64(100)}, CreatedAt: 5}, *ws)
	l, err := c.Ledger(ctx, &client.ListParams{Limit: 1, Cursor: "MQ"})
	require.NoError(t, err)
	require.Equal(t, []client.LedgerEntry{{ID: "led_1", Kind: "grant", Amount: 42, BalanceAfter: 42, CreatedAt: 5}}, l.LedgerEntries)
	require.Equal(t, "Mg", l.NextCursor())
	require.Equal(t, []string{"POST /api/v1/techniques/prompt-expander/runs/run_1/cancel", "GET /api/v1/workspace",
		"GET /api/v1/workspace/ledger?cursor=MQ&limit=1"}, paths)
}

// TestEventsNoContentIsAnEmptyStream: the server's 204 for a resume point
// after an ended run's final event is a stream that ends at once.
func TestEventsNoContentIsAnEmptyStream(t *testing.T) {
	t.Parallel()
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	s, err := c.Runs.Events(context.Background(), "t", "run_1", "9")
	require.NoError(t, err)
	events, err := s.ReadAll()
	require.NoError(t, err)
	require.Empty(t, events)
	require.Equal(t, http.StatusNoContent, s.Response.StatusCode)
	require.Equal(t, "9", s.LastEventID())
}
