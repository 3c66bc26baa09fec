package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/store/pgtest"
	"github.com/florad/florad/internal/store/sqlstore"
)

// TestScaleOut runs florad as a deployment does when one machine is not
// enough: two API processes (serve --no-workers) and two worker processes
// on one fresh PostgreSQL database, all started at once (so their
// migrations race), sharing a data folder for output files. It sends 200
// run requests across both APIs, with repeated idempotency keys mixed in,
// and SIGKILLs one worker while it holds runs. Every run must end
// completed, executed and charged exactly once, the dead worker's runs
// taken over through the heartbeat rescue, and the ledger must explain the
// balance.
func TestScaleOut(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t) // skips, saying why, without FLORA_TEST_DATABASE_URL
	if testing.Short() {
		t.Skip("starts four florad processes; skipped in -short mode")
	}
	const (
		requests    = 200
		concurrency = 4 // per worker
		grant       = 10_000
	)
	bin := floradBin
	dataDir := t.TempDir()
	images := scaleoutImages(t)
	begin := time.Now()

	// A load test: the one workspace sends far more than the default rate
	// limit allows, which is not what is tested here.
	common := []string{"--database-url", dbURL, "--data", dataDir, "--dev", "--rate-limit", "0"}
	api := [2]*scaleoutProc{
		scaleoutStart(t, bin, "api-0", append([]string{"serve", "--no-workers", "--addr", "127.0.0.1:0"}, common...)...),
		scaleoutStart(t, bin, "api-1", append([]string{"serve", "--no-workers", "--addr", "127.0.0.1:0"}, common...)...),
	}
	workerArgs := append([]string{"worker", "--rescue-after", "2s", "--concurrency", fmt.Sprint(concurrency)}, common...)
	workers := [2]*scaleoutProc{
		scaleoutStart(t, bin, "worker-0", workerArgs...),
		scaleoutStart(t, bin, "worker-1", workerArgs...),
	}
	var baseURL [2]string
	for i, p := range api {
		baseURL[i] = "http://" + p.waitForAddr(t)
	}
	for _, p := range workers {
		p.waitForLog(t, `"msg":"florad started"`)
	}
	t.Logf("4 processes up after %s", time.Since(begin).Round(time.Millisecond))

	// The admin CLI on the same database creates the workspace and key.
	var ws struct {
		ID string `json:"workspace_id"`
	}
	scaleoutAdmin(t, bin, &ws, "workspace", "create", "--name", "scale-out", "--credits", fmt.Sprint(grant), "--json", "--database-url", dbURL)
	var key struct {
		Key string `json:"key"`
	}
	scaleoutAdmin(t, bin, &key, "key", "create", "--workspace", ws.ID, "--json", "--database-url", dbURL)

	transport := &http.Transport{MaxIdleConnsPerHost: 32}
	t.Cleanup(transport.CloseIdleConnections)
	hc := &http.Client{Transport: transport, Timeout: time.Minute} // also bounds the event streams
	clients := [2]*client.Client{client.New(baseURL[0], key.Key, hc), client.New(baseURL[1], key.Key, hc)}
	ctx := context.Background()
	cost := map[string]int64{}
	for _, slug := range []string{"portrait-enhancer", "prompt-expander"} {
		tech, err := clients[0].Techniques.Get(ctx, slug)
		require.NoError(t, err)
		cost[slug] = tech.RunCredits
	}

	// Requests 0-99 of portrait-enhancer fetch an image that is held back
	// until the worker is killed, so that both workers are full of running
	// runs at that moment; requests 100-199 fetch it at once.
	reqs := scaleoutRequests(requests, images.URL)
	results := make([]scaleoutResult, len(reqs))
	submit := func(from, to int) {
		var wg sync.WaitGroup
		next := make(chan int)
		for range 16 {
			wg.Go(func() {
				for i := range next {
					results[i] = scaleoutSubmit(ctx, clients[reqs[i].api], reqs[i])
				}
			})
		}
		for i := from; i < to; i++ {
			next <- i
		}
		close(next)
		wg.Wait()
	}

	st, err := sqlstore.OpenPostgres(ctx, sqlstore.PostgresConfig{URL: dbURL, MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	// Until the second half is sent, every running portrait-enhancer run is
	// a held one, and a held run keeps its worker slot until release.
	heldRunning := func() []string {
		rows, err := st.WriterDB().QueryContext(ctx, `SELECT id FROM runs
			WHERE workspace_id = $1 AND status = 'running' AND technique_slug = 'portrait-enhancer'`, ws.ID)
		require.NoError(t, err)
		defer rows.Close()
		var ids []string
		for rows.Next() {
			var id string
			require.NoError(t, rows.Scan(&id))
			ids = append(ids, id)
		}
		require.NoError(t, rows.Err())
		return ids
	}

	submit(0, requests/2)
	var held []string
	scaleoutEventually(t, 20*time.Second, "both workers full of held runs", func() bool {
		held = heldRunning()
		return len(held) == 2*concurrency
	})
	// Each held run is streamed through the API that did not create it
	// (requests alternate; the stream is read from the database, so either
	// API serves it), across the kill and the takeover.
	streams := scaleoutStreams(t, clients, results, reqs, held)
	require.NoError(t, workers[0].cmd.Process.Signal(syscall.SIGKILL))
	require.Error(t, workers[0].wait(t, 10*time.Second), "worker-0 dies of the SIGKILL")
	killedAt := time.Now()
	t.Logf("SIGKILLed worker-0 holding %d running runs, %s after start", concurrency, killedAt.Sub(begin).Round(time.Millisecond))
	images.release()
	submit(requests/2, requests)

	// Every request was answered, and each key named one run.
	runByKey := map[string]string{}
	slugOf := map[string]string{}
	created, unkeyed := 0, 0
	for i, res := range results {
		require.NoError(t, res.err, "request %d", i)
		require.Regexp(t, `^run_`, res.runID, "request %d", i)
		if !res.replayed {
			created++
		}
		if reqs[i].key == "" {
			unkeyed++
			require.False(t, res.replayed, "request %d has no key", i)
		} else if first, ok := runByKey[reqs[i].key]; ok {
			require.Equal(t, first, res.runID, "request %d repeats key %s", i, reqs[i].key)
		} else {
			runByKey[reqs[i].key] = res.runID
		}
		slugOf[res.runID] = reqs[i].slug
	}
	wantRuns := len(runByKey) + unkeyed
	require.Len(t, slugOf, wantRuns, "distinct runs = distinct keys + unkeyed requests")
	require.Equal(t, wantRuns, created, "exactly one response per run is not a replay")
	require.Less(t, wantRuns, requests, "some requests repeated keys")

	// Poll every run to its end, through either API.
	pending := map[string]bool{}
	for id := range slugOf {
		pending[id] = true
	}
	final := map[string]*client.Run{}
	n := 0
	scaleoutEventually(t, 40*time.Second, "every run finished", func() bool {
		for id := range pending {
			n++
			r, err := clients[n%2].Runs.Get(ctx, slugOf[id], id)
			require.NoError(t, err)
			if r.Finished() {
				final[id] = r
				delete(pending, id)
			}
		}
		return len(pending) == 0
	})
	t.Logf("%d runs (%d requests) finished %s after the kill, %s after start",
		wantRuns, requests, time.Since(killedAt).Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
	for id, last := range streams.wait(t) {
		require.Equal(t, client.EventCompleted, last, "stream of held run %s through the other API", id)
	}

	var spent int64
	for id, r := range final {
		require.Equal(t, client.StatusCompleted, r.Status, "run %s: %s %s", id, r.ErrorCode, r.ErrorMessage)
		require.NotNil(t, r.ChargedCredits, "run %s", id)
		require.Equal(t, cost[slugOf[id]], *r.ChargedCredits, "run %s", id)
		require.Len(t, r.Outputs, 1, "run %s", id)
		spent += cost[slugOf[id]]
	}

	// Each run was settled exactly once, and the ledger explains the
	// balance.
	ledger, err := st.LedgerList(ctx, ws.ID)
	require.NoError(t, err)
	kinds := map[string]map[string]int{}
	var sum int64
	for _, e := range ledger {
		sum += e.Amount
		require.GreaterOrEqual(t, e.BalanceAfter, int64(0), "ledger entry %d overdrew", e.Seq)
		if e.RunID == "" {
			require.Equal(t, store.LedgerGrant, e.Kind)
			continue
		}
		if kinds[e.RunID] == nil {
			kinds[e.RunID] = map[string]int{}
		}
		kinds[e.RunID][e.Kind]++
		if e.Kind == store.LedgerReserve {
			require.Equal(t, -cost[slugOf[e.RunID]], e.Amount, "reserve of run %s", e.RunID)
		}
	}
	require.Len(t, kinds, wantRuns, "every run, and only these, in the ledger")
	for id, k := range kinds {
		require.Equal(t, map[string]int{store.LedgerReserve: 1, store.LedgerCharge: 1}, k, "run %s", id)
	}
	w, err := st.WorkspaceGet(ctx, ws.ID)
	require.NoError(t, err)
	require.Equal(t, sum, w.Balance, "the ledger sums to the balance")
	require.Equal(t, int64(grant)-spent, w.Balance)

	var stored, steps, dupSteps int
	require.NoError(t, st.WriterDB().QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE workspace_id = $1`, ws.ID).Scan(&stored))
	require.Equal(t, wantRuns, stored, "no run was created twice")
	require.NoError(t, st.WriterDB().QueryRowContext(ctx, `SELECT count(*) FROM run_steps`).Scan(&steps))
	require.NoError(t, st.WriterDB().QueryRowContext(ctx,
		`SELECT count(*) FROM (SELECT 1 FROM run_steps GROUP BY run_id, step_id HAVING count(*) > 1) d`).Scan(&dupSteps))
	require.Zero(t, dupSteps, "each step recorded once")

	// The dead worker's runs were taken over: each was handed to a fresh
	// job by the survivor's reconciler.
	var jobs int
	require.NoError(t, st.WriterDB().QueryRowContext(ctx,
		`SELECT count(*) FROM river_job WHERE kind = 'run_execute'`).Scan(&jobs))
	rescued := strings.Count(workers[1].logs.String(), "rescued run whose job died")
	require.GreaterOrEqual(t, rescued, 1, "the killed worker's runs were handed to fresh jobs")
	require.Equal(t, wantRuns+rescued, jobs, "one job per run, and one more per rescue")
	t.Logf("%d run steps; %d runs rescued after the kill", steps, rescued)

	// Output files are on the shared folder, and their URLs are signed with
	// the key in the database: an API process serves the URLs the other one
	// made.
	checked := 0
	for id, r := range final {
		if slugOf[id] != "portrait-enhancer" || checked >= 20 {
			continue
		}
		checked++
		u, err := url.Parse(r.Outputs[0].URL)
		require.NoError(t, err)
		for _, base := range baseURL {
			b, _ := url.Parse(base)
			u.Host = b.Host
			resp, err := hc.Get(u.String())
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode, "output of %s via %s: %s", id, base, body)
			require.Equal(t, "image/jpeg", resp.Header.Get("Content-Type"))
		}
	}
	require.Positive(t, checked)

	// Only one of the two API processes that started on the empty
	// database made the demo workspace.
	var demos int
	require.NoError(t, st.WriterDB().QueryRowContext(ctx, `SELECT count(*) FROM workspaces WHERE name = 'Demo'`).Scan(&demos))
	require.Equal(t, 1, demos, "processes starting together make one demo workspace")

	// The survivors stop cleanly on SIGTERM.
	for _, p := range []*scaleoutProc{api[0], api[1], workers[1]} {
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	}
	for _, p := range []*scaleoutProc{api[0], api[1], workers[1]} {
		require.NoError(t, p.wait(t, 20*time.Second), "%s exit", p.name)
	}
	t.Logf("total %s", time.Since(begin).Round(time.Millisecond))
}

// scaleoutStreamSet follows the event streams of some runs to their end.
type scaleoutStreamSet struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	last map[string]string // run id → type of the last event, or the error
}

// scaleoutStreams opens the event stream of each run through the API
// process that did not create it, and reads it in the background.
func scaleoutStreams(t *testing.T, clients [2]*client.Client, results []scaleoutResult, reqs []scaleoutReq, runIDs []string) *scaleoutStreamSet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	t.Cleanup(cancel)
	set := &scaleoutStreamSet{last: map[string]string{}}
	for _, id := range runIDs {
		creator := -1
		for i, res := range results {
			if res.runID == id && !res.replayed {
				creator = reqs[i].api
			}
		}
		require.NotEqual(t, -1, creator, "run %s", id)
		stream, err := clients[1-creator].Runs.Events(ctx, "portrait-enhancer", id, "")
		require.NoError(t, err)
		set.wg.Go(func() {
			defer stream.Close()
			last := ""
			for {
				ev, err := stream.Next()
				if err != nil {
					if err != io.EOF {
						last = err.Error()
					}
					break
				}
				last = ev.Type
				if ev.Final() {
					break
				}
			}
			set.mu.Lock()
			set.last[id] = last
			set.mu.Unlock()
		})
	}
	return set
}

// wait returns each stream's last event type once all have ended.
func (s *scaleoutStreamSet) wait(t *testing.T) map[string]string {
	t.Helper()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("event streams still open 20 s after every run ended")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// scaleoutReq is one run request of the test.
type scaleoutReq struct {
	api    int // which API process receives it
	slug   string
	inputs []client.Input
	key    string
	header bool // key sent as the Idempotency-Key header rather than in the body
}

// scaleoutRequests builds n requests alternating between the two APIs:
// every fifth repeats the key and request of an earlier one (by turns on
// the same and the other API), every ninth has no key, the rest have keys
// of their own.
func scaleoutRequests(n int, imagesURL string) []scaleoutReq {
	var reqs []scaleoutReq
	var keyed []int
	for i := range n {
		r := scaleoutReq{api: i % 2, header: i%3 == 0}
		switch {
		case i%5 == 4 && len(keyed) > 0:
			j := keyed[(i*7)%len(keyed)]
			r.slug, r.inputs, r.key = reqs[j].slug, reqs[j].inputs, reqs[j].key
		default:
			if (i/2)%2 == 0 {
				img := "/portrait.jpg"
				if i < n/2 {
					img = "/held.jpg"
				}
				r.slug = "portrait-enhancer"
				r.inputs = []client.Input{{ID: "input_image", Type: "imageUrl", Value: fmt.Sprintf("%s%s?n=%d", imagesURL, img, i)}}
			} else {
				r.slug = "prompt-expander"
				r.inputs = []client.Input{{ID: "prompt", Type: "text", Value: fmt.Sprintf("lighthouse number %d", i)}}
			}
			if i%9 != 0 {
				r.key = fmt.Sprintf("scaleout-%03d", i)
				keyed = append(keyed, i)
			}
		}
		reqs = append(reqs, r)
	}
	return reqs
}

type scaleoutResult struct {
	runID    string
	replayed bool
	err      error
}

func scaleoutSubmit(ctx context.Context, c *client.Client, r scaleoutReq) scaleoutResult {
	p := &client.RunCreateParams{Inputs: r.inputs, Mode: "async"}
	var opts []client.RequestOption
	if r.header {
		opts = append(opts, client.WithIdempotencyKey(r.key))
	} else {
		p.IdempotencyKey = r.key
	}
	if r.key == "" {
		opts = nil
	}
	run, err := c.Runs.Create(ctx, r.slug, p, opts...)
	if err != nil {
		return scaleoutResult{err: err}
	}
	return scaleoutResult{runID: run.RunID, replayed: run.Response.Replayed()}
}

// scaleoutImageServer serves input images on 127.0.0.1; /held.jpg answers
// only once release is called.
type scaleoutImageServer struct {
	*httptest.Server
	held        chan struct{}
	releaseOnce sync.Once
}

func (s *scaleoutImageServer) release() { s.releaseOnce.Do(func() { close(s.held) }) }

func scaleoutImages(t *testing.T) *scaleoutImageServer {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{R: uint8(40 + x*2), G: uint8(60 + y*3), B: uint8(90 + (x+y)%50), A: 255})
		}
	}
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}))
	data := buf.Bytes()

	s := &scaleoutImageServer{held: make(chan struct{})}
	serve := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write(data)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/portrait.jpg", serve)
	mux.HandleFunc("/held.jpg", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-s.held:
			serve(w, r)
		case <-r.Context().Done(): // the fetching worker died
		}
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(func() {
		s.release()
		s.Close()
	})
	return s
}

// scaleoutEnv is the test's environment without FLORA_ variables, so that
// only the flags given configure the processes.
func scaleoutEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FLORA_") {
			env = append(env, kv)
		}
	}
	return append(env, "FLORA_LOG_LEVEL=info")
}

func scaleoutAdmin(t *testing.T, bin string, out any, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = scaleoutEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	require.NoError(t, err, "florad %s: %s", strings.Join(args[:2], " "), stderr.String())
	require.NoError(t, json.Unmarshal(stdout, out), "florad %s printed %s", strings.Join(args[:2], " "), stdout)
}

// scaleoutProc is one running florad process.
type scaleoutProc struct {
	*childProc
	name string
	logs *scaleoutLog
}

func scaleoutStart(t *testing.T, bin, name string, args ...string) *scaleoutProc {
	t.Helper()
	p := &scaleoutProc{name: name, logs: newScaleoutLog()}
	cmd := exec.Command(bin, args...)
	cmd.Env = scaleoutEnv()
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	p.childProc = startChild(t, cmd, func() string { return p.name + " output:\n" + p.logs.String() })
	return p
}

// wait waits for the process to exit and returns Wait's error.
func (p *scaleoutProc) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s", p.name, timeout)
		return nil
	}
}

// waitForLog waits until the process has written s.
func (p *scaleoutProc) waitForLog(t *testing.T, s string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		out, changed := p.logs.snapshot()
		if strings.Contains(out, s) {
			return out
		}
		select {
		case <-changed:
		case <-p.done:
			t.Fatalf("%s exited (%v) before writing %q:\n%s", p.name, p.err, s, p.logs.String())
		case <-deadline:
			t.Fatalf("%s did not write %q within 30 s:\n%s", p.name, s, out)
		}
	}
}

var scaleoutAddrRE = regexp.MustCompile(`"msg":"florad started","addr":"([^"]+)"`)

// waitForAddr returns the address an API process listens on, from its
// start log line (it was given port 0).
func (p *scaleoutProc) waitForAddr(t *testing.T) string {
	t.Helper()
	m := scaleoutAddrRE.FindStringSubmatch(p.waitForLog(t, `"msg":"florad started"`))
	require.NotNil(t, m, "%s: no address in its start line", p.name)
	return m[1]
}

// scaleoutLog collects a process's output and wakes waiters on each write.
type scaleoutLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newScaleoutLog() *scaleoutLog { return &scaleoutLog{changed: make(chan struct{})} }

func (l *scaleoutLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.changed)
	l.changed = make(chan struct{})
	return l.buf.Write(p)
}

// snapshot returns the output so far and a channel closed at the next write.
func (l *scaleoutLog) snapshot() (string, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String(), l.changed
}

func (l *scaleoutLog) String() string {
	s, _ := l.snapshot()
	return s
}

// scaleoutEventually polls cond every 20 ms until it holds, failing after
// timeout.
func scaleoutEventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // a poll interval, not a wait for a condition
	}
}
