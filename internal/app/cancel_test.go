package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/client"
	"github.com/florad/florad/internal/app"
	"github.com/florad/florad/internal/store"
)

// noWorkers is a setup whose runs are never executed: they stay pending
// for as long as a test needs.
func noWorkers(credits int64) setupOpts {
	return setupOpts{credits: credits, configure: func(c *app.Config) { c.Workers = false }}
}

// TestCancelPendingRun: a pending run ends failed/run_canceled with its
// reservation refunded, and canceling it again changes nothing.
func TestCancelPendingRun(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, noWorkers(0).on(pg))
		ctx := context.Background()
		created, err := b.client.Runs.Create(ctx, "portrait-enhancer", portraitRun(b.imageURL("portrait.png")))
		require.NoError(t, err)
		require.Equal(t, int64(startCredits-5), b.balance(t, b.wsID))

		canceled, err := b.client.Runs.Cancel(ctx, "portrait-enhancer", created.RunID)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, canceled.Response.StatusCode)
		require.Equal(t, client.StatusFailed, canceled.Status)
		require.Equal(t, "run_canceled", canceled.ErrorCode)
		require.NotEmpty(t, canceled.ErrorMessage)
		require.Zero(t, canceled.Progress)
		require.NotNil(t, canceled.CompletedAt)
		require.Nil(t, canceled.ChargedCredits, "a canceled run is not charged")
		require.Empty(t, canceled.Outputs)

		polled, err := b.client.Runs.Get(ctx, "portrait-enhancer", created.RunID)
		require.NoError(t, err)
		b.requireSameRun(t, canceled, polled)

		// The money: back where it was, as the ledger and the API both say.
		require.Equal(t, int64(startCredits), b.balance(t, b.wsID))
		require.Equal(t, 1, b.countLedger(t, b.wsID, store.LedgerRefund))
		b.requireLedgerExplainsBalance(t, b.wsID)
		ws, err := b.client.Workspace(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(startCredits), ws.CreditBalance)

		// Again: the same run, unchanged, still 200, no second refund.
		again, err := b.client.Runs.Cancel(ctx, "portrait-enhancer", created.RunID)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, again.Response.StatusCode)
		b.requireSameRun(t, canceled, again)
		require.Equal(t, 1, b.countLedger(t, b.wsID, store.LedgerRefund))
		require.Equal(t, int64(startCredits), b.balance(t, b.wsID))

		// Its events end with run.failed.
		s, err := b.client.Runs.Events(ctx, "portrait-enhancer", created.RunID, "", client.WithQuery("last_event_id", "0"))
		require.NoError(t, err)
		events, err := s.ReadAll()
		require.NoError(t, err)
		require.Equal(t, []string{client.EventCreated, client.EventFailed}, types(events))
		final, err := events[1].Run()
		require.NoError(t, err)
		b.requireSameRun(t, canceled, final)
	})
}

// TestCancelConcurrentlyRefundsOnce: many cancels of one run at once all
// answer with the canceled run; the refund happens once.
func TestCancelConcurrentlyRefundsOnce(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, noWorkers(0).on(pg))
		ctx := context.Background()
		created, err := b.client.Runs.Create(ctx, "prompt-expander", promptRun("a kite"))
		require.NoError(t, err)

		const n = 10
		var wg sync.WaitGroup
		results := make([]*client.Run, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { results[i], errs[i] = b.client.Runs.Cancel(ctx, "prompt-expander", created.RunID) })
		}
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i])
			require.Equal(t, client.StatusFailed, results[i].Status)
			require.Equal(t, "run_canceled", results[i].ErrorCode)
			require.Equal(t, results[0].CompletedAt, results[i].CompletedAt, "one cancellation, seen by all")
		}
		require.Equal(t, 1, b.countLedger(t, b.wsID, store.LedgerRefund))
		require.Equal(t, int64(startCredits), b.balance(t, b.wsID))
		b.requireLedgerExplainsBalance(t, b.wsID)
	})
}

