package api

import (
	"net/http"
)

// anyKey is the scope decision of routes any valid key may call.
const anyKey = ""

// scopedHandler is the endpoint of every /api/v1 route: the handler and
// the scope it needs, checked after authentication. Being a type of its
// own lets TestEveryRouteHasAScope walk the route table and find a route
// added without a decision.
type scopedHandler struct {
	scope string
	h     http.HandlerFunc
}

// need makes h the endpoint of a route that needs scope (anyKey: none
// beyond a valid key).
func (s *Server) need(scope string, h handlerFunc) *scopedHandler {
	return &scopedHandler{scope: scope, h: s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if scope != anyKey {
			if p := principal(r.Context()); p == nil || !p.Has(scope) {
				return errMissingScope(scope)
			}
		}
		return h(w, r)
	})}
}

func (h *scopedHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.h(w, r) }
