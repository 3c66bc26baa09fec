package api

import (
	"net/http"
	"sync"

	"github.com/go-chi/chi/v5"
)

// metricsGet serves /metrics, behind the metrics token when there is one.
// It sits outside /api/v1: it is the operator's, not a workspace's, and
// takes no API key.
func (s *Server) metricsGet(w http.ResponseWriter, r *http.Request) error {
	if s.metrics == nil {
		return errNotFound("Metrics are turned off on this server.")
	}
	s.metrics.ServeHTTP(w, r)
	return nil
}

// routeNames maps chi's route pattern pieces to the whole pattern, so that
// naming a request's route costs a map read: chi's RoutePattern joins the
// pieces anew on every call.
type routeNames struct {
	mu    sync.RWMutex
	names map[[2]string]string
}

// routeName is the request's route pattern ("/api/v1/techniques/{technique}"),
// the label requests are counted under: never the raw path, which would
// make a series per run. A request no route matched is "unmatched".
func (s *Server) routeName(r *http.Request) string {
	rc := chi.RouteContext(r.Context())
	if rc == nil || len(rc.RoutePatterns) == 0 {
		return "unmatched"
	}
	if len(rc.RoutePatterns) > 2 {
		return rc.RoutePattern() // no route of ours nests deeper
	}
	var key [2]string
	copy(key[:], rc.RoutePatterns)
	s.routeNames.mu.RLock()
	name, ok := s.routeNames.names[key]
	s.routeNames.mu.RUnlock()
	if ok {
		return name
	}
	name = rc.RoutePattern()
	if name == "/api/v1/*" || name == "/api/v1" {
		// The sub-router matched and no route in it: a 404 or 405.
		name = "unmatched"
	}
	s.routeNames.mu.Lock()
	if s.routeNames.names == nil {
		s.routeNames.names = map[[2]string]string{}
	}
	s.routeNames.names[key] = name
	s.routeNames.mu.Unlock()
	return name
}
