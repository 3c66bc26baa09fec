package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
)

// These tests drive run event streams (mode "stream" and the events
// endpoint) over real HTTP against the real app.

// gatedImages serves the test portrait only once open is called. A run
// whose input it is stays running, its worker waiting on the fetch, until
// then: a run held mid-way without sleeps or a fake engine.
type gatedImages struct {
	*httptest.Server
	gate     chan struct{}
	openOnce sync.Once
	// fetches gets a value when a fetch arrives, aborted when one ends
	// because its client went away before the gate opened.
	fetches chan struct{}
	aborted chan struct{}
}

func newGatedImages(t *testing.T) *gatedImages {
	t.Helper()
	data := encodePNG(t)
	g := &gatedImages{gate: make(chan struct{}), fetches: make(chan struct{}, 100), aborted: make(chan struct{}, 100)}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Headers first, so the fetcher's response-header timeout (20 s)
		// does not end a hold that a slow machine stretches; only its
		// whole-request timeout (a minute) bounds it.
		w.Header().Set("Content-Type", "image/png")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		g.fetches <- struct{}{}
		select {
		case <-g.gate:
		case <-r.Context().Done():
			g.aborted <- struct{}{}
			return
		}
		_, _ = w.Write(data)
	}))
	// Registered after setup's, so it runs first: open fetches end before
	// the app drains.
	t.Cleanup(func() {
		g.open()
		g.Close()
	})
	return g
}

func (g *gatedImages) open() { g.openOnce.Do(func() { close(g.gate) }) }

func (g *gatedImages) url() string { return g.URL + "/portrait.png" }

// startGatedRun starts a portrait-enhancer run on g's image and returns once
// its worker is fetching the input: the run is running and stays so until
// g opens.
func (b *testBundle) startGatedRun(t *testing.T, g *gatedImages) *client.Run {
	t.Helper()
	r, err := b.client.Runs.Create(context.Background(), "portrait-enhancer", portraitRun(g.url()))
	require.NoError(t, err)
	waitSignal(t, g.fetches, "the worker never fetched the gated input")
	return r
}

func portraitRun(imageURL string) *client.RunCreateParams {
	return &client.RunCreateParams{Mode: "async",
		Inputs: []client.Input{{ID: "input_image", Type: "imageUrl", Value: imageURL}}}
}

func waitSignal(t *testing.T, c <-chan struct{}, msg string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(patience):
		require.FailNow(t, msg)
	}
}

// streamEvent is an event as the tests look at it.
type streamEvent struct {
	id  int64
	typ string
}

func eventIDs(t *testing.T, events []*client.Event) []streamEvent {
	t.Helper()
	out := make([]streamEvent, 0, len(events))
	for _, e := range events {
		id, err := strconv.ParseInt(e.ID, 10, 64)
		require.NoError(t, err, "event %s has a non-numeric id %q", e.Type, e.ID)
		out = append(out, streamEvent{id, e.Type})
	}
	return out
}

// requireStreamShape checks what every complete stream must look like:
// ids that only grow (a snapshot shares its id with the newest event it
// reflects, which is never sent again after it), one final event, last.
func requireStreamShape(t *testing.T, events []*client.Event) {
	t.Helper()
	require.NotEmpty(t, events)
	ids := eventIDs(t, events)
	for i := 1; i < len(ids); i++ {
		if ids[i-1].typ == client.EventSnapshot && events[i].Final() {
			// An ended run's stream: the snapshot, then its final event,
			// which the snapshot already reflects.
			require.LessOrEqual(t, ids[i-1].id, ids[i].id, "events %v", ids)
			continue
		}
		require.Less(t, ids[i-1].id, ids[i].id, "ids must grow: %v", ids)
	}
	for i, e := range events {
		require.Equal(t, i == len(events)-1, e.Final(), "exactly one final event, last: %v", ids)
		require.NotEqual(t, client.EventError, e.Type, "error event: %s", e.Data)
	}
}

