package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/app"
)

// scrape is one read of /metrics, parsed.
type scrape map[string]*dto.MetricFamily

func (b *testBundle) scrape(t *testing.T, token string) scrape {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, b.baseURL+"/metrics", nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := b.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

// value is the sum of the family's samples whose labels include labels
// (a counter's or gauge's value, a histogram's count).
func (s scrape) value(name string, labels map[string]string) float64 {
	f := s[name]
	if f == nil {
		return 0
	}
	var sum float64
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// delta is how much a sample moved between two scrapes.
func delta(before, after scrape, name string, labels map[string]string) float64 {
	return after.value(name, labels) - before.value(name, labels)
}

// TestMetricsAfterRuns drives runs over HTTP and reads /metrics before and
// after: requests by route pattern, runs by technique and status, pickup
// latency, step durations by model, credits, webhook attempts and open
// streams each moved by what the runs did, and no series is named after
// a raw path.
func TestMetricsAfterRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	before := b.scrape(t, "")

	// One run that completes (1 credit charged), with a webhook that
	// succeeds; one that fails on its input (5 credits refunded), with a
	// webhook whose receiver answers 410.
	ok := statusHookReceiver(t, http.StatusOK)
	gone := statusHookReceiver(t, http.StatusGone)
	p := promptRun("a harbour")
	p.CallbackURL = ok.hookURL()
	done, err := b.client.Runs.Create(ctx, "prompt-expander", p)
	require.NoError(t, err)
	bad := portraitRun(b.imageURL("notes.txt"))
	bad.CallbackURL = gone.hookURL()
	failed, err := b.client.Runs.Create(ctx, "portrait-enhancer", bad)
	require.NoError(t, err)
	require.Equal(t, client.StatusCompleted, b.wait(t, b.client, "prompt-expander", done.RunID).Status)
	require.Equal(t, client.StatusFailed, b.wait(t, b.client, "portrait-enhancer", failed.RunID).Status)
	waitDelivery(t, b.client, done.RunID, func(d deliveryJSON) bool { return d.State == "succeeded" })
	waitDelivery(t, b.client, failed.RunID, func(d deliveryJSON) bool { return d.State == "failed" })
	polls := 3
	for range polls {
		_, err := b.client.Runs.Get(ctx, "prompt-expander", done.RunID)
		require.NoError(t, err)
	}
	_, err = b.client.Runs.Get(ctx, "prompt-expander", "run_missing")
	apiError(t, err, http.StatusNotFound, "not_found")

	after := b.scrape(t, "")
	poll := map[string]string{"route": "/api/v1/techniques/{technique}/runs/{runID}", "method": "GET"}
	require.GreaterOrEqual(t, delta(before, after, "flora_http_request_duration_seconds", withStatus(poll, "200")), float64(polls))
	require.Equal(t, 1.0, delta(before, after, "flora_http_request_duration_seconds", withStatus(poll, "404")))
	require.Equal(t, 2.0, delta(before, after, "flora_http_request_duration_seconds",
		map[string]string{"route": "/api/v1/techniques/{technique}/runs", "method": "POST", "status": "200"}))
	for _, m := range after["flora_http_request_duration_seconds"].GetMetric() {
		for _, l := range m.GetLabel() {
			require.NotContains(t, l.GetValue(), "run_", "a label holds a raw path")
		}
	}

	require.Equal(t, 1.0, delta(before, after, "flora_runs_created_total", map[string]string{"technique": "prompt-expander"}))
	require.Equal(t, 1.0, delta(before, after, "flora_runs_finished_total",
		map[string]string{"technique": "prompt-expander", "status": "completed", "error_code": ""}))
	require.Equal(t, 1.0, delta(before, after, "flora_runs_finished_total",
		map[string]string{"technique": "portrait-enhancer", "status": "failed", "error_code": "input_invalid"}))
	require.Equal(t, 2.0, delta(before, after, "flora_run_pickup_seconds", nil))
	require.Equal(t, 1.0, delta(before, after, "flora_step_duration_seconds", map[string]string{"model": "text.template", "outcome": "ok"}))
	require.Equal(t, 6.0, delta(before, after, "flora_credits_total", map[string]string{"kind": "reserved"}))
	require.Equal(t, 1.0, delta(before, after, "flora_credits_total", map[string]string{"kind": "charged"}))
	require.Equal(t, 5.0, delta(before, after, "flora_credits_total", map[string]string{"kind": "refunded"}))
	require.Equal(t, 1.0, delta(before, after, "flora_webhook_attempts_total", map[string]string{"outcome": "success"}))
	require.Equal(t, 1.0, delta(before, after, "flora_webhook_attempts_total", map[string]string{"outcome": "gone"}))
	require.Zero(t, after.value("flora_runs_open", map[string]string{"status": "pending"}))
	require.Zero(t, after.value("flora_runs_open", map[string]string{"status": "running"}))
	require.Zero(t, after.value("flora_open_streams", nil))
	require.Positive(t, after.value("go_goroutines", nil), "the Go collector is registered")

	// An open stream counts while it is open.
	g := newGatedImages(t)
	r := b.startGatedRun(t, g)
	s, err := b.client.Runs.Events(ctx, "portrait-enhancer", r.RunID, "")
	require.NoError(t, err)
	_, err = s.Next()
	require.NoError(t, err)
	open := b.scrape(t, "")
	require.Equal(t, 1.0, open.value("flora_open_streams", nil))
	require.Equal(t, 1.0, open.value("flora_runs_open", map[string]string{"status": "running"}))
	g.open()
	_, err = s.ReadAll()
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.Eventually(t, func() bool { return b.scrape(t, "").value("flora_open_streams", nil) == 0 },
		patience, 20*time.Millisecond, "the stream's gauge went back to 0")
}

func withStatus(labels map[string]string, status string) map[string]string {
	out := map[string]string{"status": status}
	for k, v := range labels {
		out[k] = v
	}
	return out
}

// TestMetricsQueueDepth: runs no worker picks up are the queue depth.
func TestMetricsQueueDepth(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOpts{configure: func(c *app.Config) { c.Workers = false }})
	for i := range 3 {
		_, err := b.client.Runs.Create(context.Background(), "prompt-expander", promptRun(strings.Repeat("x", i+1)))
		require.NoError(t, err)
	}
	s := b.scrape(t, "")
	require.Equal(t, 3.0, s.value("flora_runs_open", map[string]string{"status": "pending"}))
	require.Zero(t, s.value("flora_run_pickup_seconds", nil))
}

