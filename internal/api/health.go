package api

import (
	"net/http"
)

// healthz answers while the process is alive.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz answers 200 only when the store is reachable.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.Store.WorkspaceList(r.Context()); err != nil {
		return errUnavailable(err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}
