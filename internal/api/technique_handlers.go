package api

import (
	"encoding/base64"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/florad/florad/internal/validation"
)

type listMeta struct {
	NextCursor *string `json:"next_cursor"`
}

type techniqueListJSON struct {
	Techniques []techniqueJSON `json:"techniques"`
	Meta       listMeta        `json:"meta"`
}

// pageParams reads limit (1–100, default 20) and the opaque cursor.
func pageParams(r *http.Request) (limit int, cursor string, err error) {
	v := &validation.Error{}
	limit = 20
	if s := r.URL.Query().Get("limit"); s != "" {
		n, perr := strconv.Atoi(s)
		if perr != nil || n < 1 || n > 100 {
			v.Add("limit", "must be an integer from 1 to 100")
		}
		limit = n
	}
	if c := r.URL.Query().Get("cursor"); c != "" {
		b, derr := base64.RawURLEncoding.DecodeString(c)
		if derr != nil || len(b) == 0 {
			v.Add("cursor", "is not a cursor this API returned")
		}
		cursor = string(b)
	}
	return limit, cursor, v.Err()
}

func (s *Server) techniqueList(w http.ResponseWriter, r *http.Request) error {
	limit, after, err := pageParams(r)
	if err != nil {
		return err
	}
	page, more, err := s.Techniques.List(r.Context(), principal(r.Context()).WorkspaceID, r.URL.Query().Get("query"), after, limit)
	if err != nil {
		return err
	}
	out := techniqueListJSON{Techniques: make([]techniqueJSON, 0, len(page))}
	for _, t := range page {
		out.Techniques = append(out.Techniques, s.techniqueJSON(t))
	}
	if more {
		c := base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].Slug))
		out.Meta.NextCursor = &c
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) techniqueGet(w http.ResponseWriter, r *http.Request) error {
	t, ok, err := s.Techniques.Get(r.Context(), principal(r.Context()).WorkspaceID, chi.URLParam(r, "technique"))
	if err != nil {
		return err
	}
	if !ok {
		return errNotFound("No technique with this slug or id.")
	}
	writeJSON(w, http.StatusOK, s.techniqueJSON(t))
	return nil
}
