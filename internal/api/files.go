package api

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/florad/florad/internal/blob"
)

// fileGet serves local output files behind their signed, expiring URLs.
func (s *Server) fileGet(w http.ResponseWriter, r *http.Request) error {
	if s.Files == nil {
		return errNotFound("Not found.")
	}
	err := s.Files.ServeFile(w, r, chi.URLParam(r, "*"))
	switch {
	case errors.Is(err, blob.ErrBadSignature):
		return errForbidden("The file URL's signature is invalid.")
	case errors.Is(err, blob.ErrExpired):
		return errForbidden("The file URL has expired; fetch the run again for a fresh one.")
	case errors.Is(err, blob.ErrNotFound):
		return errNotFound("Not found.")
	}
	return err
}
