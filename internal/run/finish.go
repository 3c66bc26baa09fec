package run

import (
	"context"
	"fmt"

	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/webhook"
)

// Outcome is how a run ends.
type Outcome struct {
	Status       string // store.RunCompleted or store.RunFailed
	Outputs      []store.RunOutput
	ErrorCode    string
	ErrorMessage string
}

// FinishTx ends a run inside tx: the final status, and the money in the same
// transaction: a completed run's reservation becomes its charge, a failed
// run's is refunded. The ledger's unique (run, kind) index makes a second
// settlement impossible even if two processes raced to finish one run.
// When the run has a callback URL, its webhook delivery and the River job
// that sends it are inserted through jobs in the same transaction too, so
// the event goes out exactly when the end commits; jobs may be nil only
// for runs without one.
func FinishTx(ctx context.Context, tx store.Tx, jobs JobInserter, r *store.Run, o Outcome, at int64) (*store.Run, error) {
	p := &store.RunFinishParams{RunID: r.ID, Status: o.Status, Outputs: o.Outputs, At: at,
		ErrorCode: o.ErrorCode, ErrorMessage: o.ErrorMessage}
	if o.Status == store.RunCompleted {
		charged := r.Credits
		p.ChargedCredits = &charged
	}
	done, err := tx.RunFinish(ctx, p)
	if err != nil {
		return done, err
	}
	if done.CallbackURL != "" {
		if _, err := webhook.EnqueueTx(ctx, tx, jobs, done, at); err != nil {
			return nil, err
		}
	}
	if r.Credits == 0 {
		return done, nil
	}
	entry := &store.CreditsApplyParams{WorkspaceID: r.WorkspaceID, RunID: r.ID, Memo: r.TechniqueSlug, CreatedAt: at}
	if o.Status == store.RunCompleted {
		entry.Kind = store.LedgerCharge
	} else {
		entry.Kind, entry.Amount = store.LedgerRefund, r.Credits
	}
	if _, err := tx.CreditsApply(ctx, entry); err != nil {
		return nil, fmt.Errorf("error settling credits of run %s: %w", r.ID, err)
	}
	return done, nil
}