// requireSameRun compares a run read from a stream with the same run read
// by polling. Output URLs are signed anew on every read, so their
// signatures differ; the file behind them must not.
func (b *testBundle) requireSameRun(t *testing.T, want, got *client.Run) {
	t.Helper()
	require.Equal(t, want.RunID, got.RunID)
	require.Equal(t, want.TechniqueID, got.TechniqueID)
	require.Equal(t, want.Status, got.Status)
	require.Equal(t, want.Progress, got.Progress)
	require.Equal(t, want.CreatedAt, got.CreatedAt)
	require.Equal(t, want.StartedAt, got.StartedAt)
	require.Equal(t, want.CompletedAt, got.CompletedAt)
	require.Equal(t, want.ChargedCredits, got.ChargedCredits)
	require.Equal(t, want.ChargedCost, got.ChargedCost)
	require.Equal(t, want.ErrorCode, got.ErrorCode)
	require.Equal(t, want.ErrorMessage, got.ErrorMessage)
	require.Equal(t, want.PollURL, got.PollURL)
	require.Len(t, got.Outputs, len(want.Outputs))
	for i := range want.Outputs {
		w, g := want.Outputs[i], got.Outputs[i]
		require.Equal(t, w.OutputID, g.OutputID)
		require.Equal(t, w.Type, g.Type)
		if w.Type == "text" {
			require.Equal(t, w.URL, g.URL)
			continue
		}
		require.Equal(t, b.fetchOutput(t, w.URL), b.fetchOutput(t, g.URL), "output %s", w.OutputID)
	}
}

func (b *testBundle) fetchOutput(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := b.http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", u, body)
	require.NotEmpty(t, body)
	return body
}

// TestStreamReadToEndEqualsPolledRun: a stream-mode request, read to its
// end, says what polling the run says afterwards, for a text and an image
// technique; its run.output events announce the same outputs.
func TestStreamReadToEndEqualsPolledRun(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{postgres: pg})
		for _, tc := range []struct {
			slug   string
			inputs []client.Input
		}{
			{"prompt-expander", []client.Input{{ID: "prompt", Type: "text", Value: "a fox in snow"}}},
			{"portrait-enhancer", []client.Input{{ID: "input_image", Type: "imageUrl", Value: b.imageURL("portrait.png")}}},
		} {
			t.Run(tc.slug, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				s, err := b.client.Runs.CreateStream(ctx, tc.slug, &client.RunCreateParams{Inputs: tc.inputs})
				require.NoError(t, err)
				h := s.Response.Header
				require.Equal(t, http.StatusOK, s.Response.StatusCode)
				require.Equal(t, "text/event-stream", h.Get("Content-Type"))
				require.Equal(t, "no", h.Get("X-Accel-Buffering"), "proxies must not buffer the stream")
				require.Contains(t, h.Get("Cache-Control"), "no-cache")
				require.Regexp(t, `^req_\S+$`, h.Get("request-id"))

				events, err := s.ReadAll()
				require.NoError(t, err)
				requireStreamShape(t, events)
				require.Equal(t, client.EventSnapshot, events[0].Type)
				snap, err := events[0].Run()
				require.NoError(t, err)
				// A run this quick may be over by the time its snapshot is
				// read; the stream then ends with its final event at once.
				require.Contains(t, []string{client.StatusPending, client.StatusRunning, client.StatusCompleted}, snap.Status)
				last := events[len(events)-1]
				require.Equal(t, client.EventCompleted, last.Type, "data %s", last.Data)
				final, err := last.Run()
				require.NoError(t, err)
				require.Equal(t, snap.RunID, final.RunID)

				polled, err := b.client.Runs.Get(ctx, tc.slug, final.RunID)
				require.NoError(t, err)
				require.Equal(t, client.StatusCompleted, polled.Status)
				b.requireSameRun(t, polled, final)

				// Progress events only grow, and the outputs were announced
				// before the end, one event each.
				// A snapshot taken mid-run lists the outputs announced before it.
				progress, announced := snap.Progress, map[string]client.Output{}
				for _, o := range snap.Outputs {
					announced[o.OutputID] = o
				}
				for _, e := range events[1 : len(events)-1] {
					switch e.Type {
					case client.EventProgress:
						var p struct{ Progress int }
						require.NoError(t, json.Unmarshal(e.Data, &p))
						require.GreaterOrEqual(t, p.Progress, progress)
						progress = p.Progress
					case client.EventOutput:
						var o struct {
							RunID  string        `json:"run_id"`
							Output client.Output `json:"output"`
						}
						require.NoError(t, json.Unmarshal(e.Data, &o), "data %s", e.Data)
						require.Equal(t, final.RunID, o.RunID)
						require.NotContains(t, announced, o.Output.OutputID, "an output was announced twice")
						announced[o.Output.OutputID] = o.Output
					}
				}
				require.Len(t, announced, len(final.Outputs), "events %v", types(events))
				for _, o := range final.Outputs {
					a, ok := announced[o.OutputID]
					require.True(t, ok, "output %s never announced", o.OutputID)
					b.requireSameRun(t, &client.Run{Outputs: []client.Output{o}}, &client.Run{Outputs: []client.Output{a}})
				}
			})
		}
	})
}

