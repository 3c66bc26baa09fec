// Package metrics holds florad's Prometheus metrics: one registry owned by
// the app (never the global one) and the few methods the API, the run
// service, the engine and the webhook deliverer call when something
// countable happens. Every method is safe on a nil *Metrics, which is how
// metrics are turned off: callers need no checks, and the off path costs a
// nil comparison.
package metrics

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the app's metrics and their registry.
type Metrics struct {
	// Registry holds florad's metrics and the Go runtime's and process's.
	Registry *prometheus.Registry

	requests        *prometheus.HistogramVec
	runsCreated     *prometheus.CounterVec
	runsFinished    *prometheus.CounterVec
	pickup          *prometheus.HistogramVec
	steps           *prometheus.HistogramVec
	webhookAttempts *prometheus.CounterVec
	credits         *prometheus.CounterVec
	streams         prometheus.Gauge

	// observers caches each (route, method, status)'s histogram child:
	// a request then costs a map read under a read lock, with no label
	// hashing and no allocation.
	mu        sync.RWMutex
	observers map[requestKey]prometheus.Observer
}

type requestKey struct {
	route, method string
	status        int
}

// Credit movements, the values of the kind label of flora_credits_total.
const (
	CreditsReserved = "reserved"
	CreditsCharged  = "charged"
	CreditsRefunded = "refunded"
)

// Webhook attempt outcomes, the values of the outcome label of
// flora_webhook_attempts_total.
const (
	WebhookSuccess      = "success"
	WebhookHTTPError    = "http_error"
	WebhookGone         = "gone"
	WebhookNetworkError = "network_error"
	WebhookRefused      = "refused"
)

// New makes the metrics on a registry of their own.
func New() *Metrics {
	latency := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	long := []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flora_http_request_duration_seconds",
			Help:    "HTTP requests by route pattern, method and status, with their latency (an event stream's lasts as long as the stream).",
			Buckets: latency}, []string{"route", "method", "status"}),
		runsCreated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flora_runs_created_total", Help: "Runs created, by technique slug."}, []string{"technique"}),
		runsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flora_runs_finished_total",
			Help: "Runs that ended (completed or failed), by technique slug, status and error code (empty when completed)."},
			[]string{"technique", "status", "error_code"}),
		pickup: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flora_run_pickup_seconds", Help: "Time from a run's creation to its start (running), by technique slug.",
			Buckets: long}, []string{"technique"}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flora_step_duration_seconds", Help: "Technique step executions by model and outcome (ok or error).",
			Buckets: long}, []string{"model", "outcome"}),
		webhookAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flora_webhook_attempts_total",
			Help: "Webhook delivery attempts by outcome: success, http_error, gone (410), network_error, refused (URL no longer allowed)."},
			[]string{"outcome"}),
		credits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flora_credits_total", Help: "Credits reserved by run creates, charged by completed runs and refunded by failed ones."},
			[]string{"kind"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flora_open_streams", Help: "Event streams open on this process."}),
		observers: map[requestKey]prometheus.Observer{},
	}
	m.Registry.MustRegister(m.requests, m.runsCreated, m.runsFinished, m.pickup, m.steps, m.webhookAttempts,
		m.credits, m.streams, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The kinds and outcomes exist from the start, at 0, so that a rate
	// over them is defined before the first event.
	for _, k := range []string{CreditsReserved, CreditsCharged, CreditsRefunded} {
		m.credits.WithLabelValues(k)
	}
	for _, o := range []string{WebhookSuccess, WebhookHTTPError, WebhookGone, WebhookNetworkError, WebhookRefused} {
		m.webhookAttempts.WithLabelValues(o)
	}
	return m
}

// ObserveRequest counts one HTTP request. route is the route pattern
// (never the raw path, which would make a series per run id).
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	k := requestKey{route: route, method: knownMethod(method), status: status}
	m.mu.RLock()
	o, ok := m.observers[k]
	m.mu.RUnlock()
	if !ok {
		o = m.requests.WithLabelValues(k.route, k.method, strconv.Itoa(status))
		m.mu.Lock()
		m.observers[k] = o
		m.mu.Unlock()
	}
	o.Observe(d.Seconds())
}

// knownMethod bounds the method label: a client may send any token.
func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodOptions:
		return m
	}
	return "OTHER"
}

// RunCreated counts a run created (not an idempotent replay) and the
// credits it reserved.
func (m *Metrics) RunCreated(technique string, credits int64) {
	if m == nil {
		return
	}
	m.runsCreated.WithLabelValues(technique).Inc()
	if credits > 0 {
		m.credits.WithLabelValues(CreditsReserved).Add(float64(credits))
	}
}

// RunStarted records a run's pickup latency: from its creation to its
// start, both unix milliseconds.
func (m *Metrics) RunStarted(technique string, createdAt, startedAt int64) {
	if m == nil {
		return
	}
	m.pickup.WithLabelValues(technique).Observe(float64(max(startedAt-createdAt, 0)) / 1000)
}

// RunFinished counts a run's end and what happened to its credits:
// charged when it completed, refunded otherwise.
func (m *Metrics) RunFinished(technique, status, errorCode string, credits int64, completed bool) {
	if m == nil {
		return
	}
	m.runsFinished.WithLabelValues(technique, status, errorCode).Inc()
	if credits <= 0 {
		return
	}
	kind := CreditsRefunded
	if completed {
		kind = CreditsCharged
	}
	m.credits.WithLabelValues(kind).Add(float64(credits))
}

// StepDone records one step execution of a model.
func (m *Metrics) StepDone(model string, d time.Duration, err error) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.steps.WithLabelValues(model, outcome).Observe(d.Seconds())
}

// WebhookAttempt counts one recorded delivery attempt.
func (m *Metrics) WebhookAttempt(outcome string) {
	if m == nil {
		return
	}
	m.webhookAttempts.WithLabelValues(outcome).Inc()
}

// StreamOpened and StreamClosed track the open event streams.
func (m *Metrics) StreamOpened() {
	if m != nil {
		m.streams.Inc()
	}
}

// StreamClosed: see StreamOpened.
func (m *Metrics) StreamClosed() {
	if m != nil {
		m.streams.Dec()
	}
}

// CountOpenRuns registers the queue depth: flora_runs_open, the runs
// waiting to start (status pending: the queue) and running, read with
// count at every scrape so that it is right across processes and
// restarts, which counting in memory would not be.
func (m *Metrics) CountOpenRuns(count func(ctx context.Context) (pending, running int64, err error)) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(&openRuns{count: count, desc: prometheus.NewDesc("flora_runs_open",
		"Runs not ended, by status: pending is the queue depth (created, not yet picked up), running are executing.",
		[]string{"status"}, nil)})
}

type openRuns struct {
	count func(ctx context.Context) (pending, running int64, err error)
	desc  *prometheus.Desc
}

func (o *openRuns) Describe(ch chan<- *prometheus.Desc) { ch <- o.desc }

func (o *openRuns) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pending, running, err := o.count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(o.desc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(o.desc, prometheus.GaugeValue, float64(pending), "pending")
	ch <- prometheus.MustNewConstMetric(o.desc, prometheus.GaugeValue, float64(running), "running")
}

// Handler serves the registry in Prometheus' text format. With a token,
// only requests carrying "Authorization: Bearer <token>" are served;
// others get 401 from unauthorized, which writes the API's error shape.
func (m *Metrics) Handler(token string, unauthorized http.Handler) http.Handler {
	h := promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			unauthorized.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
