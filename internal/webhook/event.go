package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/florad/florad/internal/store"
)

// APIVersion stamps the payload's contract, as FLORA's does.
const APIVersion = "2026-06-11"

// Event types: exactly one per run, when it ends.
const (
	EventRunCompleted = "run.completed"
	EventRunFailed    = "run.failed"
)

// RunTypeTechnique is data.run_type of technique runs.
const RunTypeTechnique = "technique"

// Event is the body of a delivery. It carries no outputs: the receiver
// fetches the run after verifying the signature.
type Event struct {
	// ID is the delivery's whd_ id; receivers deduplicate on it.
	ID         string `json:"id"`
	Type       string `json:"type"`
	APIVersion string `json:"api_version"`
	// CreatedAt is when the run ended, unix milliseconds.
	CreatedAt int64     `json:"created_at"`
	Data      EventData `json:"data"`
}

// EventData is the ended run.
type EventData struct {
	RunID       string `json:"run_id"`
	RunType     string `json:"run_type"`
	WorkspaceID string `json:"workspace_id"`
	TechniqueID string `json:"technique_id"`
	Status      string `json:"status"`
	// ErrorCode and ErrorMessage are present on failures only.
	ErrorCode    string `json:"error_code,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`
}

// EventType is the event a run's end sends: run.completed or run.failed.
func EventType(r *store.Run) (string, error) {
	switch r.Status {
	case store.RunCompleted:
		return EventRunCompleted, nil
	case store.RunFailed:
		return EventRunFailed, nil
	}
	return "", fmt.Errorf("run %s has not ended (status %q)", r.ID, r.Status)
}

// NewEvent is the event of the ended run r, created at (unix ms).
func NewEvent(id string, r *store.Run, at int64) (*Event, error) {
	typ, err := EventType(r)
	if err != nil {
		return nil, err
	}
	e := &Event{ID: id, Type: typ, APIVersion: APIVersion, CreatedAt: at, Data: EventData{
		RunID: r.ID, RunType: RunTypeTechnique, WorkspaceID: r.WorkspaceID, TechniqueID: r.TechniqueID,
		Status: r.Status,
	}}
	if r.Status == store.RunFailed {
		e.Data.ErrorCode, e.Data.ErrorMessage = r.ErrorCode, r.ErrorMessage
	}
	return e, nil
}

// Marshal returns the body bytes: compact JSON, no trailing newline, and
// <, > and & left as they are.
func (e *Event) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("error encoding webhook event: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
