package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/validation"
)

// runListItemJSON is FLORA's list item: the run object plus the fields the
// list adds.
type runListItemJSON struct {
	*runJSON
	TechniqueRunID string           `json:"technique_run_id"`
	WorkspaceID    string           `json:"workspace_id"`
	ProjectID      *string          `json:"project_id"`
	Technique      techniqueRefJSON `json:"technique"`
}

type techniqueRefJSON struct {
	TechniqueID string `json:"technique_id"`
	Name        string `json:"name"`
}

type runListJSON struct {
	TechniqueRuns []runListItemJSON `json:"technique_runs"`
	Meta          listMeta          `json:"meta"`
}

// runList serves GET /api/v1/technique-runs and
// GET /api/v1/techniques/{technique}/runs.
func (s *Server) runList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	v := &validation.Error{}
	p := &run.ListParams{WorkspaceID: principal(r.Context()).WorkspaceID, Technique: q.Get("technique_id")}
	if slug := chi.URLParam(r, "technique"); slug != "" {
		t, ok, err := s.Techniques.Get(r.Context(), p.WorkspaceID, slug)
		if err != nil {
			return err
		}
		if !ok {
			return errNotFound("No technique with this slug or id.")
		}
		if p.Technique != "" && p.Technique != t.ID && p.Technique != t.Slug {
			v.Add("technique_id", "does not match the technique in the path")
		}
		p.Technique = t.ID
	}
	switch st := q.Get("status"); st {
	case "", store.RunPending, store.RunRunning, store.RunCompleted, store.RunFailed:
		p.Status = st
	default:
		v.Add("status", "must be pending, running, completed or failed")
	}
	p.CreatedAfter = timeParam(v, q.Get("created_after"), "created_after")
	p.CreatedBefore = timeParam(v, q.Get("created_before"), "created_before")
	var after timeCursor
	p.Limit, after = newestFirstPage(q, v)
	p.CursorCreatedAt, p.CursorID = after.CreatedAt, after.ID
	if err := v.Err(); err != nil {
		return err
	}
	runs, more, err := s.Runs.List(r.Context(), p)
	if err != nil {
		return err
	}
	out := runListJSON{TechniqueRuns: make([]runListItemJSON, 0, len(runs))}
	for _, rr := range runs {
		rj, err := s.runJSON(r.Context(), rr)
		if err != nil {
			return err
		}
		name := ""
		if t, ok, _ := s.Techniques.Get(r.Context(), rr.WorkspaceID, rr.TechniqueID); ok {
			name = t.Name
		}
		out.TechniqueRuns = append(out.TechniqueRuns, runListItemJSON{runJSON: rj, TechniqueRunID: rr.ID,
			WorkspaceID: rr.WorkspaceID, Technique: techniqueRefJSON{TechniqueID: rr.TechniqueID, Name: name}})
	}
	if more {
		last := runs[len(runs)-1]
		out.Meta.NextCursor = nextCursor(last.CreatedAt, last.ID)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// timeParam accepts unix milliseconds (as the API reports times) or
// RFC 3339.
func timeParam(v *validation.Error, s, name string) *int64 {
	if s == "" {
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return &n
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		ms := t.UnixMilli()
		return &ms
	}
	v.Add(name, "must be unix milliseconds or an RFC 3339 time")
	return nil
}