// TestStreamIdempotentReplayStreamsTheSameRun: the same stream request
// twice is one run, charged once; the replay streams it (here, ended: its
// snapshot and its final event).
func TestStreamIdempotentReplayStreamsTheSameRun(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{postgres: pg})
		ctx := context.Background()
		p := &client.RunCreateParams{Inputs: []client.Input{{ID: "prompt", Type: "text", Value: "a boat"}}, IdempotencyKey: "stream-1"}
		s, err := b.client.Runs.CreateStream(ctx, "prompt-expander", p)
		require.NoError(t, err)
		first, err := s.ReadAll()
		require.NoError(t, err)
		requireStreamShape(t, first)
		require.False(t, s.Response.Replayed())

		s, err = b.client.Runs.CreateStream(ctx, "prompt-expander", p)
		require.NoError(t, err)
		second, err := s.ReadAll()
		require.NoError(t, err)
		require.True(t, s.Response.Replayed())
		require.Equal(t, []string{client.EventSnapshot, client.EventCompleted}, types(second))
		require.Equal(t, first[len(first)-1].ID, second[1].ID, "the same final event")
		r1, err := first[len(first)-1].Run()
		require.NoError(t, err)
		r2, err := second[1].Run()
		require.NoError(t, err)
		b.requireSameRun(t, r1, r2)
		require.Equal(t, 1, b.countRuns(t, b.wsID))
		require.Equal(t, int64(startCredits-1), b.balance(t, b.wsID))
	})
}

func types(events []*client.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Type
	}
	return out
}

