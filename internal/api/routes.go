package api

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
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

	// Every /api/v1 route authenticates, then counts against the rate limit.
	api := func(authenticate func(http.Handler) http.Handler) chi.Middlewares {
		if s.limiter == nil {
			return chi.Middlewares{authenticate}
		}
		return chi.Middlewares{authenticate, s.rateLimit}
	}
	r.Route("/api/v1", func(r chi.Router) {
		// Providers' webhooks carry their own signature, not an API key.
		r.Post("/provider-webhooks/replicate", s.handle(s.replicateWebhook))
		// Polls, the most frequent request, read the key and the run together.
		get(r.With(api(s.authenticatePoll)...), "/techniques/{technique}/runs/{runID}", s.handle(s.runGet))
		r.Group(func(r chi.Router) {
			r.Use(api(s.authenticate)...)
			get(r, "/techniques", s.handle(s.techniqueList))
			get(r, "/techniques/{technique}", s.handle(s.techniqueGet))
			r.Post("/techniques/{technique}/runs", s.handle(s.runCreate))
			get(r, "/techniques/{technique}/runs", s.handle(s.runList))
			r.Post("/techniques/{technique}/runs/{runID}/cancel", s.handle(s.runCancel))
			get(r, "/techniques/{technique}/runs/{runID}/events", s.handle(s.runEvents))
			get(r, "/technique-runs", s.handle(s.runList))
			r.Post("/assets", s.handle(s.assetCreate))
			get(r, "/assets", s.handle(s.assetList))
			get(r, "/assets/{assetID}", s.handle(s.assetGet))
			get(r, "/workspace", s.handle(s.workspaceGet))
			get(r, "/workspace/ledger", s.handle(s.workspaceLedger))
			get(r, "/webhook-deliveries", s.handle(s.webhookDeliveryList))
			r.Post("/webhook-deliveries/{deliveryID}/redeliver", s.handle(s.webhookDeliveryRedeliver))
		})
	})
	return r
}

// get registers a GET route and its HEAD, which answers the same status and
// headers without the body (net/http drops what the handler writes).
func get(r chi.Router, pattern string, h http.HandlerFunc) {
	r.Get(pattern, h)
	r.Head(pattern, h)
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
