package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
)

// These tests pin the client's own behaviour (what it sends, how it reads
// both run spellings and the error shape) against a scripted server; the
// integration tests in internal/app drive it against the real florad.

func newServer(t *testing.T, h http.HandlerFunc) *client.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := client.New(srv.URL+"/", "sk_test_abc", srv.Client())
	c.PollInterval = time.Millisecond
	return c
}

func TestCreateSendsBodyHeadersAndReadsCamelCase(t *testing.T) {
	t.Parallel()
	var got struct {
		method, path, auth, idem, version, contentType string
		body                                           map[string]any
	}
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path = r.Method, r.URL.Path
		got.auth, got.idem = r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key")
		got.version, got.contentType = r.Header.Get("Flora-Version"), r.Header.Get("Content-Type")
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &got.body)
		w.Header().Set("request-id", "req_1")
		w.Header().Set("idempotent-replayed", "true")
		_, _ = io.WriteString(w, `{"runId":"run_1","techniqueId":"tech_x","status":"completed","progress":100,
			"createdAt":5,"completedAt":7,"chargedCost":0.005,"chargedCredits":5,
			"outputs":[{"outputId":"out","type":"text","url":"hello"}],"pollUrl":"http://x/p"}`)
	})

	r, err := c.Runs.Create(context.Background(), "prompt-expander", &client.RunCreateParams{
		Inputs: []client.Input{{ID: "prompt", Type: "TEXT", Value: "cat"}},
	}, client.WithIdempotencyKey("k1"), client.WithFloraVersion(client.FloraVersionCamelCase))
	require.NoError(t, err)

	require.Equal(t, http.MethodPost, got.method)
	require.Equal(t, "/api/v1/techniques/prompt-expander/runs", got.path)
	require.Equal(t, "Bearer sk_test_abc", got.auth)
	require.Equal(t, "k1", got.idem)
	require.Equal(t, "2026-05-11", got.version)
	require.Equal(t, "application/json", got.contentType)
	require.Equal(t, "async", got.body["mode"], "an empty mode is sent as async")
	require.NotContains(t, got.body, "idempotency_key", "an empty body key is left out")

	require.Equal(t, "run_1", r.RunID)
	require.Equal(t, "tech_x", r.TechniqueID)
	require.Equal(t, int64(5), r.CreatedAt)
	require.Equal(t, int64(7), *r.CompletedAt)
	require.Equal(t, int64(5), *r.ChargedCredits)
	require.InDelta(t, 0.005, *r.ChargedCost, 1e-9)
	require.Equal(t, []client.Output{{OutputID: "out", Type: "text", URL: "hello"}}, r.Outputs)
	require.Equal(t, "http://x/p", r.PollURL)
	require.True(t, r.Response.Replayed())
	require.Equal(t, "req_1", r.Response.RequestID())
}

func TestRunReadsSnakeCase(t *testing.T) {
	t.Parallel()
	var r client.Run
	require.NoError(t, json.Unmarshal([]byte(`{"run_id":"run_2","technique_id":"tech_y","status":"failed",
		"progress":40,"created_at":1,"started_at":2,"completed_at":3,"error_code":"input_invalid",
		"error_message":"bad","outputs":[],"poll_url":"u"}`), &r))
	require.Equal(t, "run_2", r.RunID)
	require.Equal(t, "tech_y", r.TechniqueID)
	require.Equal(t, 40, r.Progress)
	require.Equal(t, int64(2), *r.StartedAt)
	require.Equal(t, "input_invalid", r.ErrorCode)
	require.Equal(t, "bad", r.ErrorMessage)
	require.Nil(t, r.ChargedCredits)
	require.True(t, r.Finished())
	require.Empty(t, r.Outputs)
}

