package run

import (
	"context"

	"github.com/florad/florad/internal/store"
)

// CodeRunCanceled is the error_code of a canceled run.
const CodeRunCanceled = "run_canceled"

// Cancel ends a pending or running run as failed with run_canceled, refunds
// it and records the event, all in one transaction; the worker executing it
// notices within a moment and stops its step. Canceling a run that already
// ended returns it unchanged.
func (s *Service) Cancel(ctx context.Context, workspaceID, techniqueRef, runID string) (*store.Run, error) {
	r, _, err := s.Get(ctx, workspaceID, techniqueRef, runID)
	if err != nil || r.Finished() {
		return r, err
	}
	return s.finish(ctx, r.ID, 0, Outcome{Status: store.RunFailed, ErrorCode: CodeRunCanceled,
		ErrorMessage: "The run was canceled."}, nil)
}
