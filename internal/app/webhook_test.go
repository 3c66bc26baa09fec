package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/app"
	"github.com/florad/florad/internal/webhook"
)

// hookRequest is one delivery a hookReceiver got.
type hookRequest struct {
	header http.Header
	body   []byte
}

// hookReceiver is a customer's webhook endpoint on 127.0.0.1: it records
// every request and answers with respond(n), n counting from 0.
type hookReceiver struct {
	*httptest.Server
	accepted atomic.Int64
	mu       sync.Mutex
	reqs     []hookRequest
	arrived  chan struct{}
}

type hookListener struct {
	net.Listener
	accepted *atomic.Int64
}

func (l *hookListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

func newHookReceiver(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *hookReceiver {
	t.Helper()
	h := &hookReceiver{arrived: make(chan struct{}, 100)}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		// Every webhook the suite receives is checked against the
		// OpenAPI document's callback of startTechniqueRun.
		if err := oursSpec.ValidateWebhook(r.Header, body); err != nil {
			t.Errorf("OpenAPI: the webhook %s does not match the document: %v", body, err)
		}
		h.mu.Lock()
		n := len(h.reqs)
		h.reqs = append(h.reqs, hookRequest{header: r.Header.Clone(), body: body})
		h.mu.Unlock()
		h.arrived <- struct{}{}
		respond(n, w, r)
	}))
	srv.Listener = &hookListener{Listener: srv.Listener, accepted: &h.accepted}
	srv.Start()
	t.Cleanup(srv.Close)
	h.Server = srv
	return h
}

func statusHookReceiver(t *testing.T, statuses ...int) *hookReceiver {
	t.Helper()
	return newHookReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(statuses[min(n, len(statuses)-1)])
	})
}

func (h *hookReceiver) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.reqs...)
}

func (h *hookReceiver) hookURL() string { return h.URL + "/hook" }

// The API's view of deliveries, decoded independently of the server's types.
type deliveryJSON struct {
	ID            string          `json:"id"`
	RunID         string          `json:"run_id"`
	Type          string          `json:"type"`
	URL           string          `json:"url"`
	State         string          `json:"state"`
	CreatedAt     int64           `json:"created_at"`
	NextAttemptAt *int64          `json:"next_attempt_at"`
	CompletedAt   *int64          `json:"completed_at"`
	AttemptCount  int             `json:"attempt_count"`
	Payload       json.RawMessage `json:"payload"`
	Attempts      []struct {
		AttemptedAt int64  `json:"attempted_at"`
		StatusCode  *int   `json:"status_code"`
		LatencyMS   int64  `json:"latency_ms"`
		Error       string `json:"error"`
	} `json:"attempts"`
}

type deliveryListJSON struct {
	WebhookDeliveries []deliveryJSON `json:"webhook_deliveries"`
	Meta              struct {
		NextCursor *string `json:"next_cursor"`
	} `json:"meta"`
}

func listDeliveries(t *testing.T, c *client.Client, query url.Values) (*deliveryListJSON, error) {
	t.Helper()
	resp, err := c.Do(context.Background(), http.MethodGet, "/api/v1/webhook-deliveries?"+query.Encode(), nil)
	if err != nil {
		return nil, err
	}
	var out deliveryListJSON
	require.NoError(t, json.Unmarshal(resp.Body, &out), "body %s", resp.Body)
	return &out, nil
}

