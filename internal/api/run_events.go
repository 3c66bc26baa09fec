package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/florad/florad/internal/engine"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/validation"
)

// Stream timing. Events are read from the database, so any API process can
// stream any run; polling keeps that simple and costs one indexed read per
// stream per interval.
const (
	streamPollInterval = 200 * time.Millisecond
	streamKeepAlive    = 15 * time.Second
	eventBatch         = 100
)

// runEvents serves GET /api/v1/techniques/{technique}/runs/{runID}/events.
func (s *Server) runEvents(w http.ResponseWriter, r *http.Request) error {
	run, _, err := s.Runs.Get(r.Context(), principal(r.Context()).WorkspaceID,
		chi.URLParam(r, "technique"), chi.URLParam(r, "runID"))
	if err != nil {
		return err
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("last_event_id")
	}
	var after int64 = -1
	if last != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(last), 10, 64)
		if err != nil || n < 0 {
			return validation.New("last_event_id", "must be the id of an event this stream sent")
		}
		after = n
		if run.Finished() {
			// An ended run has all its events: when none follows the
			// resume point, none ever will. 204 is what tells an
			// EventSource, which reconnects after every close, to stop.
			events, err := s.Store.RunEventList(r.Context(), run.ID, after, 1)
			if err != nil {
				return err
			}
			if len(events) == 0 {
				w.WriteHeader(http.StatusNoContent)
				return nil
			}
		}
	}
	return s.streamRun(w, r, run, after)
}

// streamRun writes a run's events as server-sent events until the run ends
// or the client goes away. Without a resume point (after < 0) it starts with
// a run.snapshot of the whole run; with one it sends exactly the events after
// it. Every event carries its id, so a reconnecting client misses nothing and
// gets nothing twice.
func (s *Server) streamRun(w http.ResponseWriter, r *http.Request, run *store.Run, after int64) error {
	ctx := r.Context()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// The headers go out now: a resumed stream may have nothing to send
	// for a while, and its client must see that it is connected.
	if err := rc.Flush(); err != nil {
		return nil
	}

	send := func(id int64, typ string, data any) error {
		b, err := json.Marshal(data)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", id, typ, b); err != nil {
			return err
		}
		return rc.Flush()
	}

	if after < 0 {
		// The snapshot's id is the newest event it already reflects; events
		// committed after that are sent after it.
		events, err := s.Store.RunEventList(ctx, run.ID, 0, 1<<30)
		if err != nil {
			return s.streamError(w, rc, err)
		}
		if len(events) > 0 {
			after = events[len(events)-1].ID
		} else {
			after = 0
		}
		if run, err = s.Store.RunGetByID(ctx, run.ID); err != nil {
			return s.streamError(w, rc, err)
		}
		snap, err := s.runJSON(ctx, run)
		if err != nil {
			return s.streamError(w, rc, err)
		}
		if err := send(after, "run.snapshot", snap); err != nil {
			return nil
		}
		if run.Finished() {
			// An ended run: the snapshot, then its final event, and done.
			for i := len(events) - 1; i >= 0; i-- {
				if e := events[i]; e.Type == store.EventCompleted || e.Type == store.EventFailed {
					_ = send(e.ID, e.Type, snap)
					break
				}
			}
			return nil
		}
	}

	poll := time.NewTicker(streamPollInterval)
	defer poll.Stop()
	lastWrite := time.Now()
	for {
		events, err := s.Store.RunEventList(ctx, run.ID, after, eventBatch)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return s.streamError(w, rc, err)
		}
		for _, e := range events {
			data, final, err := s.eventData(ctx, e)
			if err != nil {
				return s.streamError(w, rc, err)
			}
			if err := send(e.ID, e.Type, data); err != nil {
				return nil // the client went away
			}
			after, lastWrite = e.ID, time.Now()
			if final {
				return nil
			}
		}
		if len(events) == eventBatch {
			continue
		}
		if time.Since(lastWrite) >= streamKeepAlive {
			// A resume point past the run's final event (a made-up id)
			// would otherwise wait forever once the run ended.
			if cur, err := s.Store.RunGetByID(ctx, run.ID); err == nil && cur.Finished() {
				if more, err := s.Store.RunEventList(ctx, run.ID, after, 1); err == nil && len(more) == 0 {
					return nil
				}
			}
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return nil
			}
			lastWrite = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
		}
	}
}

// eventData turns a stored event into what the client gets: output blobs
// become signed URLs, and the final event carries the whole run.
func (s *Server) eventData(ctx context.Context, e *store.RunEvent) (any, bool, error) {
	switch e.Type {
	case store.EventCompleted, store.EventFailed:
		run, err := s.Store.RunGetByID(ctx, e.RunID)
		if err != nil {
			return nil, true, err
		}
		out, err := s.runJSON(ctx, run)
		return out, true, err
	case store.EventOutput:
		var oe engine.OutputEvent
		if err := json.Unmarshal(e.Data, &oe); err != nil {
			return nil, false, fmt.Errorf("error decoding output event: %w", err)
		}
		v := oe.Output.Text
		if oe.Output.BlobKey != "" {
			u, err := s.Blobs.URL(ctx, oe.Output.BlobKey, s.OutputURLTTL)
			if err != nil {
				return nil, false, err
			}
			v = u
		}
		return map[string]any{"run_id": oe.RunID,
			"output": outputJSON{OutputID: oe.Output.ID, Type: oe.Output.Type, URL: v}}, false, nil
	}
	return json.RawMessage(e.Data), false, nil
}

// streamError ends a stream that already started: headers are sent, so
// the error goes out as an SSE error event in the API's error shape.
func (s *Server) streamError(w http.ResponseWriter, rc *http.ResponseController, err error) error {
	e := fromError(err)
	s.logger.Error("stream failed", "error", err)
	b, _ := json.Marshal(errorBody{Error: errorJSON{Code: e.Code, Message: e.Message}})
	fmt.Fprintf(w, "event: error\ndata: %s\n\n", b)
	_ = rc.Flush()
	return nil
}
