package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/florad/florad/internal/store"
)

func (s *Server) runGet(w http.ResponseWriter, r *http.Request) error {
	ws, technique := principal(r.Context()).WorkspaceID, chi.URLParam(r, "technique")
	var (
		run *store.Run
		err error
	)
	if pre := prefetchedRun(r.Context()); pre != nil {
		run, _, err = s.Runs.OfTechnique(r.Context(), ws, technique, pre)
	} else {
		run, _, err = s.Runs.Get(r.Context(), ws, technique, chi.URLParam(r, "runID"))
	}
	if err != nil {
		return err
	}
	return s.writeRun(w, r, http.StatusOK, run)
}
