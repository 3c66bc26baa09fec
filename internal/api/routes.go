package api

import (
	"net/http"

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
		return errMethodNotAllowed()
	}))

	r.Get("/healthz", s.handle(s.healthz))
	r.Get("/readyz", s.handle(s.readyz))
	r.Get("/files/*", s.handle(s.fileGet))

	// Every /api/v1 route authenticates, then counts against the rate limit.
	api := func(authenticate func(http.Handler) http.Handler) chi.Middlewares {
		if s.limiter == nil {
			return chi.Middlewares{authenticate}
		}
		return chi.Middlewares{authenticate, s.rateLimit}
	}
	r.Route("/api/v1", func(r chi.Router) {
		// Polls, the most frequent request, read the key and the run together.
		r.With(api(s.authenticatePoll)...).Get("/techniques/{technique}/runs/{runID}", s.handle(s.runGet))
		r.Group(func(r chi.Router) {
			r.Use(api(s.authenticate)...)
			r.Get("/techniques", s.handle(s.techniqueList))
			r.Get("/techniques/{technique}", s.handle(s.techniqueGet))
			r.Post("/techniques/{technique}/runs", s.handle(s.runCreate))
			r.Get("/techniques/{technique}/runs", s.handle(s.runList))
			r.Post("/techniques/{technique}/runs/{runID}/cancel", s.handle(s.runCancel))
			r.Get("/techniques/{technique}/runs/{runID}/events", s.handle(s.runEvents))
			r.Get("/technique-runs", s.handle(s.runList))
			r.Get("/workspace", s.handle(s.workspaceGet))
			r.Get("/workspace/ledger", s.handle(s.workspaceLedger))
			r.Get("/webhook-deliveries", s.handle(s.webhookDeliveryList))
			r.Post("/webhook-deliveries/{deliveryID}/redeliver", s.handle(s.webhookDeliveryRedeliver))
		})
	})
	return r
}
