package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

func (s *Server) runGet(w http.ResponseWriter, r *http.Request) error {
	run, _, err := s.Runs.Get(r.Context(), principal(r.Context()).WorkspaceID,
		chi.URLParam(r, "technique"), chi.URLParam(r, "runID"))
	if err != nil {
		return err
	}
	return s.writeRun(w, r, http.StatusOK, run)
}
