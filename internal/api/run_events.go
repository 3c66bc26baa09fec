package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/florad/florad/internal/auth"
	"github.com/florad/florad/internal/run"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/validation"
)

// Stream timing.
const (
	streamKeepAlive = 15 * time.Second
	// StreamAuthIntervalDefault is how often an open stream checks that its
	// key is still valid: a revoked key's streams end within about this.
	StreamAuthIntervalDefault = 5 * time.Second
	// MaxStreamsPerWorkspaceDefault bounds one workspace's open streams on
	// one API process.
	MaxStreamsPerWorkspaceDefault = 200
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
	}
	return s.streamRun(w, r, run, after)
}

// streamRun writes a run's events as server-sent events until the run ends,
// the client goes away, the key stops being valid or the server shuts down.
// Without a resume point (after < 0) it starts with a run.snapshot of the
// whole run; with one it sends exactly the events after it. Every event
// carries its id, so a reconnecting client misses nothing and gets nothing
// twice.
func (s *Server) streamRun(w http.ResponseWriter, r *http.Request, rn *store.Run, after int64) error {
	ctx := r.Context()
	if after >= 0 {
		// An ended run has all its events: when none follows the resume
		// point, none ever will. 204 is what tells an EventSource, which
		// reconnects after every close, to stop.
		if err := s.Runs.Resume(ctx, rn, after); errors.Is(err, run.ErrNoMoreEvents) {
			w.WriteHeader(http.StatusNoContent)
			return nil
		} else if err != nil {
			return err
		}
	}
	p := principal(ctx)
	release, err := s.streams.acquire(p.WorkspaceID)
	if err != nil {
		return err
	}
	defer release()

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
	if r.Method == http.MethodHead {
		// HEAD: the stream's status and headers, and no stream.
		return nil
	}
	sse := &sseWriter{s: s, w: w, rc: rc}

	if after < 0 {
		seq, more, err := s.streamSnapshot(ctx, sse, rn)
		if !more {
			return err
		}
		after = seq
	}

	// Everything that may end the stream early cancels watchCtx with why.
	watchCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	go s.watchStream(watchCtx, stop, r)

	sub := s.Runs.Subscribe(rn.ID, after)
	defer sub.Close()
	events := make(chan []*run.Event)
	failed := make(chan error, 1)
	go func() {
		for {
			batch, err := sub.Next(watchCtx)
			if err != nil {
				failed <- err
				return
			}
			select {
			case events <- batch:
			case <-watchCtx.Done():
				failed <- watchCtx.Err()
				return
			}
		}
	}()
	keepAlive := time.NewTicker(streamKeepAlive)
	defer keepAlive.Stop()
	for {
		select {
		case batch := <-events:
			for _, e := range batch {
				if err := sse.event(ctx, e); err != nil {
					return nil // the client went away
				}
				if e.Final() {
					return nil
				}
			}
			keepAlive.Reset(streamKeepAlive)
		case <-keepAlive.C:
			if sse.comment("keep-alive") != nil {
				return nil
			}
		case err := <-failed:
			switch cause := context.Cause(watchCtx); {
			case errors.Is(cause, errServerClosing):
				// Clients reconnect, with the last id they saw, to a server
				// that is not going away.
				_ = sse.comment("server shutting down; reconnect with Last-Event-ID")
			case errors.Is(cause, auth.ErrInvalidKey):
				_ = sse.fail(errInvalidAPIKey())
			case ctx.Err() == nil && !errors.Is(err, context.Canceled):
				_ = sse.fail(err)
			}
			return nil
		}
	}
}

// errServerClosing ends streams when the server starts shutting down.
var errServerClosing = errors.New("server shutting down")

// watchStream ends a stream (through stop) when the server shuts down or
// when the key the stream was opened with stops being valid: a revoked
// key's streams end within about StreamAuthInterval (streamKeys checks
// each key once per interval for all its streams).
func (s *Server) watchStream(ctx context.Context, stop context.CancelCauseFunc, r *http.Request) {
	revoked, release := s.streamKeys.watch(bearerToken(r))
	defer release()
	select {
	case <-ctx.Done():
	case <-s.closing:
		stop(errServerClosing)
	case <-revoked:
		stop(auth.ErrInvalidKey)
	}
}

// sseWriter writes server-sent events.
type sseWriter struct {
	s  *Server
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (x *sseWriter) send(ctx context.Context, id int64, typ string, data any) error {
	if r, ok := data.(*store.Run); ok {
		out, err := x.s.runJSON(ctx, r)
		if err != nil {
			return x.fail(err)
		}
		data = out
	}
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(x.w, "id: %d\nevent: %s\ndata: %s\n\n", id, typ, b); err != nil {
		return err
	}
	return x.rc.Flush()
}

// event sends one run event: output blobs become signed URLs, and the final
// event carries the whole run.
func (x *sseWriter) event(ctx context.Context, e *run.Event) error {
	switch {
	case e.Run != nil:
		return x.send(ctx, e.Seq, e.Type, e.Run)
	case e.Output != nil:
		o, err := x.s.outputJSON(ctx, *e.Output, nil)
		if err != nil {
			return x.fail(err)
		}
		return x.send(ctx, e.Seq, e.Type, outputEventJSON{RunID: e.RunID, Output: o})
	}
	return x.send(ctx, e.Seq, e.Type, e.Data)
}

type outputEventJSON struct {
	RunID  string     `json:"run_id"`
	Output outputJSON `json:"output"`
}

func (x *sseWriter) comment(text string) error {
	if _, err := fmt.Fprintf(x.w, ": %s\n\n", text); err != nil {
		return err
	}
	return x.rc.Flush()
}

// fail ends a stream that already started: headers are sent, so the error
// goes out as an SSE error event in the API's error shape.
func (x *sseWriter) fail(err error) error {
	e := fromError(err)
	if e.Status >= 500 {
		x.s.logger.Error("stream failed", "error", err)
	}
	b, _ := json.Marshal(errorBody{Error: errorJSON{Code: e.Code, Message: e.Message}})
	fmt.Fprintf(x.w, "event: error\ndata: %s\n\n", b)
	_ = x.rc.Flush()
	return err
}

// streamSnapshot opens a fresh stream with a run.snapshot of rn and, for an
// ended run, its final event. It returns the sequence number to follow on
// from, and more=false when the stream is over (with the error to return
// from the handler, if any).
func (s *Server) streamSnapshot(ctx context.Context, sse *sseWriter, rn *store.Run) (int64, bool, error) {
	snap, err := s.Runs.Snapshot(ctx, rn.ID)
	if err != nil {
		return 0, false, sse.fail(err)
	}
	out, err := s.runJSON(ctx, snap.Run)
	if err != nil {
		return 0, false, sse.fail(err)
	}
	for _, o := range snap.Announced {
		j, err := s.outputJSON(ctx, o, nil)
		if err != nil {
			return 0, false, sse.fail(err)
		}
		out.Outputs = append(out.Outputs, j)
	}
	if err := sse.send(ctx, snap.Run.EventSeq, "run.snapshot", out); err != nil {
		return 0, false, nil // the client went away
	}
	if snap.Final != nil {
		// An ended run: the snapshot, then its final event, and done.
		_ = sse.send(ctx, snap.Final.Seq, snap.Final.Type, snap.Final.Run)
		return 0, false, nil
	}
	return snap.Run.EventSeq, true, nil
}
