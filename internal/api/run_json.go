package api

import (
	"context"
	"net/http"

	"github.com/florad/florad/internal/store"
)

// FloraVersionCamelCase is the Flora-Version a client sends to get the
// older camelCase run object (FLORA's API before 2026-05-15).
const FloraVersionCamelCase = "2026-05-11"

// runJSON is the run object in today's snake_case names.
type runJSON struct {
	RunID          string       `json:"run_id"`
	TechniqueID    string       `json:"technique_id"`
	Status         string       `json:"status"`
	Progress       int          `json:"progress"`
	CreatedAt      int64        `json:"created_at"`
	StartedAt      *int64       `json:"started_at,omitempty"`
	CompletedAt    *int64       `json:"completed_at,omitempty"`
	ChargedCost    *float64     `json:"charged_cost,omitempty"`
	ChargedCredits *int64       `json:"charged_credits,omitempty"`
	ErrorCode      string       `json:"error_code,omitempty"`
	ErrorMessage   string       `json:"error_message,omitempty"`
	Outputs        []outputJSON `json:"outputs"`
	PollURL        string       `json:"poll_url"`
}

type outputJSON struct {
	OutputID string `json:"output_id"`
	Type     string `json:"type"`
	URL      string `json:"url"`
	// ExpiresAt is when retention removes the output (its file); null
	// without retention, and for an output whose run has not ended.
	ExpiresAt *int64 `json:"expires_at"`
}

// runCamelJSON is the same object in the camelCase names of Flora-Version
// 2026-05-11.
type runCamelJSON struct {
	RunID          string            `json:"runId"`
	TechniqueID    string            `json:"techniqueId"`
	Status         string            `json:"status"`
	Progress       int               `json:"progress"`
	CreatedAt      int64             `json:"createdAt"`
	StartedAt      *int64            `json:"startedAt,omitempty"`
	CompletedAt    *int64            `json:"completedAt,omitempty"`
	ChargedCost    *float64          `json:"chargedCost,omitempty"`
	ChargedCredits *int64            `json:"chargedCredits,omitempty"`
	ErrorCode      string            `json:"errorCode,omitempty"`
	ErrorMessage   string            `json:"errorMessage,omitempty"`
	Outputs        []outputCamelJSON `json:"outputs"`
	PollURL        string            `json:"pollUrl"`
}

// outputCamelJSON keeps the older version's shape exactly: expires_at came
// later.
type outputCamelJSON struct {
	OutputID string `json:"outputId"`
	Type     string `json:"type"`
	URL      string `json:"url"`
}

// runJSON renders a run; media outputs get fresh signed URLs each time.
func (s *Server) runJSON(ctx context.Context, r *store.Run) (*runJSON, error) {
	out := &runJSON{RunID: r.ID, TechniqueID: r.TechniqueID, Status: r.Status, Progress: r.Progress,
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, CompletedAt: r.CompletedAt,
		ChargedCredits: r.ChargedCredits, ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage,
		Outputs: make([]outputJSON, 0, len(r.Outputs)),
		PollURL: s.PublicURL + "/api/v1/techniques/" + r.TechniqueSlug + "/runs/" + r.ID}
	if r.ChargedCredits != nil {
		cost := s.usd(*r.ChargedCredits)
		out.ChargedCost = &cost
	}
	if r.Status == store.RunCompleted {
		for _, o := range r.Outputs {
			j, err := s.outputJSON(ctx, o, r.CompletedAt)
			if err != nil {
				return nil, err
			}
			out.Outputs = append(out.Outputs, j)
		}
	}
	return out, nil
}

// outputJSON renders an output: text as it is, media as a fresh signed URL
// that expires with retention counted from the run's end (completedAt).
func (s *Server) outputJSON(ctx context.Context, o store.RunOutput, completedAt *int64) (outputJSON, error) {
	v := o.Text
	if o.BlobKey != "" {
		u, err := s.Blobs.URL(ctx, o.BlobKey, s.OutputURLTTL)
		if err != nil {
			return outputJSON{}, err
		}
		v = u
	}
	// Retention empties a run's outputs, text ones too.
	return outputJSON{OutputID: o.ID, Type: o.Type, URL: v, ExpiresAt: s.Assets.ExpiresAt(completedAt)}, nil
}

func (s *Server) writeRun(w http.ResponseWriter, r *http.Request, status int, run *store.Run) error {
	out, err := s.runJSON(r.Context(), run)
	if err != nil {
		return err
	}
	if r.Header.Get("Flora-Version") != FloraVersionCamelCase {
		writeJSON(w, status, out)
		return nil
	}
	camel := runCamelJSON{RunID: out.RunID, TechniqueID: out.TechniqueID, Status: out.Status, Progress: out.Progress,
		CreatedAt: out.CreatedAt, StartedAt: out.StartedAt, CompletedAt: out.CompletedAt, ChargedCost: out.ChargedCost,
		ChargedCredits: out.ChargedCredits, ErrorCode: out.ErrorCode, ErrorMessage: out.ErrorMessage,
		Outputs: make([]outputCamelJSON, 0, len(out.Outputs)), PollURL: out.PollURL}
	for _, o := range out.Outputs {
		camel.Outputs = append(camel.Outputs, outputCamelJSON{OutputID: o.OutputID, Type: o.Type, URL: o.URL})
	}
	writeJSON(w, status, camel)
	return nil
}
