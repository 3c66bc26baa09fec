package api

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/florad/florad/internal/console"
)

// consoleRedirect sends /console to /console/, so that the page's relative
// links resolve under it.
func (s *Server) consoleRedirect(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
	return nil
}

// consoleGet serves the web console's embedded files. They need no key:
// the page asks for one and sends it with its API calls.
func (s *Server) consoleGet(w http.ResponseWriter, r *http.Request) error {
	err := s.console.Serve(w, r, chi.URLParam(r, "*"))
	if errors.Is(err, console.ErrNotFound) {
		return errNotFound("The console has no file " + r.URL.Path + ".")
	}
	return err
}
