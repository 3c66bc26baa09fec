package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/florad/florad/internal/app"
)

// The tests run the real CLI, this test binary re-executed as flora, as
// a child process against a real florad (the whole app: SQLite, River
// workers, HTTP) listening on a loopback port.

func TestMain(m *testing.M) {
	if os.Getenv("FLORA_CLI_TEST_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// server is a running florad and a workspace's key on it.
type server struct {
	baseURL string
	key     string
	app     *app.App
}

func startFlorad(t *testing.T, credits int64, configure func(*app.Config)) *server {
	t.Helper()
	cfg := app.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Workers: true, SQLiteSynchronous: "NORMAL",
		ShutdownTimeout: 10 * time.Second}
	if configure != nil {
		configure(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg)
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	w, err := a.Workspaces.Create(ctx, "CLI "+t.Name(), credits)
	require.NoError(t, err)
	k, err := a.Workspaces.CreateKey(ctx, w.ID)
	require.NoError(t, err)
	return &server{baseURL: "http://" + a.Addr() + "/api/v1", key: k.Key, app: a}
}

// result is how one flora invocation ended.
type result struct {
	code   int
	stdout string
	stderr string
}

// flora runs the CLI with the server's key and base URL (env overrides or
// removes them: "NAME=" unsets).
func (s *server) flora(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := s.command(t, env, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func (s *server) command(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	base := []string{"FLORA_CLI_TEST_AS_MAIN=1", "FLORA_API_KEY=" + s.key, "FLORA_BASE_URL=" + s.baseURL,
		"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	cmd.Env = append(base, env...)
	return cmd
}

func writePNG(t *testing.T, dir string) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), 128, 255})
		}
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	path := filepath.Join(dir, "photo.png")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o600))
	return path
}

// A local file is uploaded as an asset, the run is followed to its end and
// its output downloaded; florad has no --dev and reaches no network.
func TestRunUploadWaitDownload(t *testing.T) {
	t.Parallel()
	s := startFlorad(t, 100, nil)
	dir := t.TempDir()
	photo := writePNG(t, dir)
	out := filepath.Join(dir, "out")

	r := s.flora(t, nil, "run", "portrait-enhancer", "--input", "input_image=@"+photo, "--download", out, "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var got struct {
		RunID      string            `json:"run_id"`
		Status     string            `json:"status"`
		Outputs    []map[string]any  `json:"outputs"`
		Downloaded map[string]string `json:"downloaded"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got), r.stdout)
	require.Equal(t, "completed", got.Status)
	require.Len(t, got.Outputs, 1)
	path := got.Downloaded["output_image"]
	require.Equal(t, filepath.Join(out, "output_image.jpg"), path)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	cfg, format, err := image.DecodeConfig(f)
	require.NoError(t, err)
	require.Equal(t, "jpeg", format)
	require.Equal(t, 128, cfg.Width, "2x upscale of the uploaded 64 px photo")

	// The human form draws the progress bar on stderr, never on stdout.
	r = s.flora(t, nil, "run", "portrait-enhancer", "--input", "input_image=@"+photo, "--wait")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stderr, "uploaded "+photo+" as asset_")
	require.Contains(t, r.stderr, "[##############################] 100% completed")
	require.NotContains(t, r.stdout, "[#")
	require.Contains(t, r.stdout, "status    completed (100%)")

	// The runs commands see them.
	r = s.flora(t, nil, "runs", "list", "--json", "--status", "completed")
	require.Equal(t, exitOK, r.code, r.stderr)
	var list struct {
		TechniqueRuns []map[string]any `json:"technique_runs"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &list))
	require.Len(t, list.TechniqueRuns, 2)
	r = s.flora(t, nil, "runs", "list")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, got.RunID)
	r = s.flora(t, nil, "runs", "get", "portrait-enhancer", got.RunID, "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, `"run_id": "`+got.RunID+`"`)
	r = s.flora(t, nil, "runs", "get", "portrait-enhancer", "run_missing")
	require.Equal(t, exitInput, r.code, "not found: %s", r.stderr)
	require.Contains(t, r.stderr, "not_found")
}

