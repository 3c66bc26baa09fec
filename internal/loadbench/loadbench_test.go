package loadbench

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestQuantileIsNearestRank(t *testing.T) {
	t.Parallel()
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	require.Equal(t, 50*time.Millisecond, quantile(lat, 0.5))
	require.Equal(t, 99*time.Millisecond, quantile(lat, 0.99))
	require.Equal(t, 100*time.Millisecond, quantile(lat, 1))
	require.Equal(t, 1*time.Millisecond, quantile(lat, 0))
	require.Zero(t, quantile(nil, 0.99))
}

func TestParseCPULine(t *testing.T) {
	t.Parallel()
	// user nice system idle iowait irq softirq steal guest guest_nice
	busy, ok := parseCPULine([]byte("cpu  100 5 50 9000 40 3 2 1 7 0"))
	require.True(t, ok)
	require.Equal(t, 161*time.Second/clockTicks, busy)
	_, ok = parseCPULine([]byte("cpu0 1 2 3 4 5 6 7 8"))
	require.False(t, ok)
}

func TestMeasureKeepsOneConnectionPerWorker(t *testing.T) {
	t.Parallel()
	var opened atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	target := Target{Method: http.MethodGet, WantStatus: http.StatusOK, URL: func(int, int) string { return srv.URL }}
	s, err := Measure(t.Context(), target, 4, 50*time.Millisecond, 200*time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, 4, s.Dials)
	require.EqualValues(t, 4, opened.Load())
	require.Positive(t, s.Requests)
	require.Zero(t, s.Errors)
	require.True(t, slices.IsSorted(s.Latencies))
	require.GreaterOrEqual(t, s.Elapsed, 200*time.Millisecond)
	require.Positive(t, s.RPS())
}

func TestMeasureCountsUnexpectedStatusAsError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)

	target := Target{Method: http.MethodPost, WantStatus: http.StatusOK, URL: func(int, int) string { return srv.URL },
		Body: postBody("t")}
	s, err := Measure(t.Context(), target, 2, 10*time.Millisecond, 100*time.Millisecond)
	require.NoError(t, err)
	require.Zero(t, s.Requests)
	require.Positive(t, s.Errors)
	require.Contains(t, s.FirstError, "status 418")
}

func TestMeasureStopsWithItsContext(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	target := Target{Method: http.MethodGet, WantStatus: http.StatusOK, URL: func(int, int) string { return srv.URL }}
	_, err := Measure(ctx, target, 2, time.Hour, time.Hour)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestPostBodiesAreUniqueValidRequests(t *testing.T) {
	t.Parallel()
	body := postBody("3")
	seen := map[string]bool{}
	for w := range 3 {
		for n := range 3 {
			b := body(w, n)
			var req struct {
				Inputs []struct{ ID, Type, Value string }
				Mode   string
			}
			require.NoError(t, json.Unmarshal(b, &req))
			require.Equal(t, "async", req.Mode)
			require.Len(t, req.Inputs, 1)
			require.False(t, seen[string(b)])
			seen[string(b)] = true
		}
	}
}

func TestRowChecksTargets(t *testing.T) {
	t.Parallel()
	row := &Row{Scenario: ScenarioGet, Conns: 32,
		Florad:   Stats{RPS: 600, P99Ms: 12},
		Baseline: Stats{RPS: 1000, P99Ms: 10}}
	row.evaluate()
	require.InDelta(t, 0.6, row.ThroughputRatio, 1e-9)
	require.InDelta(t, 1.2, row.P99Ratio, 1e-9)
	require.False(t, row.Pass, "GET p99 of 12 ms is over the 10 ms limit")
	failed := map[string]bool{}
	for _, c := range row.Checks {
		failed[c.Name] = !c.Pass
	}
	require.Equal(t, map[string]bool{"throughput ratio": false, "p99 ratio": false, "errors": false, "GET p99": true}, failed)

	post := &Row{Scenario: ScenarioPost, Conns: 8,
		Florad:   Stats{RPS: 590, P99Ms: 1},
		Baseline: Stats{RPS: 1000, P99Ms: 1}}
	post.evaluate()
	require.False(t, post.Pass, "59% is under the POST target of 60%")
}

// TestRunEndToEnd runs the whole benchmark, briefly, with florad executing
// the runs too: every cell gets figures from both servers and no errors.
// The window is long enough for a POST of one connection to finish under
// the race detector on a loaded machine.
func TestRunEndToEnd(t *testing.T) {
	t.Parallel()
	rep, err := Run(t.Context(), Config{
		Duration: 600 * time.Millisecond, Warmup: 50 * time.Millisecond, Conns: []int{1, 4},
		Workers: true, AccessLog: true, GetRuns: 20, NoiseRetries: 0, TempDir: t.TempDir(),
	})
	require.NoError(t, err)
	require.Len(t, rep.Rows, 4)
	for _, row := range rep.Rows {
		for _, st := range []Stats{row.Florad, row.Baseline} {
			require.Positive(t, st.Requests, "%s c=%d", row.Scenario, row.Conns)
			require.Zero(t, st.Errors, "%s c=%d: %s", row.Scenario, row.Conns, st.FirstError)
			require.Equal(t, row.Conns, st.Dials, "%s c=%d", row.Scenario, row.Conns)
		}
		require.Positive(t, row.ThroughputRatio)
	}
	var out bytes.Buffer
	require.NoError(t, rep.WriteText(&out))
	require.Contains(t, out.String(), "POST create run")
	require.Contains(t, out.String(), "GET poll")
	_, err = json.Marshal(rep)
	require.NoError(t, err)
}

func TestRatiosOfSeveralRoundsArePaired(t *testing.T) {
	t.Parallel()
	// Round 2 ran while the machine was busy: both servers slowed down, and
	// its own ratio is as good as the others'.
	row := &Row{Scenario: ScenarioPost, Conns: 8,
		Florad:   Stats{RPS: 700, P99Ms: 2, RoundsRPS: []float64{700, 200, 720}, RoundsP99Ms: []float64{2, 9, 2}},
		Baseline: Stats{RPS: 1000, P99Ms: 2, RoundsRPS: []float64{1000, 290, 1000}, RoundsP99Ms: []float64{2, 6, 2}}}
	row.evaluate()
	require.InDelta(t, 0.70, row.ThroughputRatio, 1e-9)
	require.InDelta(t, 1.0, row.P99Ratio, 1e-9)
	require.True(t, row.Pass)
}