// TestStreamResumeAfterDisconnectMissesNothing drops a stream mid-run,
// resumes it with Last-Event-ID, and checks the two halves against the
// whole history read from scratch: every event once, none repeated.
func TestStreamResumeAfterDisconnectMissesNothing(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{postgres: pg})
		g := newGatedImages(t)
		ctx := context.Background()

		// The first connection: a stream-mode request, read until the run is
		// running (the worker then waits on the gate), then cut.
		connCtx, cut := context.WithCancel(ctx)
		s, err := b.client.Runs.CreateStream(connCtx, "portrait-enhancer", portraitRun(g.url()))
		require.NoError(t, err)
		snapEvent, err := s.Next()
		require.NoError(t, err)
		require.Equal(t, client.EventSnapshot, snapEvent.Type)
		snap, err := snapEvent.Run()
		require.NoError(t, err)
		firstHalf := []*client.Event{}
		if snap.Status != client.StatusRunning {
			for {
				e, err := s.Next()
				require.NoError(t, err)
				firstHalf = append(firstHalf, e)
				if e.Type == client.EventStarted {
					break
				}
			}
		}
		waitSignal(t, g.fetches, "the worker never fetched the gated input")
		cut() // a forced disconnect: the connection is torn down
		_, err = s.Next()
		require.Error(t, err)
		require.False(t, errors.Is(err, io.EOF), "the stream did not end; it was cut")
		require.NoError(t, s.Close())
		resumeFrom := s.LastEventID()

		// Reconnect while the run is still held: the stream opens at once
		// (its headers do not wait for the next event), then follows the run.
		liveCtx, cancelLive := context.WithCancel(ctx)
		defer cancelLive()
		tooLong := time.AfterFunc(10*time.Second, cancelLive)
		live, err := b.client.Runs.Events(liveCtx, "portrait-enhancer", snap.RunID, resumeFrom)
		require.NoError(t, err, "a resumed stream must open before the run has news")
		require.True(t, tooLong.Stop())
		g.open()
		liveHalf, err := live.ReadAll()
		require.NoError(t, err)
		polled := b.wait(t, b.client, "portrait-enhancer", snap.RunID)
		require.Equal(t, client.StatusCompleted, polled.Status)

		// Resume after the end: exactly the events after the last one seen,
		// no snapshot.
		s, err = b.client.Runs.Events(ctx, "portrait-enhancer", snap.RunID, resumeFrom)
		require.NoError(t, err)
		secondHalf, err := s.ReadAll()
		require.NoError(t, err)
		requireStreamShape(t, secondHalf)
		require.NotEqual(t, client.EventSnapshot, secondHalf[0].Type, "a resumed stream has no snapshot")
		final, err := secondHalf[len(secondHalf)-1].Run()
		require.NoError(t, err)
		b.requireSameRun(t, polled, final)

		// The whole history, from scratch (the query-parameter spelling).
		s, err = b.client.Runs.Events(ctx, "portrait-enhancer", snap.RunID, "", client.WithQuery("last_event_id", "0"))
		require.NoError(t, err)
		all, err := s.ReadAll()
		require.NoError(t, err)
		requireStreamShape(t, all)
		require.Equal(t, client.EventCreated, all[0].Type, "from 0 the history starts at creation: %v", types(all))
		require.Equal(t, client.EventCompleted, all[len(all)-1].Type)
		for _, want := range []string{client.EventStarted, client.EventProgress, client.EventOutput} {
			require.Contains(t, types(all), want)
		}

		snapID, err := strconv.ParseInt(snapEvent.ID, 10, 64)
		require.NoError(t, err)
		var afterSnap []streamEvent
		for _, e := range eventIDs(t, all) {
			if e.id > snapID {
				afterSnap = append(afterSnap, e)
			}
		}
		got := append(eventIDs(t, firstHalf), eventIDs(t, secondHalf)...)
		require.Equal(t, afterSnap, got, "the two halves must be exactly the history after the snapshot")
		require.Equal(t, eventIDs(t, secondHalf), eventIDs(t, liveHalf), "resuming during or after the run is the same")
		require.Less(t, len(firstHalf)+1, len(all), "the cut must fall before the end")
	})
}

// TestStreamEndedRun: the events of an ended run are its snapshot and its
// final event; resuming after the final event has nothing to send and
// must end at once rather than wait for events that never come.
func TestStreamEndedRun(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{postgres: pg})
		ctx := context.Background()
		created, err := b.client.Runs.Create(ctx, "prompt-expander", promptRun("a bridge"))
		require.NoError(t, err)
		polled := b.wait(t, b.client, "prompt-expander", created.RunID)

		s, err := b.client.Runs.Events(ctx, "prompt-expander", created.RunID, "")
		require.NoError(t, err)
		events, err := s.ReadAll()
		require.NoError(t, err)
		require.Equal(t, []string{client.EventSnapshot, client.EventCompleted}, types(events))
		requireStreamShape(t, events)
		for _, e := range events {
			r, err := e.Run()
			require.NoError(t, err)
			b.requireSameRun(t, polled, r)
		}

		for _, resume := range []string{events[1].ID, "999999999"} {
			t.Run("resume after "+resume, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				s, err := b.client.Runs.Events(ctx, "prompt-expander", created.RunID, resume)
				require.NoError(t, err)
				rest, err := s.ReadAll()
				require.NoError(t, err, "a stream of an ended run with nothing left to send must close, not hang")
				require.Empty(t, rest)
				// 204 is what stops an EventSource from reconnecting forever.
				require.Equal(t, http.StatusNoContent, s.Response.StatusCode)
			})
		}
	})
}

