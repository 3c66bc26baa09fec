package run

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/florad/florad/internal/ident"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/technique"
	"github.com/florad/florad/internal/validation"
)

// CreateParams is a validated-in-shape request to start a run.
type CreateParams struct {
	WorkspaceID    string
	Technique      string // slug or tech_ id
	Inputs         []technique.RequestInput
	Mode           string
	CallbackURL    string
	IdempotencyKey string
	// KeyID is the API key creating the run: its spend of the day counts
	// the run's credits, refused past MaxCreditsPerDay (nil: no cap).
	KeyID            string
	MaxCreditsPerDay *int64
}

// Create starts a run, or returns the existing run when the idempotency key
// was used before for the same request (replayed is then true).
//
// The run row, the credit reservation and the River job commit in one
// transaction, so a run is never created unpaid or paid but never executed.
// Idempotency is decided by the unique index on (workspace, key): of any
// number of identical requests arriving at once, one insert wins and the
// others fail on the constraint, roll back, and answer with the winner.
func (s *Service) Create(ctx context.Context, p *CreateParams) (r *store.Run, replayed bool, err error) {
	t, err := s.technique(ctx, p.WorkspaceID, p.Technique)
	if err != nil {
		return nil, false, err
	}
	if t.Unavailable != "" {
		return nil, false, fmt.Errorf("%w: %s", ErrTechniqueUnavailable, t.Unavailable)
	}
	requested, resolved, err := s.resolveInputs(ctx, p)
	if err != nil {
		return nil, false, err
	}
	checkURL := func(v string) error {
		if resolved[v] {
			return nil
		}
		return s.CheckURL(v)
	}
	inputs, err := t.CheckInputs(requested, s.Limits, checkURL)
	if err != nil {
		return nil, false, err
	}
	fp := fingerprint(t.ID, inputs)

	// A conflict whose winner then rolled back (it could not pay) leaves no
	// run to replay; trying again lets this request take the key.
	for range 3 {
		now := s.now()
		params := &store.RunInsertParams{
			ID:               ident.New("run_", now),
			WorkspaceID:      p.WorkspaceID,
			TechniqueID:      t.ID,
			TechniqueSlug:    t.Slug,
			TechniqueVersion: t.Version,
			Inputs:           inputs,
			Mode:             p.Mode,
			CallbackURL:      p.CallbackURL,
			IdempotencyKey:   p.IdempotencyKey,
			Fingerprint:      fp,
			Credits:          t.Credits,
			CreatedAt:        now.UnixMilli(),
			LeaseUntil:       now.Add(s.lease()).UnixMilli(),
			KeyID:            p.KeyID,
		}
		err = s.Store.InTxGrouped(ctx, func(tx store.Tx) error {
			var err error
			r, err = s.createTx(ctx, tx, t, p, params)
			return err
		})
		if err == nil {
			s.Metrics.RunCreated(t.Slug, t.Credits)
			return r, false, nil
		}
		if !errors.Is(err, store.ErrAlreadyExists) || p.IdempotencyKey == "" {
			return nil, false, err
		}
		existing, gerr := s.Store.RunGetByIdempotencyKey(ctx, p.WorkspaceID, p.IdempotencyKey)
		if errors.Is(gerr, store.ErrNotFound) {
			continue
		}
		if gerr != nil {
			return nil, false, gerr
		}
		if existing.Fingerprint != fp {
			return nil, false, ErrIdempotencyConflict
		}
		return existing, true, nil
	}
	return nil, false, fmt.Errorf("error creating run: idempotency key kept changing hands: %w", err)
}

// createTx writes one run in tx: its River job first, so that the run is
// born owned by it, then the run with its created event and its payment
// (the key's daily spend and the workspace's reservation), which the store
// makes in one statement where the database allows.
func (s *Service) createTx(ctx context.Context, tx store.Tx, t *technique.Technique, p *CreateParams,
	params *store.RunInsertParams) (*store.Run, error) {
	job, err := s.Jobs.InsertTx(ctx, tx.SQLTx(), ExecuteArgs{RunID: params.ID}, s.jobOpts())
	if err != nil {
		return nil, fmt.Errorf("error enqueueing run: %w", err)
	}
	params.JobID = job.Job.ID
	created, err := json.Marshal(deltaOf(&store.Run{ID: params.ID, Status: store.RunPending}))
	if err != nil {
		return nil, fmt.Errorf("error encoding %s event: %w", EventCreated, err)
	}
	params.FirstEvent = &store.RunEventInsertParams{RunID: params.ID, Type: EventCreated, Data: created,
		CreatedAt: params.CreatedAt}
	if t.Credits > 0 {
		// The key's cap is a guard of the same statement as the
		// reservation, so concurrent creates never pass it, and a refusal
		// rolls back the reservation with the rest.
		params.Payment = &store.Payment{Entry: &store.CreditsApplyParams{
			WorkspaceID: p.WorkspaceID, RunID: params.ID, Kind: store.LedgerReserve,
			Amount: -t.Credits, Memo: t.Slug, CreatedAt: params.CreatedAt,
		}}
		if p.KeyID != "" {
			params.Payment.Spend = &store.KeySpendParams{KeyID: p.KeyID, Day: store.SpendDay(params.CreatedAt),
				Credits: t.Credits, Cap: p.MaxCreditsPerDay}
		}
	}
	return tx.RunInsert(ctx, params)
}

// resolveInputs replaces the media values that name florad's own files by
// blob references. resolved holds the references it made, the only blob
// references CheckInputs lets through: a client cannot name a blob itself.
// The fingerprint is taken after, so an asset given by id or by URL is the
// same request.
func (s *Service) resolveInputs(ctx context.Context, p *CreateParams) ([]technique.RequestInput, map[string]bool, error) {
	if s.Inputs == nil {
		return p.Inputs, nil, nil
	}
	out := make([]technique.RequestInput, len(p.Inputs))
	resolved := map[string]bool{}
	v := &validation.Error{}
	for i, in := range p.Inputs {
		out[i] = in
		typ, ok := technique.CanonicalType(in.Type)
		if !ok || !technique.IsMedia(typ) {
			continue
		}
		ref, handled, err := s.Inputs.ResolveInput(ctx, p.WorkspaceID, typ, in.Value)
		var ve *validation.Error
		switch {
		case errors.As(err, &ve) && len(ve.Fields) > 0:
			v.Add(fmt.Sprintf("inputs[%d].value", i), ve.Fields[0].Message)
		case err != nil:
			return nil, nil, err
		case handled:
			out[i].Value = ref
			resolved[ref] = true
		}
	}
	if err := v.Err(); err != nil {
		return nil, nil, err
	}
	return out, resolved, nil
}

// fingerprint identifies "the same request" for idempotency: the technique
// and the inputs, in canonical order and spelling. Mode and callback are
// delivery choices, not the request, so they do not count.
func fingerprint(techniqueID string, inputs []store.RunInput) string {
	h := sha256.New()
	h.Write([]byte(techniqueID))
	for _, in := range inputs {
		// Lengths make the encoding unambiguous whatever the values hold.
		fmt.Fprintf(h, "\x00%d:%s\x00%d:%s\x00%d:%s", len(in.ID), in.ID, len(in.Type), in.Type, len(in.Value), in.Value)
	}
	return hex.EncodeToString(h.Sum(nil))
}