// TestMetricsToken: with a token, /metrics refuses requests without it in
// the API's error shape; with metrics off it is not served.
func TestMetricsToken(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOpts{configure: func(c *app.Config) { c.MetricsToken = "s3cret-token" }})
	for _, auth := range []string{"", "Bearer nope", "Bearer " + b.key} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, b.baseURL+"/metrics", nil)
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := b.http.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, auth)
	}
	require.Contains(t, b.scrape(t, "s3cret-token"), "flora_runs_open")

	off := setupWith(t, setupOpts{configure: func(c *app.Config) { c.NoMetrics = true }})
	resp, err := off.http.Get(off.baseURL + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Nil(t, off.app.Metrics)
}

// TestMetricsWorkerListener: a worker-only process serves /metrics on
// --metrics-addr, and the runs it executed are counted there.
func TestMetricsWorkerListener(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOpts{configure: func(c *app.Config) {
		c.NoAPI = true
		c.MetricsAddr = "127.0.0.1:0"
	}})
	require.NotEmpty(t, b.app.MetricsAddr())
	require.Empty(t, b.app.Addr(), "no API listener")
	r, _, err := b.app.Runs.Create(context.Background(), benchRunParams(b.wsID))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := b.app.Store.RunGetByID(context.Background(), r.ID)
		require.NoError(t, err)
		return got.Finished()
	}, patience, 20*time.Millisecond)

	w := &testBundle{baseURL: "http://" + b.app.MetricsAddr(), http: b.http}
	s := w.scrape(t, "")
	require.Equal(t, 1.0, s.value("flora_runs_finished_total", map[string]string{"technique": "prompt-expander", "status": "completed"}))
	require.Equal(t, 1.0, s.value("flora_run_pickup_seconds", nil))

	// A plain client: the checking one would rightly object that the API
	// document's listTechniques never answers 404.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(w.baseURL + "/api/v1/techniques")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "the metrics listener serves /metrics only")
}
