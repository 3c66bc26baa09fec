package api

import (
	"math"

	"github.com/florad/florad/internal/technique"
)

type techniqueJSON struct {
	TechniqueID string   `json:"technique_id"`
	Slug        string   `json:"slug"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	RunCost     float64  `json:"run_cost"`
	RunCredits  int64    `json:"run_credits"`
	Inputs      []ioJSON `json:"inputs"`
	Outputs     []ioJSON `json:"outputs"`
	Available   bool     `json:"available"`
	// UnavailableReason says why runs cannot start now.
	UnavailableReason string `json:"unavailable_reason,omitempty"`
}

type ioJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	Optional    bool   `json:"optional,omitempty"`
}

// usd converts credits to the API's USD figures, rounded to a millionth so
// float noise never shows.
func (s *Server) usd(credits int64) float64 {
	return math.Round(float64(credits)*s.CreditPriceUSD*1e6) / 1e6
}

func (s *Server) techniqueJSON(t *technique.Technique) techniqueJSON {
	out := techniqueJSON{TechniqueID: t.ID, Slug: t.Slug, Name: t.Name, Description: t.Description,
		RunCost: s.usd(t.Credits), RunCredits: t.Credits, Available: t.Unavailable == "",
		UnavailableReason: t.Unavailable}
	for _, in := range t.Inputs {
		out.Inputs = append(out.Inputs, ioJSON{ID: in.ID, Name: in.Name, Type: in.Type, Description: in.Description, Optional: in.Optional})
	}
	for _, o := range t.Outputs {
		out.Outputs = append(out.Outputs, ioJSON{ID: o.ID, Name: o.Name, Type: o.Type, Description: o.Description})
	}
	return out
}
