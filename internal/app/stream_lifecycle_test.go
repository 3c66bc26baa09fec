package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/app"
	"github.com/florad/florad/internal/store"
)

// rawStream opens a run's event stream and returns its lines as they come.
func (b *testBundle) rawStream(t *testing.T, key, slug, runID string) (*http.Response, <-chan string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.baseURL+"/api/v1/techniques/"+slug+"/runs/"+runID+"/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := b.http.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return resp, lines
}

// readUntil reads lines until one has the prefix, or the stream ends; it
// returns the lines read, and whether the stream then ended.
func readUntil(t *testing.T, lines <-chan string, prefix string) []string {
	t.Helper()
	var got []string
	timeout := time.After(patience)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return got
			}
			got = append(got, l)
			if strings.HasPrefix(l, prefix) {
				return got
			}
		case <-timeout:
			require.FailNow(t, "stream did not send "+prefix, "got %q", got)
		}
	}
}

// requireEnds checks that the stream ends (the server closed it).
func requireEnds(t *testing.T, lines <-chan string) {
	t.Helper()
	timeout := time.After(patience)
	for {
		select {
		case _, ok := <-lines:
			if !ok {
				return
			}
		case <-timeout:
			require.FailNow(t, "stream stayed open")
		}
	}
}

// TestStreamsEndWhenShutdownStarts: an open stream of a run that is still
// working does not hold SIGTERM: it ends at once with a comment telling
// its client to reconnect, and the run's step, released after shutdown
// began, still gets its drain time and completes.
func TestStreamsEndWhenShutdownStarts(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{postgres: pg, configure: func(c *app.Config) { c.ShutdownTimeout = time.Minute }})
		g := newGatedImages(t)
		r := b.startGatedRun(t, g)
		_, lines := b.rawStream(t, b.key, "portrait-enhancer", r.RunID)
		readUntil(t, lines, "event: run.snapshot")

		stopped := make(chan error, 1)
		began := time.Now()
		go func() { stopped <- b.stop() }()
		got := readUntil(t, lines, ": server shutting down")
		require.Contains(t, got[len(got)-1], "reconnect with Last-Event-ID")
		requireEnds(t, lines)
		require.Less(t, time.Since(began), 30*time.Second, "the stream ended when shutdown began, not at its deadline")

		g.open() // the step finishes during the drain
		select {
		case err := <-stopped:
			require.NoError(t, err)
		case <-time.After(patience):
			require.FailNow(t, "the app did not stop")
		}
		// The stopped app closed its database; read it afresh.
		db, err := app.OpenStore(context.Background(), b.cfg)
		require.NoError(t, err)
		defer db.Close()
		done, err := db.RunGetByID(context.Background(), r.RunID)
		require.NoError(t, err)
		require.Equal(t, store.RunCompleted, done.Status, "the running step got its drain time")
	})
}

// TestStreamEndsWhenItsKeyIsRevoked: revoking a key ends its open streams
// with an invalid_api_key error event, within the stream's check interval.
func TestStreamEndsWhenItsKeyIsRevoked(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{postgres: pg, configure: func(c *app.Config) { c.StreamAuthInterval = 50 * time.Millisecond }})
		g := newGatedImages(t)
		r := b.startGatedRun(t, g)
		_, lines := b.rawStream(t, b.key, "portrait-enhancer", r.RunID)
		readUntil(t, lines, "event: run.snapshot")

		require.NoError(t, b.app.Workspaces.RevokeKey(context.Background(), b.keyID))
		readUntil(t, lines, "event: error")
		got := readUntil(t, lines, "data: ")
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(got[len(got)-1], "data: ")), &body))
		require.Equal(t, "invalid_api_key", body.Error.Code)
		requireEnds(t, lines)
	})
}

// TestStreamCapPerWorkspace: a workspace may hold a bounded number of open
// streams on one process; past it, 429 rate_limited, while other
// workspaces are unaffected; closing one frees its place.
func TestStreamCapPerWorkspace(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{postgres: pg, configure: func(c *app.Config) { c.MaxStreamsPerWorkspace = 2 }})
		g := newGatedImages(t)
		r := b.startGatedRun(t, g)
		ctx := context.Background()

		open := func(c *client.Client) (*client.EventStream, error) {
			return c.Runs.Events(ctx, "portrait-enhancer", r.RunID, "")
		}
		s1, err := open(b.client)
		require.NoError(t, err)
		defer s1.Close()
		s2, err := open(b.client)
		require.NoError(t, err)
		defer s2.Close()
		_, err = open(b.client)
		e := apiError(t, err, http.StatusTooManyRequests, "rate_limited")
		require.Contains(t, e.Message, "2 streams")

		// Another workspace's streams are its own (its key cannot see this run,
		// so it gets 404, not 429).
		_, _, otherKey := b.newWorkspace(t, 10)
		_, err = open(b.newClient(otherKey))
		apiError(t, err, http.StatusNotFound, "not_found")

		require.NoError(t, s1.Close())
		require.Eventually(t, func() bool {
			s, err := open(b.client)
			if err != nil {
				return false
			}
			s.Close()
			return true
		}, patience, 20*time.Millisecond, "a closed stream's place is given back")
	})
}
