package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// TestNilIsOff: every method is a no-op on nil, which is how metrics are
// turned off.
func TestNilIsOff(t *testing.T) {
	var m *Metrics
	m.ObserveRequest("/x", "GET", 200, time.Millisecond)
	m.RunCreated("t", 1)
	m.RunStarted("t", 1, 2)
	m.RunFinished("t", "completed", "", 1, true)
	m.StepDone("m", time.Second, nil)
	m.WebhookAttempt(WebhookSuccess)
	m.StreamOpened()
	m.StreamClosed()
	m.CountOpenRuns(nil)
}

// requestCount is the sample count of one request series.
func requestCount(t *testing.T, m *Metrics, route, method, status string) uint64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != "flora_http_request_duration_seconds" {
			continue
		}
		for _, s := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range s.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["route"] == route && l["method"] == method && l["status"] == status {
				return s.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

// TestRequestLabels: a request is counted under its route, a known method
// (any other token is OTHER, so clients cannot make series) and status.
func TestRequestLabels(t *testing.T) {
	m := New()
	m.ObserveRequest("/api/v1/workspace", "GET", 200, time.Millisecond)
	m.ObserveRequest("/api/v1/workspace", "GET", 200, time.Millisecond)
	m.ObserveRequest("/api/v1/workspace", "BREW", 405, time.Millisecond)
	require.Equal(t, 2, testutil.CollectAndCount(m.requests))
	require.Equal(t, uint64(2), requestCount(t, m, "/api/v1/workspace", "GET", "200"))
	require.Equal(t, uint64(1), requestCount(t, m, "/api/v1/workspace", "OTHER", "405"))
}

// TestRunsAndCredits: ends count by status and move credits to charged
// or refunded; creates reserve.
func TestRunsAndCredits(t *testing.T) {
	m := New()
	m.RunCreated("a", 5)
	m.RunCreated("b", 2)
	m.RunFinished("a", "completed", "", 5, true)
	m.RunFinished("b", "failed", "input_invalid", 2, false)
	require.Equal(t, 7.0, testutil.ToFloat64(m.credits.WithLabelValues(CreditsReserved)))
	require.Equal(t, 5.0, testutil.ToFloat64(m.credits.WithLabelValues(CreditsCharged)))
	require.Equal(t, 2.0, testutil.ToFloat64(m.credits.WithLabelValues(CreditsRefunded)))
	require.Equal(t, 1.0, testutil.ToFloat64(m.runsFinished.WithLabelValues("b", "failed", "input_invalid")))
	m.StepDone("image.pipeline", time.Second, errors.New("x"))
	require.Equal(t, 1, testutil.CollectAndCount(m.steps))
}

// TestHandlerToken: with a token only its bearer is served; the open-run
// count is read at each scrape, and a failing count fails the scrape
// rather than show a wrong number.
func TestHandlerToken(t *testing.T) {
	m := New()
	var fail error
	m.CountOpenRuns(func(context.Context) (int64, int64, error) { return 4, 1, fail })
	refused := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	srv := httptest.NewServer(m.Handler("tok", refused))
	defer srv.Close()
	get := func(auth string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	status, _ := get("")
	require.Equal(t, http.StatusUnauthorized, status)
	status, _ = get("Bearer wrong")
	require.Equal(t, http.StatusUnauthorized, status)
	status, body := get("Bearer tok")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `flora_runs_open{status="pending"} 4`)
	require.Contains(t, body, `flora_runs_open{status="running"} 1`)
	fail = errors.New("database gone")
	status, _ = get("Bearer tok")
	require.Equal(t, http.StatusInternalServerError, status)
}

// BenchmarkObserveRequest is the per-request cost once a series exists:
// it must not allocate.
func BenchmarkObserveRequest(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRequest("/api/v1/techniques/{technique}/runs/{runID}", "GET", 200, time.Millisecond)
	}
}
