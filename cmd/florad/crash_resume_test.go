package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/store"
	"github.com/florad/florad/internal/store/sqlstore"
)

// crashTechnique is three video steps in a chain; the middle one is a slow
// transcode, so the process can be killed while it runs, after the first
// step was recorded.
const crashTechnique = `slug: crash-resume
name: Crash Resume
credits: 7
inputs:
  - {id: clip, name: Clip, type: videoUrl}
outputs:
  - {id: poster, name: Poster, type: imageUrl, from: steps.poster.image}
  - {id: encoded, name: Encoded, type: videoUrl, from: steps.encode.video}
steps:
  - id: cut
    model: video.trim
    inputs: {video: inputs.clip}
    params: {start: 0, duration: 8}
  - id: encode
    model: video.transcode
    inputs: {video: steps.cut.video}
    params: {preset: slow, crf: 20}
  - id: poster
    model: video.poster
    inputs: {video: steps.encode.video}
`

type crashServer struct {
	*childProc
	base   string
	stdout *cliBuffer
}

func startCrashServer(t *testing.T, bin, data string, env ...string) *crashServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "serve", "--data", data, "--addr", addr, "--dev")
	// Downloads and ffmpeg scratch folders of the killed process stay in
	// the test's own folder, removed with it.
	tmp := filepath.Join(filepath.Dir(data), "tmp")
	require.NoError(t, os.MkdirAll(tmp, 0o700))
	cmd.Env = append(append(os.Environ(), "TMPDIR="+tmp), env...)
	out := &cliBuffer{}
	cmd.Stdout = out
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	s := &crashServer{childProc: startChild(t, cmd, nil), base: "http://" + addr, stdout: out}
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"msg":"florad started"`) {
				once.Do(func() { close(started) })
			}
		}
	}()
	select {
	case <-started:
	case <-s.done:
		t.Fatalf("florad exited before starting:\n%s", out)
	case <-time.After(30 * time.Second):
		t.Fatal("florad did not start in 30 s")
	}
	return s
}

func crashRequest(t *testing.T, method, url, key string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// TestCrashResume kills florad with SIGKILL in the middle of a multi-step
// run and starts it again: the run completes, the step finished before the
// crash is not run again, and the workspace is charged once.
func TestCrashResume(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed; the crash test needs a slow video step")
	}
	bin := floradBin
	dir := t.TempDir()
	data := filepath.Join(dir, "data")

	clip := filepath.Join(dir, "clip.mp4")
	gen := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=960x540:rate=30:duration=10",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", clip)
	out, err := gen.CombinedOutput()
	require.NoError(t, err, string(out))
	media := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(media.Close)

	yaml := filepath.Join(dir, "crash.yaml")
	require.NoError(t, os.WriteFile(yaml, []byte(crashTechnique), 0o600))

	srv := startCrashServer(t, bin, data)
	key := regexp.MustCompile(`sk_live_[0-9a-z]+`).FindString(srv.stdout.String())
	require.NotEmpty(t, key, "first start prints the demo key:\n%s", srv.stdout)
	applied, err := exec.Command(bin, "techniques", "apply", yaml, "--data", data, "--json").CombinedOutput()
	require.NoError(t, err, string(applied))

	// The server sees applied techniques within its library refresh.
	var runID string
	deadline := time.Now().Add(15 * time.Second)
	for runID == "" {
		code, body := crashRequest(t, "POST", srv.base+"/api/v1/techniques/crash-resume/runs", key, map[string]any{
			"inputs": []map[string]string{{"id": "clip", "type": "videoUrl", "value": media.URL + "/clip.mp4"}},
			"mode":   "async",
		})
		if code == http.StatusOK {
			runID = body["run_id"].(string)
			break
		}
		require.Equal(t, http.StatusNotFound, code, "%v", body)
		require.True(t, time.Now().Before(deadline), "technique never became visible")
		time.Sleep(200 * time.Millisecond)
	}
	pollURL := srv.base + "/api/v1/techniques/crash-resume/runs/" + runID

	// Wait until the first step is recorded and the slow transcode is under
	// way, then kill the process outright. The test reads the step record
	// itself (WAL lets a reader in beside the server).
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "florad.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	defer db.Close()
	deadline = time.Now().Add(90 * time.Second)
	for {
		_, body := crashRequest(t, "GET", pollURL, key, nil)
		require.NotEqual(t, "failed", body["status"], "%v", body)
		require.NotEqual(t, "completed", body["status"], "the transcode finished before the kill; make it slower")
		var cut int
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM run_steps WHERE run_id = ? AND step_id = 'cut'`, runID).Scan(&cut))
		if cut == 1 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the first step never finished: %v", body)
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGKILL))
	<-srv.done

	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, sqlstore.SQLiteConfig{Path: filepath.Join(data, "florad.db")})
	require.NoError(t, err)
	before, err := st.RunStepList(ctx, runID)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	finishedBefore := map[string]int64{}
	for _, s := range before {
		finishedBefore[s.StepID] = s.FinishedAt
	}
	require.Contains(t, finishedBefore, "cut")
	require.NotContains(t, finishedBefore, "poster", "killed too late: the run had finished its steps")

	// Start again on the same data: the run resumes and completes.
	srv2 := startCrashServer(t, bin, data)
	require.NotContains(t, srv2.stdout.String(), "sk_live_", "a second start must not make a new demo key")
	var final map[string]any
	deadline = time.Now().Add(120 * time.Second)
	for {
		_, final = crashRequest(t, "GET", srv2.base+"/api/v1/techniques/crash-resume/runs/"+runID, key, nil)
		if final["status"] == "completed" || final["status"] == "failed" {
			break
		}
		require.True(t, time.Now().Before(deadline), "the run did not complete after restart: %v", final)
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, "completed", final["status"], "%v", final)
	require.EqualValues(t, 7, final["charged_credits"])
	outputs := final["outputs"].([]any)
	require.Len(t, outputs, 2)
	for _, o := range outputs {
		resp, err := http.Get(o.(map[string]any)["url"].(string))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	require.NoError(t, srv2.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-srv2.done:
	case <-time.After(30 * time.Second):
		t.Fatal("florad did not stop on SIGTERM")
	}

	st, err = sqlstore.OpenSQLite(ctx, sqlstore.SQLiteConfig{Path: filepath.Join(data, "florad.db")})
	require.NoError(t, err)
	defer st.Close()
	after, err := st.RunStepList(ctx, runID)
	require.NoError(t, err)
	require.Len(t, after, 3)
	for _, s := range after {
		if at, ok := finishedBefore[s.StepID]; ok {
			require.Equal(t, at, s.FinishedAt, "step %s ran again after the restart", s.StepID)
		}
	}
	run, err := st.RunGetByID(ctx, runID)
	require.NoError(t, err)
	ledger, err := st.LedgerList(ctx, run.WorkspaceID)
	require.NoError(t, err)
	kinds := map[string]int{}
	var sum int64
	for _, e := range ledger {
		sum += e.Amount
		if e.RunID == runID {
			kinds[e.Kind]++
		}
	}
	require.Equal(t, map[string]int{store.LedgerReserve: 1, store.LedgerCharge: 1}, kinds)
	ws, err := st.WorkspaceGet(ctx, run.WorkspaceID)
	require.NoError(t, err)
	require.Equal(t, ws.Balance, sum, "the ledger sums to the balance")
	require.EqualValues(t, 1000-7, ws.Balance)
}