// waitDelivery polls the list until the run's delivery satisfies cond.
func waitDelivery(t *testing.T, c *client.Client, runID string, cond func(d deliveryJSON) bool) deliveryJSON {
	t.Helper()
	// Generous: under the race detector on a loaded machine the run itself
	// may take many seconds to end; a passing wait returns at once.
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := listDeliveries(t, c, url.Values{"run_id": {runID}})
		require.NoError(t, err)
		if len(l.WebhookDeliveries) == 1 && cond(l.WebhookDeliveries[0]) {
			return l.WebhookDeliveries[0]
		}
		if time.Now().After(deadline) {
			require.FailNow(t, "the delivery never reached the expected state", "last: %+v", l.WebhookDeliveries)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (b *testBundle) webhookSecret(t *testing.T, wsID string) string {
	t.Helper()
	s, err := b.app.Store.WorkspaceWebhookSecrets(context.Background(), wsID)
	require.NoError(t, err)
	return s.Current
}

// TestWebhookRunCompleted follows a run with a callback_url to its one
// run.completed delivery: the contract's exact body and headers, a
// signature that verifies with the workspace's secret, and the delivery
// listed with its attempt.
func TestWebhookRunCompleted(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{postgres: pg})
		ctx := context.Background()
		hook := statusHookReceiver(t, http.StatusOK)

		p := promptRun("a lighthouse at dawn")
		p.CallbackURL = hook.hookURL()
		created, err := b.client.Runs.Create(ctx, "prompt-expander", p)
		require.NoError(t, err)
		r := b.wait(t, b.client, "prompt-expander", created.RunID)
		require.Equal(t, client.StatusCompleted, r.Status)

		d := waitDelivery(t, b.client, r.RunID, func(d deliveryJSON) bool { return d.State == "succeeded" })
		reqs := hook.requests()
		require.Len(t, reqs, 1, "exactly one event per run")
		got := reqs[0]

		want := fmt.Sprintf(`{"id":%q,"type":"run.completed","api_version":"2026-06-11","created_at":%d,`+
			`"data":{"run_id":%q,"run_type":"technique","workspace_id":%q,"technique_id":%q,"status":"completed"}}`,
			d.ID, *r.CompletedAt, r.RunID, b.wsID, r.TechniqueID)
		require.Equal(t, want, string(got.body))
		require.Regexp(t, `^whd_[0-9a-z]{26}$`, d.ID)
		require.Equal(t, "application/json", got.header.Get("Content-Type"))
		require.Equal(t, d.ID, got.header.Get("Flora-Webhook-Id"))
		require.Equal(t, "run.completed", got.header.Get("Flora-Event"))
		sig := got.header.Get("Flora-Signature")
		require.Regexp(t, `^t=\d{10},v1=[0-9a-f]{64}$`, sig)
		require.NoError(t, webhook.Verify(got.body, sig, b.webhookSecret(t, b.wsID), webhook.ToleranceDefault, time.Now()))

		require.Equal(t, r.RunID, d.RunID)
		require.Equal(t, "run.completed", d.Type)
		require.Equal(t, hook.hookURL(), d.URL)
		require.Equal(t, *r.CompletedAt, d.CreatedAt)
		require.Nil(t, d.NextAttemptAt)
		require.NotNil(t, d.CompletedAt)
		require.JSONEq(t, want, string(d.Payload))
		require.Equal(t, 1, d.AttemptCount)
		require.Len(t, d.Attempts, 1)
		require.Equal(t, 200, *d.Attempts[0].StatusCode)
		require.Empty(t, d.Attempts[0].Error)
		require.GreaterOrEqual(t, d.Attempts[0].AttemptedAt, *r.CompletedAt)
	})
}

// TestWebhookRunFailed: a failing run sends run.failed with its error.
func TestWebhookRunFailed(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{postgres: pg})
		ctx := context.Background()
		hook := statusHookReceiver(t, http.StatusNoContent)

		created, err := b.client.Runs.Create(ctx, "portrait-enhancer", &client.RunCreateParams{Mode: "async",
			CallbackURL: hook.hookURL(),
			Inputs:      []client.Input{{ID: "input_image", Type: "imageUrl", Value: closedPortURL(t)}}})
		require.NoError(t, err)
		r := b.wait(t, b.client, "portrait-enhancer", created.RunID)
		require.Equal(t, client.StatusFailed, r.Status)

		d := waitDelivery(t, b.client, r.RunID, func(d deliveryJSON) bool { return d.State == "succeeded" })
		reqs := hook.requests()
		require.Len(t, reqs, 1)
		var ev webhook.Event
		require.NoError(t, json.Unmarshal(reqs[0].body, &ev))
		require.Equal(t, webhook.Event{ID: d.ID, Type: "run.failed", APIVersion: "2026-06-11", CreatedAt: *r.CompletedAt,
			Data: webhook.EventData{RunID: r.RunID, RunType: "technique", WorkspaceID: b.wsID, TechniqueID: r.TechniqueID,
				Status: "failed", ErrorCode: "input_unreachable", ErrorMessage: r.ErrorMessage}}, ev)
		require.NotEmpty(t, ev.Data.ErrorMessage)
		require.Equal(t, "run.failed", reqs[0].header.Get("Flora-Event"))
		require.NoError(t, webhook.Verify(reqs[0].body, reqs[0].header.Get("Flora-Signature"), b.webhookSecret(t, b.wsID),
			webhook.ToleranceDefault, time.Now()))
	})
}