func TestAPIErrorCarriesEverything(t *testing.T) {
	t.Parallel()
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("request-id", "req_42")
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/techniques/a/runs":
			w.WriteHeader(http.StatusPaymentRequired)
			_, _ = io.WriteString(w, `{"error":{"code":"insufficient_credits","message":"Need more.","required":5,"available":2}}`)
		case "/api/v1/techniques/b/runs":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"code":"input_validation_error","message":"m",
				"fields":[{"field":"inputs[0].value","message":"must not be empty"}]}}`)
		default:
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "<html>proxy</html>")
		}
	})
	ctx := context.Background()

	_, err := c.Runs.Create(ctx, "a", &client.RunCreateParams{})
	e := client.AsAPIError(err)
	require.NotNil(t, e)
	require.Equal(t, http.StatusPaymentRequired, e.Status)
	require.Equal(t, "insufficient_credits", e.Code)
	require.Equal(t, int64(5), *e.Required)
	require.Equal(t, int64(2), *e.Available)
	require.Equal(t, "req_42", e.RequestID)
	require.Equal(t, "req_42", e.Header.Get("request-id"))
	require.Contains(t, e.Error(), "insufficient_credits")
	require.Contains(t, e.Error(), "req_42")

	_, err = c.Runs.Create(ctx, "b", &client.RunCreateParams{})
	e = client.AsAPIError(err)
	require.NotNil(t, e)
	require.True(t, e.HasField("inputs[0].value"))
	require.False(t, e.HasField("mode"))

	_, err = c.Techniques.Get(ctx, "other")
	e = client.AsAPIError(err)
	require.NotNil(t, e)
	require.Equal(t, http.StatusBadGateway, e.Status)
	require.Empty(t, e.Code, "a body outside the error shape has no code")
	require.Equal(t, "Bad Gateway", e.Message)
	require.Equal(t, "<html>proxy</html>", string(e.Body))

	require.Nil(t, client.AsAPIError(errors.New("plain")))
}

func TestTechniquesListSendsPageParams(t *testing.T) {
	t.Parallel()
	var query, path string
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		query, path = r.URL.RawQuery, r.URL.EscapedPath()
		if r.URL.Path == "/api/v1/techniques" {
			_, _ = io.WriteString(w, `{"techniques":[{"technique_id":"tech_a","slug":"a","name":"A","run_cost":0.001,
				"run_credits":1,"inputs":[{"id":"p","name":"P","type":"text"}],"outputs":[]}],"meta":{"next_cursor":"Yg"}}`)
			return
		}
		_, _ = io.WriteString(w, `{"technique_id":"tech_a","slug":"a"}`)
	})
	ctx := context.Background()

	l, err := c.Techniques.List(ctx, &client.ListParams{Limit: 1, Cursor: "YQ", Query: "a b"},
		client.WithQuery("workspace_id", "ws_1"))
	require.NoError(t, err)
	require.Equal(t, "cursor=YQ&limit=1&query=a+b&workspace_id=ws_1", query)
	require.Equal(t, "Yg", l.NextCursor())
	require.Len(t, l.Techniques, 1)
	require.Equal(t, int64(1), l.Techniques[0].RunCredits)
	require.Equal(t, "text", l.Techniques[0].Inputs[0].Type)

	l, err = c.Techniques.List(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, query)
	l.Meta.NextCursor = nil
	require.Empty(t, l.NextCursor())

	tech, err := c.Techniques.Get(ctx, "a/b")
	require.NoError(t, err)
	require.Equal(t, "/api/v1/techniques/a%2Fb", path, "refs are escaped as one path segment")
	require.Equal(t, "tech_a", tech.TechniqueID)
}

func TestWaitForRunPollsUntilFinished(t *testing.T) {
	t.Parallel()
	var polls atomic.Int32
	c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		n := polls.Add(1)
		status := "running"
		if n == 3 {
			status = "completed"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"run_id": "run_1", "status": status, "progress": n * 30})
	})

	r, err := c.WaitForRun(context.Background(), "t", "run_1")
	require.NoError(t, err)
	require.Equal(t, client.StatusCompleted, r.Status)
	require.Equal(t, int32(3), polls.Load())
}

func TestWaitForRunStops(t *testing.T) {
	t.Parallel()

	t.Run("OnError", func(t *testing.T) {
		t.Parallel()
		c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":{"code":"not_found","message":"Not found."}}`)
		})
		_, err := c.WaitForRun(context.Background(), "t", "run_1")
		require.Equal(t, "not_found", client.AsAPIError(err).Code)
	})

	t.Run("OnContextEnd", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		var polls atomic.Int32
		c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			if polls.Add(1) == 2 {
				cancel()
			}
			_, _ = io.WriteString(w, `{"run_id":"run_1","status":"pending"}`)
		})
		_, err := c.WaitForRun(ctx, "t", "run_1")
		require.ErrorIs(t, err, context.Canceled)
	})
}

func TestNoAuthorizationWithoutKey(t *testing.T) {
	t.Parallel()
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Values("Authorization")
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(srv.Close)

	_, err := client.New(srv.URL, "", nil).Do(context.Background(), http.MethodGet, "/x", nil)
	require.NoError(t, err)
	require.Empty(t, auth)
}

// Start a run and wait for its outputs. (Compiled, not run: it needs a
// florad to talk to.)
func ExampleClient_WaitForRun() {
	ctx := context.Background()
	c := client.New("http://127.0.0.1:8080", "sk_live_...", nil)

	run, err := c.Runs.Create(ctx, "prompt-expander", &client.RunCreateParams{
		Inputs:         []client.Input{{ID: "prompt", Type: "text", Value: "a lighthouse at dawn"}},
		IdempotencyKey: "lighthouse-1", // retrying with the same key never pays twice
	})
	if e := client.AsAPIError(err); e != nil && e.Code == "insufficient_credits" {
		fmt.Printf("need %d credits, have %d\n", *e.Required, *e.Available)
		return
	} else if err != nil {
		fmt.Println(err)
		return
	}
	run, err = c.WaitForRun(ctx, "prompt-expander", run.RunID)
	if err != nil {
		fmt.Println(err)
		return
	}
	if run.Status == client.StatusFailed {
		fmt.Println("failed:", run.ErrorCode, run.ErrorMessage)
		return
	}
	for _, o := range run.Outputs {
		fmt.Println(o.OutputID, o.URL)
	}
}