// TestCancelEndedRunIsUnchanged: canceling a completed run returns it as
// it is, with 200, and refunds nothing.
func TestCancelEndedRunIsUnchanged(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{postgres: pg})
		ctx := context.Background()
		created, err := b.client.Runs.Create(ctx, "prompt-expander", promptRun("a lamp"))
		require.NoError(t, err)
		done := b.wait(t, b.client, "prompt-expander", created.RunID)
		require.Equal(t, client.StatusCompleted, done.Status)

		after, err := b.client.Runs.Cancel(ctx, "prompt-expander", created.RunID)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, after.Response.StatusCode)
		b.requireSameRun(t, done, after)
		require.Zero(t, b.countLedger(t, b.wsID, store.LedgerRefund))
		require.Equal(t, int64(startCredits-1), b.balance(t, b.wsID))
	})
}

// TestCancelNotFound: another workspace's run, an unknown run and a run
// named under the wrong technique are all 404, and nothing changes.
func TestCancelNotFound(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, noWorkers(0).on(pg))
		ctx := context.Background()
		created, err := b.client.Runs.Create(ctx, "prompt-expander", promptRun("a tree"))
		require.NoError(t, err)

		otherWS, _, otherKey := b.newWorkspace(t, 10)
		other := b.newClient(otherKey)
		_, err = other.Runs.Cancel(ctx, "prompt-expander", created.RunID)
		apiError(t, err, http.StatusNotFound, "not_found")
		_, err = b.client.Runs.Cancel(ctx, "prompt-expander", "run_00000000000000000000000000")
		apiError(t, err, http.StatusNotFound, "not_found")
		_, err = b.client.Runs.Cancel(ctx, "portrait-enhancer", created.RunID)
		apiError(t, err, http.StatusNotFound, "not_found")
		_, err = b.client.Runs.Cancel(ctx, "no-such-technique", created.RunID)
		apiError(t, err, http.StatusNotFound, "not_found")
		_, err = b.newClient("").Runs.Cancel(ctx, "prompt-expander", created.RunID)
		apiError(t, err, http.StatusUnauthorized, "unauthorized")
		// GET is not the way to cancel.
		_, err = b.client.Do(ctx, http.MethodGet, "/api/v1/techniques/prompt-expander/runs/"+created.RunID+"/cancel", nil)
		apiError(t, err, http.StatusMethodNotAllowed, "method_not_allowed")

		r, err := b.client.Runs.Get(ctx, "prompt-expander", created.RunID)
		require.NoError(t, err)
		require.Equal(t, client.StatusPending, r.Status)
		require.Equal(t, int64(startCredits-1), b.balance(t, b.wsID))
		require.Equal(t, int64(10), b.balance(t, otherWS))
	})
}