// TestStreamRequestErrors: what is checked before a stream starts gets the
// API's JSON errors.
func TestStreamRequestErrors(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{postgres: pg})
		ctx := context.Background()
		created, err := b.client.Runs.Create(ctx, "prompt-expander", promptRun("a cat"))
		require.NoError(t, err)

		for _, bad := range []string{"abc", "-1", "1.5"} {
			_, err := b.client.Runs.Events(ctx, "prompt-expander", created.RunID, bad)
			e := apiError(t, err, http.StatusBadRequest, "input_validation_error")
			require.True(t, e.HasField("last_event_id"), "fields %+v", e.Fields)
			_, err = b.client.Runs.Events(ctx, "prompt-expander", created.RunID, "", client.WithQuery("last_event_id", bad))
			apiError(t, err, http.StatusBadRequest, "input_validation_error")
		}

		_, err = b.client.Runs.Events(ctx, "prompt-expander", "run_00000000000000000000000000", "")
		apiError(t, err, http.StatusNotFound, "not_found")
		_, err = b.client.Runs.Events(ctx, "portrait-enhancer", created.RunID, "")
		apiError(t, err, http.StatusNotFound, "not_found")
		_, _, otherKey := b.newWorkspace(t, 10)
		_, err = b.newClient(otherKey).Runs.Events(ctx, "prompt-expander", created.RunID, "")
		apiError(t, err, http.StatusNotFound, "not_found")
		_, err = b.newClient("sk_live_nope").Runs.Events(ctx, "prompt-expander", created.RunID, "")
		apiError(t, err, http.StatusUnauthorized, "invalid_api_key")

		// A stream request that cannot start a run gets the same answer as an
		// async one: nothing streams, nothing is created.
		_, err = b.client.Runs.CreateStream(ctx, "prompt-expander", &client.RunCreateParams{
			Inputs: []client.Input{{ID: "prompt", Type: "text", Value: ""}}})
		apiError(t, err, http.StatusBadRequest, "input_validation_error")
		poorWS, _, poorKey := b.newWorkspace(t, -1)
		_, err = b.newClient(poorKey).Runs.CreateStream(ctx, "prompt-expander", promptRun("x"))
		apiError(t, err, http.StatusPaymentRequired, "insufficient_credits")
		require.Zero(t, b.countRuns(t, poorWS))
	})
}

// TestStreamHundredConcurrentStreams: 100 clients follow one run from
// before it ends; each gets the whole ending.
func TestStreamHundredConcurrentStreams(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{postgres: pg})
		g := newGatedImages(t)
		r := b.startGatedRun(t, g)
		ctx := context.Background()

		const n = 100
		transport := &http.Transport{MaxConnsPerHost: 0, DisableKeepAlives: true}
		t.Cleanup(transport.CloseIdleConnections)
		c := client.New(b.baseURL, b.key, &http.Client{Transport: transport, Timeout: patience})
		snapshots := make(chan struct{}, n)
		results := make(chan error, n)
		finals := make(chan string, n)
		for range n {
			go func() {
				results <- func() error {
					s, err := c.Runs.Events(ctx, "portrait-enhancer", r.RunID, "")
					if err != nil {
						return err
					}
					defer s.Close()
					first, err := s.Next()
					if err != nil {
						return err
					}
					if first.Type != client.EventSnapshot {
						return fmt.Errorf("first event %s", first.Type)
					}
					snapshots <- struct{}{}
					var last *client.Event
					for {
						e, err := s.Next()
						if errors.Is(err, io.EOF) {
							break
						}
						if err != nil {
							return err
						}
						last = e
					}
					if last == nil || last.Type != client.EventCompleted {
						return fmt.Errorf("the stream ended with %+v", last)
					}
					run, err := last.Run()
					if err != nil {
						return err
					}
					if run.Status != client.StatusCompleted || len(run.Outputs) != 1 {
						return fmt.Errorf("final run %+v", run)
					}
					finals <- last.ID
					return nil
				}()
			}()
		}
		// Every stream is attached to the still-running run before it goes on.
		for range n {
			waitSignal(t, snapshots, "not every stream got its snapshot")
		}
		g.open()
		for range n {
			select {
			case err := <-results:
				require.NoError(t, err)
			case <-time.After(patience):
				require.FailNow(t, "streams did not end")
			}
		}
		first := <-finals
		for range n - 1 {
			require.Equal(t, first, <-finals, "every stream ends with the same event")
		}
	})
}