// TestWebhookDeliveriesAPI: a delivery refused with 410 is listed as
// failed with its attempt, redelivered through the API with the same id
// and bytes, and then succeeds; filters, pages and workspace isolation.
func TestWebhookDeliveriesAPI(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{postgres: pg})
		ctx := context.Background()
		hook := statusHookReceiver(t, http.StatusGone, http.StatusOK)

		p := promptRun("first")
		p.CallbackURL = hook.hookURL()
		first, err := b.client.Runs.Create(ctx, "prompt-expander", p)
		require.NoError(t, err)
		failed := waitDelivery(t, b.client, first.RunID, func(d deliveryJSON) bool { return d.State == "failed" })
		require.Len(t, failed.Attempts, 1)
		require.Equal(t, 410, *failed.Attempts[0].StatusCode)
		require.Contains(t, failed.Attempts[0].Error, "410")

		l, err := listDeliveries(t, b.client, url.Values{"state": {"failed"}})
		require.NoError(t, err)
		require.Len(t, l.WebhookDeliveries, 1)
		l, err = listDeliveries(t, b.client, url.Values{"state": {"succeeded"}})
		require.NoError(t, err)
		require.Empty(t, l.WebhookDeliveries)

		// Another workspace sees nothing and cannot redeliver it.
		_, _, otherKey := b.newWorkspace(t, 10)
		other := b.newClient(otherKey)
		l, err = listDeliveries(t, other, url.Values{})
		require.NoError(t, err)
		require.Empty(t, l.WebhookDeliveries)
		_, err = other.Do(ctx, http.MethodPost, "/api/v1/webhook-deliveries/"+failed.ID+"/redeliver", nil)
		apiError(t, err, http.StatusNotFound, "not_found")
		_, err = b.client.Do(ctx, http.MethodPost, "/api/v1/webhook-deliveries/whd_unknown/redeliver", nil)
		apiError(t, err, http.StatusNotFound, "not_found")

		resp, err := b.client.Do(ctx, http.MethodPost, "/api/v1/webhook-deliveries/"+failed.ID+"/redeliver", nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		var again deliveryJSON
		require.NoError(t, json.Unmarshal(resp.Body, &again))
		require.Equal(t, failed.ID, again.ID)
		require.Equal(t, "pending", again.State)

		done := waitDelivery(t, b.client, first.RunID, func(d deliveryJSON) bool { return d.State == "succeeded" })
		require.Len(t, done.Attempts, 2)
		require.Equal(t, 200, *done.Attempts[1].StatusCode)
		reqs := hook.requests()
		require.Len(t, reqs, 2)
		require.Equal(t, reqs[0].body, reqs[1].body, "a redelivery sends the same bytes")
		require.Equal(t, failed.ID, reqs[1].header.Get("Flora-Webhook-Id"))

		// Two more runs, then pages of two, newest first.
		var runIDs []string
		for _, prompt := range []string{"second", "third"} {
			p := promptRun(prompt)
			p.CallbackURL = hook.hookURL()
			r, err := b.client.Runs.Create(ctx, "prompt-expander", p)
			require.NoError(t, err)
			waitDelivery(t, b.client, r.RunID, func(d deliveryJSON) bool { return d.State == "succeeded" })
			runIDs = append(runIDs, r.RunID)
		}
		page1, err := listDeliveries(t, b.client, url.Values{"limit": {"2"}})
		require.NoError(t, err)
		require.Len(t, page1.WebhookDeliveries, 2)
		require.NotNil(t, page1.Meta.NextCursor)
		page2, err := listDeliveries(t, b.client, url.Values{"limit": {"2"}, "cursor": {*page1.Meta.NextCursor}})
		require.NoError(t, err)
		require.Len(t, page2.WebhookDeliveries, 1)
		require.Nil(t, page2.Meta.NextCursor)
		require.Equal(t, []string{runIDs[1], runIDs[0], first.RunID}, []string{page1.WebhookDeliveries[0].RunID,
			page1.WebhookDeliveries[1].RunID, page2.WebhookDeliveries[0].RunID})

		for _, bad := range []url.Values{
			{"state": {"lost"}}, {"limit": {"0"}}, {"limit": {"101"}}, {"cursor": {"not-a-cursor"}}, {"run_id": {"abc"}},
		} {
			_, err := listDeliveries(t, b.client, bad)
			e := apiError(t, err, http.StatusBadRequest, "input_validation_error")
			for k := range bad {
				require.True(t, e.HasField(k), "field %s in %v", k, e.Fields)
			}
		}
	})
}

