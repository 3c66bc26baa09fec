package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// runCancel serves POST /api/v1/techniques/{technique}/runs/{runID}/cancel.
func (s *Server) runCancel(w http.ResponseWriter, r *http.Request) error {
	run, err := s.Runs.Cancel(r.Context(), principal(r.Context()).WorkspaceID,
		chi.URLParam(r, "technique"), chi.URLParam(r, "runID"))
	if err != nil {
		return err
	}
	return s.writeRun(w, r, http.StatusOK, run)
}