func TestTextInputFromFileAndAsync(t *testing.T) {
	t.Parallel()
	s := startFlorad(t, 100, nil)
	dir := t.TempDir()
	prompt := filepath.Join(dir, "prompt.txt")
	require.NoError(t, os.WriteFile(prompt, []byte("a lighthouse at dawn"), 0o600))

	r := s.flora(t, nil, "run", "prompt-expander", "--input", "prompt=@"+prompt, "--download", filepath.Join(dir, "o"))
	require.Equal(t, exitOK, r.code, r.stderr)
	text, err := os.ReadFile(filepath.Join(dir, "o", "expanded_prompt.txt"))
	require.NoError(t, err)
	require.Contains(t, string(text), "lighthouse at dawn")

	// Without --wait: the run id, at once.
	r = s.flora(t, nil, "run", "prompt-expander", "--input", "prompt=a cat", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var run struct {
		RunID  string `json:"run_id"`
		Status string `json:"status"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &run))
	require.Regexp(t, `^run_`, run.RunID)
}

func TestTechniquesWorkspaceDeliveries(t *testing.T) {
	t.Parallel()
	s := startFlorad(t, 42, nil)
	r := s.flora(t, nil, "techniques", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var ts struct {
		Techniques []struct {
			Slug string `json:"slug"`
		} `json:"techniques"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &ts))
	var slugs []string
	for _, x := range ts.Techniques {
		slugs = append(slugs, x.Slug)
	}
	require.Contains(t, slugs, "portrait-enhancer")
	require.Contains(t, slugs, "prompt-expander")
	r = s.flora(t, nil, "techniques")
	require.Equal(t, exitOK, r.code)
	require.Contains(t, r.stdout, "portrait-enhancer")
	require.Contains(t, r.stdout, "input_image:imageUrl")

	r = s.flora(t, nil, "workspace", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var w map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &w))
	require.InDelta(t, 42, w["credit_balance"], 0)
	r = s.flora(t, nil, "workspace")
	require.Contains(t, r.stdout, "credits    42")

	r = s.flora(t, nil, "deliveries", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var d map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &d))
	require.Contains(t, d, "webhook_deliveries")
	r = s.flora(t, nil, "deliveries", "--state", "nonsense")
	require.Equal(t, exitInput, r.code, r.stderr)

	// FLORA_BASE_URL with or without /api/v1.
	r = s.flora(t, []string{"FLORA_BASE_URL=" + strings.TrimSuffix(s.baseURL, "/api/v1")}, "workspace", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
}