// TestCancelRunningRun: canceling a run whose worker is busy fetching its
// input ends it at once; a stream following it ends with run.failed, the
// webhook says so, and the worker drops the fetch.
func TestCancelRunningRun(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{postgres: pg})
		g := newGatedImages(t)
		hooks := statusHookReceiver(t, http.StatusOK)
		ctx := context.Background()
		p := portraitRun(g.url())
		p.CallbackURL = hooks.hookURL()
		created, err := b.client.Runs.Create(ctx, "portrait-enhancer", p)
		require.NoError(t, err)
		waitSignal(t, g.fetches, "the worker never fetched the gated input")
		r, err := b.client.Runs.Get(ctx, "portrait-enhancer", created.RunID)
		require.NoError(t, err)
		require.Equal(t, client.StatusRunning, r.Status)

		s, err := b.client.Runs.Events(ctx, "portrait-enhancer", created.RunID, "")
		require.NoError(t, err)
		snap, err := s.Next()
		require.NoError(t, err)
		require.Equal(t, client.EventSnapshot, snap.Type)

		canceled, err := b.client.Runs.Cancel(ctx, "portrait-enhancer", created.RunID)
		require.NoError(t, err)
		require.Equal(t, client.StatusFailed, canceled.Status)
		require.Equal(t, "run_canceled", canceled.ErrorCode)
		require.NotNil(t, canceled.StartedAt, "it had started")

		rest, err := s.ReadAll()
		require.NoError(t, err)
		require.Equal(t, []string{client.EventFailed}, types(rest))
		final, err := rest[0].Run()
		require.NoError(t, err)
		b.requireSameRun(t, canceled, final)

		// The worker notices and abandons the fetch it was waiting on.
		waitSignal(t, g.aborted, "the worker kept fetching the input of a canceled run")
		waitSignal(t, hooks.arrived, "no webhook for the canceled run")
		var hook struct {
			Type string `json:"type"`
			Data struct {
				RunID     string `json:"run_id"`
				Status    string `json:"status"`
				ErrorCode string `json:"error_code"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal(hooks.requests()[0].body, &hook))
		require.Equal(t, "run.failed", hook.Type)
		require.Equal(t, created.RunID, hook.Data.RunID)
		require.Equal(t, "failed", hook.Data.Status)
		require.Equal(t, "run_canceled", hook.Data.ErrorCode)

		require.Equal(t, int64(startCredits), b.balance(t, b.wsID))
		b.requireLedgerExplainsBalance(t, b.wsID)
		// Opening the gate now changes nothing: the run stays canceled.
		g.open()
		r, err = b.client.Runs.Get(ctx, "portrait-enhancer", created.RunID)
		require.NoError(t, err)
		b.requireSameRun(t, canceled, r)
	})
}

// TestCancelRacesCompletion cancels runs from the instant they are
// created to after they ended, while workers pick them up: each ends
// exactly one way, and the money follows the way it ended.
func TestCancelRacesCompletion(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{postgres: pg})
		ctx := context.Background()
		const n = 20
		var wg sync.WaitGroup
		ids := make([]string, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				r, err := b.client.Runs.Create(ctx, "prompt-expander", promptRun("race "+strconv.Itoa(i)))
				if err != nil {
					errs[i] = err
					return
				}
				ids[i] = r.RunID
				// Spread over the time a worker takes to pick a run up and
				// finish it, so cancels land before, during and after.
				time.Sleep(time.Duration(i) * 25 * time.Millisecond)
				_, errs[i] = b.client.Runs.Cancel(ctx, "prompt-expander", r.RunID)
			})
		}
		wg.Wait()
		completed := 0
		for i := range n {
			require.NoError(t, errs[i])
			r := b.wait(t, b.client, "prompt-expander", ids[i])
			switch r.Status {
			case client.StatusCompleted:
				completed++
				require.NotNil(t, r.ChargedCredits)
			case client.StatusFailed:
				require.Equal(t, "run_canceled", r.ErrorCode)
			}
		}
		t.Logf("%d of %d runs completed before their cancel", completed, n)
		require.Equal(t, int64(startCredits-completed), b.balance(t, b.wsID))
		require.Equal(t, n-completed, b.countLedger(t, b.wsID, store.LedgerRefund))
		require.Equal(t, completed, b.countLedger(t, b.wsID, store.LedgerCharge))
		b.requireLedgerExplainsBalance(t, b.wsID)
	})
}

// slowTranscode is a technique whose one step re-encodes a whole video
// with x264's slowest preset: long enough to be canceled mid-way. Its crf
// marks its ffmpeg among the ones other tests start, so tests that may
// run it at the same time each give their own (slowTranscodeWith).
const slowTranscode = `slug: slow-transcode
name: Slow Transcode
description: Re-encodes a video slowly, for the cancellation test.
credits: 7
inputs:
  - id: input_video
    name: Input Video
    type: videoUrl
outputs:
  - id: output_video
    name: Output Video
    type: videoUrl
    from: steps.transcode.video
steps:
  - id: transcode
    model: video.transcode
    inputs:
      video: inputs.input_video
    params:
      preset: veryslow
      crf: 19
      audio: false
`

// Crfs of slowTranscode, one for each of its uses that may overlap.
const (
	crfConsole = 19
	crfSQLite  = 20
	crfPG      = 21
)

// slowTranscodeWith is slowTranscode with the given crf.
func slowTranscodeWith(crf int) string {
	return strings.Replace(slowTranscode, "crf: 19", "crf: "+strconv.Itoa(crf), 1)
}

// TestCancelDuringVideoStep cancels a run while ffmpeg transcodes its
// video: the run ends at once, refunded, and the ffmpeg child and its
// scratch folder are gone within moments, not when the encode would have
// finished.
func TestCancelDuringVideoStep(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		for _, bin := range []string{"ffmpeg", "ffprobe"} {
			if _, err := exec.LookPath(bin); err != nil {
				t.Skipf("%s is not installed; the video models need it", bin)
			}
		}
		// 20 s of 640×360: about a second to make as MPEG-4 part 2, and tens
		// of seconds to re-encode with x264's veryslow.
		video := filepath.Join(t.TempDir(), "long.mp4")
		made := time.Now()
		out, err := exec.CommandContext(t.Context(), "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
			"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=20",
			"-c:v", "mpeg4", "-q:v", "12", video).CombinedOutput()
		require.NoError(t, err, "%s", out)
		t.Logf("video made in %v", time.Since(made).Round(time.Millisecond))
		data, err := os.ReadFile(video)
		require.NoError(t, err)
		videos := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "video/mp4")
			_, _ = w.Write(data)
		}))
		t.Cleanup(videos.Close)

		b := setupWith(t, setupOpts{postgres: pg})
		ctx := context.Background()
		crf := crfSQLite
		if pg {
			crf = crfPG
		}
		_, _, err = b.app.Techniques.Apply(ctx, b.app.Store, b.wsID, "slow-transcode.yaml", []byte(slowTranscodeWith(crf)))
		require.NoError(t, err)
		createdAt := time.Now()
		created, err := b.client.Runs.Create(ctx, "slow-transcode", &client.RunCreateParams{
			Inputs: []client.Input{{ID: "input_video", Type: "videoUrl", Value: videos.URL + "/long.mp4"}}})
		require.NoError(t, err)
		require.Equal(t, int64(startCredits-7), b.balance(t, b.wsID))

		// Wait for the encoder itself: a child of this process running our
		// technique's parameters, and for the run to say it is under way.
		var encoder ffmpegProc
		waitFor(t, patience, func() bool {
			procs := slowTranscodeChildren(t, crf)
			if len(procs) == 0 {
				return false
			}
			encoder = procs[0]
			return true
		}, "the transcode's ffmpeg never started")
		t.Logf("encoder started %v after the run was created", time.Since(createdAt).Round(time.Millisecond))
		r, err := b.client.Runs.Get(ctx, "slow-transcode", created.RunID)
		require.NoError(t, err)
		require.Equal(t, client.StatusRunning, r.Status)
		require.NotEmpty(t, encoder.scratch, "ffmpeg's output path names its scratch folder: %q", encoder.args)

		s, err := b.client.Runs.Events(ctx, "slow-transcode", created.RunID, "")
		require.NoError(t, err)
		defer s.Close()
		_, err = s.Next()
		require.NoError(t, err)

		start := time.Now()
		canceled, err := b.client.Runs.Cancel(ctx, "slow-transcode", created.RunID)
		require.NoError(t, err)
		require.Equal(t, client.StatusFailed, canceled.Status)
		require.Equal(t, "run_canceled", canceled.ErrorCode)
		require.Equal(t, int64(startCredits), b.balance(t, b.wsID), "refunded")
		b.requireLedgerExplainsBalance(t, b.wsID)

		// Followers learn at once.
		for {
			e, err := s.Next()
			require.NoError(t, err)
			if e.Final() {
				require.Equal(t, client.EventFailed, e.Type)
				break
			}
		}

		// The worker notices within its poll interval, kills the encoder and
		// reaps it; a few seconds allow for a loaded machine. The encode
		// itself would run for tens of seconds more.
		waitFor(t, 10*time.Second, func() bool { return !processExists(encoder.pid) },
			"the canceled run's ffmpeg is still running (or was never reaped)")
		t.Logf("ffmpeg gone %v after the cancel", time.Since(start).Round(time.Millisecond))
		require.Empty(t, slowTranscodeChildren(t, crf), "no encoder of this run may remain")
		require.ErrorIs(t, syscall.Kill(-encoder.pid, 0), syscall.ESRCH, "ffmpeg's process group still has members")
		waitFor(t, 5*time.Second, func() bool {
			_, err := os.Stat(encoder.scratch)
			return errors.Is(err, os.ErrNotExist)
		}, "the scratch folder of the canceled step was left behind")

		// Nothing the stopped step did afterwards changed the run.
		r, err = b.client.Runs.Get(ctx, "slow-transcode", created.RunID)
		require.NoError(t, err)
		b.requireSameRun(t, canceled, r)
		require.Equal(t, int64(startCredits), b.balance(t, b.wsID))
		s2, err := b.client.Runs.Events(ctx, "slow-transcode", created.RunID, "", client.WithQuery("last_event_id", "0"))
		require.NoError(t, err)
		all, err := s2.ReadAll()
		require.NoError(t, err)
		require.NotContains(t, types(all), client.EventCompleted)
		require.NotContains(t, types(all), client.EventOutput)
		require.Equal(t, client.EventFailed, all[len(all)-1].Type)
	})
}

type ffmpegProc struct {
	pid     int
	args    []string
	scratch string // the folder of its output file
}

// slowTranscodeChildren lists the ffmpeg processes this test process
// started for slowTranscodeWith(crf) (found by its parameters).
func slowTranscodeChildren(t *testing.T, crf int) []ffmpegProc {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	self := strconv.Itoa(os.Getpid())
	var out []ffmpegProc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces, so split
		// after its closing parenthesis.
		s := string(stat)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		rest := strings.Fields(s[end+1:])
		if s[open+1:end] != "ffmpeg" || len(rest) < 2 || rest[1] != self || rest[0] == "Z" {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(bytes.TrimRight(cmdline, "\x00")), "\x00")
		joined := " " + strings.Join(args, " ") + " "
		if !strings.Contains(joined, " -preset veryslow -crf "+strconv.Itoa(crf)+" ") {
			continue
		}
		p := ffmpegProc{pid: pid, args: args}
		if last := args[len(args)-1]; strings.HasPrefix(last, "file:") {
			p.scratch = filepath.Dir(strings.TrimPrefix(last, "file:"))
		}
		out = append(out, p)
	}
	return out
}

// processExists reports whether pid names a process, a zombie included:
// a killed child is gone only once its parent has reaped it.
func processExists(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// TestCancelJustBeforeTheStepEnds cancels a run and lets its step finish
// before the worker notices (it checks every 500 ms): the step's late
// result must not be announced after the run ended, nor make it an
// output the workspace got back its credits for.
func TestCancelJustBeforeTheStepEnds(t *testing.T) {
	t.Parallel()
	onBackends(t, func(t *testing.T, pg bool) {
		b := setupWith(t, setupOpts{postgres: pg})
		g := newGatedImages(t)
		ctx := context.Background()
		created := b.startGatedRun(t, g)
		canceled, err := b.client.Runs.Cancel(ctx, "portrait-enhancer", created.RunID)
		require.NoError(t, err)
		require.Equal(t, "run_canceled", canceled.ErrorCode)
		g.open() // the fetch completes and the step runs to its end

		// Wait for the worker to be done with the run's job.
		waitFor(t, patience, func() bool {
			n, err := b.app.OpenJobs(ctx)
			require.NoError(t, err)
			return n == 0
		}, "the run's job never finished")

		s, err := b.client.Runs.Events(ctx, "portrait-enhancer", created.RunID, "", client.WithQuery("last_event_id", "0"))
		require.NoError(t, err)
		all, err := s.ReadAll()
		require.NoError(t, err)
		requireStreamShape(t, all)
		// Straight from the table too: the stream stops at the final event,
		// so an event stored after it would never show there.
		events, err := b.app.Store.RunEventList(ctx, created.RunID, 0, 10_000)
		require.NoError(t, err)
		var stored []string
		for _, e := range events {
			stored = append(stored, e.Type)
		}
		require.Equal(t, client.EventFailed, stored[len(stored)-1], "stored events: %v", stored)
		require.NotContains(t, stored, client.EventOutput, "an output was recorded for a canceled run")
		require.Equal(t, client.EventFailed, all[len(all)-1].Type, "events: %v", types(all))
		require.NotContains(t, types(all), client.EventOutput, "an output was announced for a canceled run")
		r, err := b.client.Runs.Get(ctx, "portrait-enhancer", created.RunID)
		require.NoError(t, err)
		b.requireSameRun(t, canceled, r)
		require.Equal(t, int64(startCredits), b.balance(t, b.wsID))
	})
}
