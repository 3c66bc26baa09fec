package run

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/florad/florad/internal/store"
)

// Run event types, as streamed to clients. The run service is the only
// writer of events and the only reader that decodes them: the store keeps
// their JSON without looking inside, and the API renders what this package
// hands it.
const (
	EventCreated   = "run.created"
	EventStarted   = "run.started"
	EventProgress  = "run.progress"
	EventOutput    = "run.output"
	EventCompleted = "run.completed"
	EventFailed    = "run.failed"
)

// Delta is the data of the lifecycle events (created, started, completed,
// failed): the run's fields that change over its life.
type Delta struct {
	RunID          string `json:"run_id"`
	Status         string `json:"status"`
	Progress       int    `json:"progress"`
	StartedAt      *int64 `json:"started_at,omitempty"`
	CompletedAt    *int64 `json:"completed_at,omitempty"`
	ChargedCredits *int64 `json:"charged_credits,omitempty"`
	ErrorCode      string `json:"error_code,omitempty"`
	ErrorMessage   string `json:"error_message,omitempty"`
}

func deltaOf(r *store.Run) Delta {
	return Delta{RunID: r.ID, Status: r.Status, Progress: r.Progress, StartedAt: r.StartedAt,
		CompletedAt: r.CompletedAt, ChargedCredits: r.ChargedCredits, ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage}
}

// ProgressData is the data of a run.progress event.
type ProgressData struct {
	RunID    string `json:"run_id"`
	Progress int    `json:"progress"`
	// StepID, ProviderStatus and QueuePosition are set when a provider
	// reported on a step's request: its state (IN_QUEUE, IN_PROGRESS, ...)
	// and the request's place in the provider's queue.
	StepID         string `json:"step_id,omitempty"`
	ProviderStatus string `json:"provider_status,omitempty"`
	QueuePosition  *int   `json:"queue_position,omitempty"`
}

// OutputData is the data of a run.output event: one technique output, as
// soon as the step producing it finished. Media outputs name a blob, which
// the API turns into a signed URL when it sends the event.
type OutputData struct {
	RunID  string          `json:"run_id"`
	Output store.RunOutput `json:"output"`
}

// Event is a stored event as the API sends it. Output is set for run.output
// events, Run (the whole ended run) for the final event; every other event
// is sent as its Data.
type Event struct {
	RunID  string
	Seq    int64
	Type   string
	Data   json.RawMessage
	Output *store.RunOutput
	Run    *store.Run
}

// Final reports whether the event ends the run's stream.
func (e *Event) Final() bool { return isFinal(e.Type) }

func isFinal(typ string) bool { return typ == EventCompleted || typ == EventFailed }

// appendEvent writes one event in tx.
func appendEvent(ctx context.Context, tx store.Tx, runID, typ string, data any, at int64) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("error encoding %s event: %w", typ, err)
	}
	_, err = tx.RunEventInsert(ctx, &store.RunEventInsertParams{RunID: runID, Type: typ, Data: b, CreatedAt: at,
		Final: isFinal(typ)})
	return err
}

// decodeEvent turns a stored event into an Event; the final event's Run is
// the caller's to fill.
func decodeEvent(e *store.RunEvent) (*Event, error) {
	ev := &Event{RunID: e.RunID, Seq: e.Seq, Type: e.Type, Data: e.Data}
	if e.Type == EventOutput {
		var od OutputData
		if err := json.Unmarshal(e.Data, &od); err != nil {
			return nil, fmt.Errorf("error decoding output event %d of run %s: %w", e.Seq, e.RunID, err)
		}
		ev.Output = &od.Output
	}
	return ev, nil
}