// TestWebhookHangingReceiverDoesNotDelayRuns: while one receiver hangs,
// runs complete and other deliveries go out.
func TestWebhookHangingReceiverDoesNotDelayRuns(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{postgres: pg})
		ctx := context.Background()
		release := make(chan struct{})
		hanging := newHookReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		t.Cleanup(func() { close(release) }) // before the receiver closes and the app stops
		fast := statusHookReceiver(t, http.StatusOK)

		p := promptRun("slow receiver")
		p.CallbackURL = hanging.hookURL()
		slow, err := b.client.Runs.Create(ctx, "prompt-expander", p)
		require.NoError(t, err)
		<-hanging.arrived

		p = promptRun("fast receiver")
		p.CallbackURL = fast.hookURL()
		quick, err := b.client.Runs.Create(ctx, "prompt-expander", p)
		require.NoError(t, err)
		r := b.wait(t, b.client, "prompt-expander", quick.RunID)
		require.Equal(t, client.StatusCompleted, r.Status)
		waitDelivery(t, b.client, quick.RunID, func(d deliveryJSON) bool { return d.State == "succeeded" })

		l, err := listDeliveries(t, b.client, url.Values{"run_id": {slow.RunID}})
		require.NoError(t, err)
		require.Len(t, l.WebhookDeliveries, 1)
		require.Equal(t, "pending", l.WebhookDeliveries[0].State, "the hanging attempt is still in flight")
	})
}

// TestWebhookCallbackURLRefused: callback URLs that point at the server's
// own machine, private networks or cloud metadata are refused when the run
// is requested, with 400 on callback_url; nothing is created, so nothing
// can ever connect to them. The receiver on 127.0.0.1 proves no connection
// was opened to it.
func TestWebhookCallbackURLRefused(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		// Production mode: prompt-expander needs no input URLs.
		b := setupWith(t, setupOpts{postgres: pg, configure: func(c *app.Config) { c.Dev = false }})
		hook := statusHookReceiver(t, http.StatusOK)
		port := hook.Listener.Addr().(*net.TCPAddr).Port

		targets := []string{
			fmt.Sprintf("https://127.0.0.1:%d/hook", port),
			fmt.Sprintf("http://127.0.0.1:%d/hook", port),
			fmt.Sprintf("https://localhost:%d/hook", port),
			fmt.Sprintf("https://LOCALHOST.:%d/hook", port),
			fmt.Sprintf("https://hooks.localhost:%d/hook", port),
			fmt.Sprintf("https://[::1]:%d/hook", port),
			fmt.Sprintf("https://[::ffff:127.0.0.1]:%d/hook", port),
			fmt.Sprintf("https://[::ffff:7f00:1]:%d/hook", port),
			fmt.Sprintf("https://2130706433:%d/hook", port),
			fmt.Sprintf("https://0177.0.0.1:%d/hook", port),
			fmt.Sprintf("https://0x7f.0.0.1:%d/hook", port),
			fmt.Sprintf("https://127.1:%d/hook", port),
			fmt.Sprintf("https://0.0.0.0:%d/hook", port),
			"https://printer.local/hook",
			"https://db.internal/hook",
			"https://metadata.google.internal/computeMetadata/v1/",
			"https://169.254.169.254/latest/meta-data/",
			"https://[fd00:ec2::254]/latest/meta-data/",
			"https://[fe80::1]/hook",
			"https://10.0.0.1/hook",
			"https://172.16.0.1/hook",
			"https://192.168.1.1/hook",
			"https://100.64.0.1/hook",
			"https://user:pass@example.com/hook",
			"http://example.com/hook",
			"ftp://example.com/hook",
			"/relative/hook",
		}
		for _, target := range targets {
			p := promptRun("never runs")
			p.CallbackURL = target
			_, err := b.client.Runs.Create(context.Background(), "prompt-expander", p)
			e := apiError(t, err, http.StatusBadRequest, "input_validation_error")
			require.True(t, e.HasField("callback_url"), "%s: fields %v", target, e.Fields)
			require.Len(t, e.Fields, 1, target)
		}
		require.Zero(t, b.countRuns(t, b.wsID), "nothing was created")
		l, err := listDeliveries(t, b.client, url.Values{})
		require.NoError(t, err)
		require.Empty(t, l.WebhookDeliveries)
		require.Zero(t, hook.accepted.Load(), "no connection was ever opened to the receiver")
	})
}