// TestStreamClientDisconnectCostsNothing: clients that drop their streams
// leave no handler goroutine and no connection behind, and the run goes on.
//
// Goroutines are counted by pprof label: the app's handler is also served
// from a listener whose requests carry this test's label, so other tests
// running in parallel do not blur the count. Connections are counted on
// the app's own listener, from the kernel's socket table.
func TestStreamClientDisconnectCostsNothing(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{postgres: pg})
		g := newGatedImages(t)
		r := b.startGatedRun(t, g)

		label := fmt.Sprintf("disconnect-%d", time.Now().UnixNano())
		labeled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			pprof.Do(req.Context(), pprof.Labels("florad_test", label), func(ctx context.Context) {
				b.app.Handler().ServeHTTP(w, req.WithContext(ctx))
			})
		}))
		t.Cleanup(labeled.Close)
		port := b.app.Addr()[strings.LastIndex(b.app.Addr(), ":")+1:]
		connsBefore := establishedOnPort(t, port)

		const n = 20
		for _, base := range []string{labeled.URL, b.baseURL} {
			transport := &http.Transport{DisableKeepAlives: true}
			c := client.New(base, b.key, &http.Client{Transport: transport})
			ctx, drop := context.WithCancel(context.Background())
			var streams []*client.EventStream
			for range n {
				s, err := c.Runs.Events(ctx, "portrait-enhancer", r.RunID, "")
				require.NoError(t, err)
				e, err := s.Next()
				require.NoError(t, err)
				require.Equal(t, client.EventSnapshot, e.Type)
				streams = append(streams, s)
			}
			if base == labeled.URL {
				require.Equal(t, n, labeledGoroutines(t, label, "net/http.(*conn).serve"), "one handler goroutine per open stream")
			} else {
				require.GreaterOrEqual(t, establishedOnPort(t, port), connsBefore+n)
			}
			// Half hang up by closing the body, half by ending the request's
			// context, as a client that gives up would.
			for i, s := range streams {
				if i%2 == 0 {
					require.NoError(t, s.Close())
				}
			}
			drop()
			transport.CloseIdleConnections()
		}

		waitFor(t, 5*time.Second, func() bool { return labeledGoroutines(t, label, "") == 0 },
			"stream handlers still running after their clients left")
		waitFor(t, 5*time.Second, func() bool { return establishedOnPort(t, port) <= connsBefore },
			"server connections still open after their clients left")

		// The run never noticed, and costs what it costs.
		g.open()
		done := b.wait(t, b.client, "portrait-enhancer", r.RunID)
		require.Equal(t, client.StatusCompleted, done.Status)
		require.Equal(t, int64(startCredits-5), b.balance(t, b.wsID))
	})
}

// labeledGoroutines counts the goroutines carrying the florad_test label
// with this value and, unless it is "", a function named in on their
// stack. (Goroutines a handler starts inherit its labels: the SQLite
// driver watches each query's context from one, for a moment.)
func labeledGoroutines(t *testing.T, value, in string) int {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, pprof.Lookup("goroutine").WriteTo(&buf, 1))
	// debug=1 writes one record per distinct stack: "N @ 0x...", then
	// "# labels: {...}" for labeled goroutines, then "#\t0x... function"
	// lines, and a blank line.
	want := fmt.Sprintf("%q:%q", "florad_test", value)
	total := 0
	for record := range strings.SplitSeq(buf.String(), "\n\n") {
		header, rest, _ := strings.Cut(record, "\n")
		n, _, ok := strings.Cut(header, " @ ")
		if !ok || !strings.Contains(rest, "# labels: ") || !strings.Contains(rest, want) {
			continue
		}
		if in != "" && !strings.Contains(rest, in) {
			continue
		}
		count, err := strconv.Atoi(n)
		require.NoError(t, err)
		total += count
	}
	return total
}

// establishedOnPort counts established TCP sockets whose local port is
// port: on loopback, the server's side of each connection to it.
func establishedOnPort(t *testing.T, port string) int {
	t.Helper()
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	want := fmt.Sprintf(":%04X", p)
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		require.NoError(t, err)
		for line := range strings.Lines(string(data)) {
			fields := strings.Fields(line)
			// sl local_address rem_address st ...; 01 is ESTABLISHED.
			if len(fields) > 3 && strings.HasSuffix(fields[1], want) && fields[3] == "01" {
				n++
			}
		}
	}
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			require.FailNow(t, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
