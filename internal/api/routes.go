package api

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/florad/florad/internal/auth"
)

// routes is the whole route table.
func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(s.requestIDMiddleware, s.accessLog, s.recoverer)
	r.NotFound(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return errNotFound("No route matches " + r.Method + " " + r.URL.Path + ".")
	}))
	r.MethodNotAllowed(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		allowed := s.allowedMethods(r)
		if len(allowed) == 0 {
			// A method chi does not know, on a path we do not serve.
			return errNotFound("No route matches " + r.Method + " " + r.URL.Path + ".")
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		return errMethodNotAllowed()
	}))

	get(r, "/healthz", s.handle(s.healthz))
	get(r, "/readyz", s.handle(s.readyz))
	get(r, "/files/*", s.handle(s.fileGet))
	get(r, "/metrics", s.handle(s.metricsGet))
	get(r, "/console", s.handle(s.consoleRedirect))
	get(r, "/console/*", s.handle(s.consoleGet))
	// Providers' webhooks carry their own signature, not an API key: they
	// are no part of the public API under /api/v1.
	r.Post("/provider-webhooks/replicate", s.handle(s.replicateWebhook))

	// Every /api/v1 route authenticates, then counts against the rate
	// limit; its endpoint (need) checks the scope the route needs.
	api := func(authenticate func(http.Handler) http.Handler) chi.Middlewares {
		if s.limiter == nil {
			return chi.Middlewares{authenticate}
		}
		return chi.Middlewares{authenticate, s.rateLimit}
	}
	r.Route("/api/v1", func(r chi.Router) {
		get(r, "/openapi.json", s.handle(s.openAPIGet))
		// Polls, the most frequent request, read the key and the run together.
		get(r.With(api(s.authenticatePoll)...), "/techniques/{technique}/runs/{runID}", s.need(auth.ScopeRunsRead, s.runGet))
		r.Group(func(r chi.Router) {
			r.Use(api(s.authenticate)...)
			get(r, "/techniques", s.need(auth.ScopeTechniquesRead, s.techniqueList))
			get(r, "/techniques/{technique}", s.need(auth.ScopeTechniquesRead, s.techniqueGet))
			r.Method(http.MethodPost, "/techniques/{technique}/runs", s.need(auth.ScopeRunsWrite, s.runCreate))
			get(r, "/techniques/{technique}/runs", s.need(auth.ScopeRunsRead, s.runList))
			r.Method(http.MethodPost, "/techniques/{technique}/runs/{runID}/cancel", s.need(auth.ScopeRunsWrite, s.runCancel))
			get(r, "/techniques/{technique}/runs/{runID}/events", s.need(auth.ScopeRunsRead, s.runEvents))
			get(r, "/technique-runs", s.need(auth.ScopeRunsRead, s.runList))
			r.Method(http.MethodPost, "/assets", s.need(auth.ScopeRunsWrite, s.assetCreate))
			get(r, "/assets", s.need(auth.ScopeRunsRead, s.assetList))
			get(r, "/assets/{assetID}", s.need(auth.ScopeRunsRead, s.assetGet))
			get(r, "/workspace", s.need(anyKey, s.workspaceGet))
			get(r, "/workspace/ledger", s.need(anyKey, s.workspaceLedger))
			get(r, "/webhook-deliveries", s.need(auth.ScopeWebhooksManage, s.webhookDeliveryList))
			r.Method(http.MethodPost, "/webhook-deliveries/{deliveryID}/redeliver", s.need(auth.ScopeWebhooksManage, s.webhookDeliveryRedeliver))
		})
	})
	return r
}

// MetricsRoutes is the route table of a worker-only process's metrics
// listener: /metrics and nothing else, errors in the API's shape. A worker
// executes runs and sends webhooks, so its counts exist only there.
func (s *Server) MetricsRoutes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.requestIDMiddleware, s.recoverer)
	r.NotFound(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return errNotFound("No route matches " + r.Method + " " + r.URL.Path + "; this listener serves /metrics only.")
	}))
	get(r, "/metrics", s.handle(s.metricsGet))
	return r
}

// get registers a GET route and its HEAD, which answers the same status and
// headers without the body (net/http drops what the handler writes).
func get(r chi.Router, pattern string, h http.Handler) {
	r.Method(http.MethodGet, pattern, h)
	r.Method(http.MethodHead, pattern, h)
}

// allowedMethods lists the methods the route table has for the request's
// path, for the Allow header a 405 must carry (RFC 9110 15.5.6).
func (s *Server) allowedMethods(r *http.Request) []string {
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions} {
		if s.router.Match(chi.NewRouteContext(), m, path) {
			out = append(out, m)
		}
	}
	return out
}
