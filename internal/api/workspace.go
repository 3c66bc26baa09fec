package api

import (
	"encoding/base64"
	"net/http"
	"strconv"

	"github.com/florad/florad/internal/validation"
)

type workspaceJSON struct {
	WorkspaceID   string         `json:"workspace_id"`
	Name          string         `json:"name"`
	CreditBalance int64          `json:"credit_balance"`
	CreditPrice   float64        `json:"credit_price_usd"`
	Limits        map[string]any `json:"limits"`
	CreatedAt     int64          `json:"created_at"`
	Key           keyJSON        `json:"key"`
}

// keyJSON describes the key the request came with.
type keyJSON struct {
	KeyID            string   `json:"key_id"`
	Source           string   `json:"source"`
	Scopes           []string `json:"scopes"`
	MaxCreditsPerDay *int64   `json:"max_credits_per_day"`
	SpentToday       int64    `json:"credits_spent_today"`
}

// workspaceGet serves GET /api/v1/workspace: the key's workspace.
func (s *Server) workspaceGet(w http.ResponseWriter, r *http.Request) error {
	p := principal(r.Context())
	ws, err := s.Workspaces.Get(r.Context(), p.WorkspaceID)
	if err != nil {
		return err
	}
	spent, err := s.Workspaces.SpentToday(r.Context(), p.KeyID)
	if err != nil {
		return err
	}
	limits := map[string]any{"max_body_bytes": s.MaxBodyBytes, "max_inputs": 100, "max_text_length": 10000}
	if s.limiter != nil {
		limits["requests_per_second"] = float64(s.limiter.limit)
		limits["request_burst"] = s.limiter.burst
	}
	if err := s.assetLimits(r.Context(), ws.ID, limits); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, workspaceJSON{WorkspaceID: ws.ID, Name: ws.Name, CreditBalance: ws.Balance,
		CreditPrice: s.CreditPriceUSD, CreatedAt: ws.CreatedAt, Limits: limits,
		Key: keyJSON{KeyID: p.KeyID, Source: p.Source, Scopes: p.Scopes, MaxCreditsPerDay: p.MaxCreditsPerDay, SpentToday: spent}})
	return nil
}

type ledgerEntryJSON struct {
	ID           string `json:"id"`
	Kind         string `json:"kind"`
	Amount       int64  `json:"amount"`
	BalanceAfter int64  `json:"balance_after"`
	RunID        string `json:"run_id,omitempty"`
	Memo         string `json:"memo,omitempty"`
	CreatedAt    int64  `json:"created_at"`
}

type ledgerJSON struct {
	Entries []ledgerEntryJSON `json:"ledger_entries"`
	Meta    listMeta          `json:"meta"`
}

// workspaceLedger serves GET /api/v1/workspace/ledger, oldest first: each
// credit movement with the balance it left.
func (s *Server) workspaceLedger(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	var after int64
	if cursor != "" {
		if after, err = strconv.ParseInt(cursor, 10, 64); err != nil {
			return validation.New("cursor", "is not a cursor this API returned")
		}
	}
	entries, more, err := s.Workspaces.Ledger(r.Context(), principal(r.Context()).WorkspaceID, after, limit)
	if err != nil {
		return err
	}
	out := ledgerJSON{Entries: []ledgerEntryJSON{}}
	for _, e := range entries {
		out.Entries = append(out.Entries, ledgerEntryJSON{ID: "led_" + strconv.FormatInt(e.Seq, 10), Kind: e.Kind,
			Amount: e.Amount, BalanceAfter: e.BalanceAfter, RunID: e.RunID, Memo: e.Memo, CreatedAt: e.CreatedAt})
	}
	if more {
		c := base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(entries[len(entries)-1].Seq, 10)))
		out.Meta.NextCursor = &c
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