// Every documented exit code, each from a real cause.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	s := startFlorad(t, 100, nil)
	poor := startFlorad(t, 0, nil)
	dir := t.TempDir()
	photo := writePNG(t, dir)
	broken := filepath.Join(dir, "broken.png")
	// A PNG signature and then nothing an image decoder can use: accepted
	// as an image/png asset, and the run fails decoding it.
	require.NoError(t, os.WriteFile(broken, append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 600)...), 0o600))

	r := s.flora(t, nil, "run", "portrait-enhancer", "--input", "input_image=@"+broken, "--wait")
	require.Equal(t, exitRunFailed, r.code, r.stderr)
	require.Contains(t, r.stderr, "failed")

	for _, args := range [][]string{{}, {"nonsense"}, {"runs"}, {"run"}, {"run", "portrait-enhancer"},
		{"runs", "get", "only-one"}, {"techniques", "--bogus"}, {"run", "x", "--input", "novalue"}} {
		if len(args) == 0 {
			continue // no arguments prints the usage, exit 0
		}
		r := s.flora(t, nil, args...)
		require.Equal(t, exitUsage, r.code, "%v: %s", args, r.stderr)
	}
	r = s.flora(t, nil)
	require.Equal(t, exitOK, r.code)
	require.Contains(t, r.stdout, "Exit codes")

	r = s.flora(t, []string{"FLORA_API_KEY="}, "workspace")
	require.Equal(t, exitAuth, r.code, r.stderr)
	require.Contains(t, r.stderr, "FLORA_API_KEY")
	r = s.flora(t, []string{"FLORA_API_KEY=sk_live_wrong"}, "workspace")
	require.Equal(t, exitAuth, r.code, r.stderr)

	r = s.flora(t, nil, "run", "portrait-enhancer", "--input", "input_image=@"+filepath.Join(dir, "missing.png"))
	require.Equal(t, exitInput, r.code, r.stderr)
	r = s.flora(t, nil, "run", "portrait-enhancer", "--input", "nope=@"+photo)
	require.Equal(t, exitInput, r.code, r.stderr)
	require.Contains(t, r.stderr, "input_image")
	r = s.flora(t, nil, "run", "no-such-technique", "--input", "a=b")
	require.Equal(t, exitInput, r.code, r.stderr)
	// A refused local URL says how --dev allows it.
	r = s.flora(t, nil, "run", "portrait-enhancer", "--input", "input_image=http://127.0.0.1:1/a.png")
	require.Equal(t, exitInput, r.code, r.stderr)
	require.Contains(t, r.stderr, "--dev")

	r = poor.flora(t, nil, "run", "portrait-enhancer", "--input", "input_image=@"+photo)
	require.Equal(t, exitCredits, r.code, r.stderr)
	require.Contains(t, r.stderr, "insufficient_credits")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + l.Addr().String() + "/api/v1"
	require.NoError(t, l.Close())
	r = s.flora(t, []string{"FLORA_BASE_URL=" + closed}, "techniques")
	require.Equal(t, exitServer, r.code, r.stderr)
}

// SIGINT while following a run ends with 130 and says the run goes on.
func TestInterrupted(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var pngData bytes.Buffer
	require.NoError(t, png.Encode(&pngData, image.NewGray(image.Rect(0, 0, 8, 8))))
	// The input's host answers only when the test is over, so the run
	// stays running while the CLI follows it.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		_, _ = w.Write(pngData.Bytes())
	}))
	defer slow.Close()
	defer close(release)
	s := startFlorad(t, 100, func(c *app.Config) { c.Dev = true })

	cmd := s.command(t, nil, "run", "portrait-enhancer", "--input", "input_image="+slow.URL+"/p.png", "--wait")
	var out, errb syncWriter
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(errb.String(), "running") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	require.Contains(t, errb.String(), "running", "the bar shows the run running")
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	require.True(t, ok, "%v", err)
	require.Equal(t, exitInterrupted, ee.ExitCode(), errb.String())
	require.Contains(t, errb.String(), "interrupted; the run goes on: flora runs get portrait-enhancer run_")
}

// syncWriter is a buffer safe to read while a child process writes it.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// flora runs cancel ends a run that is still working, refunded.
func TestCancel(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	s := startFlorad(t, 100, func(c *app.Config) { c.Dev = true })

	r := s.flora(t, nil, "run", "portrait-enhancer", "--input", "input_image="+slow.URL+"/p.png", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var run struct {
		RunID string `json:"run_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &run))

	r = s.flora(t, nil, "runs", "cancel", "portrait-enhancer", run.RunID, "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var canceled struct {
		Status    string `json:"status"`
		ErrorCode string `json:"error_code"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &canceled), r.stdout)
	require.Equal(t, "failed", canceled.Status)
	require.Equal(t, "run_canceled", canceled.ErrorCode)

	r = s.flora(t, nil, "workspace", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var w map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &w))
	require.InDelta(t, 100, w["credit_balance"], 0, "refunded")

	r = s.flora(t, nil, "runs", "cancel", "portrait-enhancer", "run_missing")
	require.Equal(t, exitInput, r.code, r.stderr)
}
